"""The selected image's rendering panel and point values (issue 19, item 5), in Chromium.

The demo's 4-band 16-bit Nairobi scene: one band, a rescale from its own
statistics and a colormap rewrite the layer, its copyable URLs and the page's
link; a click on the image shows the values the point API gives there.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image as PILImage
from playwright.sync_api import expect

from ..support.apps import serve_app
from ..support.page import open_page, wait_js

pytestmark = pytest.mark.browser

IMAGE = "nairobi-uint16"
LAYER_LOADED = """needle => {
  const imgs = [...document.querySelectorAll('.image-layer img')].filter(i => i.src.includes(needle));
  return imgs.length >= 2 && imgs.every(i => i.complete && i.naturalWidth > 0);
}"""


def map_center_pixels(page) -> np.ndarray:
    """The middle third of the map, RGB."""
    png = page.locator("#map").screenshot()
    pixels = np.asarray(PILImage.open(io.BytesIO(png)).convert("RGB")).astype(int)
    h, w, _ = pixels.shape
    return pixels[h // 3 : 2 * h // 3, w // 3 : 2 * w // 3].reshape(-1, 3)


def near_palette(pixels: np.ndarray, palette: np.ndarray, tolerance: float = 12.0) -> float:
    """Share of ``pixels`` within ``tolerance`` (RGB distance) of a colour of ``palette``."""
    distance = np.sqrt(((pixels[:, None, :] - palette[None, ::4, :]) ** 2).sum(axis=2)).min(axis=1)
    return float((distance <= tolerance).mean())


@pytest.fixture
def demo_live(browser_demo):
    catalog, _ = browser_demo
    with serve_app(catalog, basemap="") as live:
        yield live


def test_rendering_panel_rewrites_the_layer_and_its_urls(demo_live, browser_chromium, browser_artifacts):
    live = demo_live
    context, page, probe = open_page(browser_chromium, permissions=["clipboard-read", "clipboard-write"])
    page.probe = probe
    try:
        page.goto(f"{live.page_url}#sel={IMAGE}")
        card = page.locator(f".card[data-id='{IMAGE}']")
        expect(card).to_be_visible()
        wait_js(page, f"() => ({LAYER_LOADED})('/{IMAGE}/tiles/')")
        page.wait_for_timeout(1200)  # the fly-to ends
        stops = page.request.get(f"{live.root}/api/colormaps/viridis").json()["stops"]
        viridis = np.array([rgba[:3] for _, rgba in stops], dtype=int)
        before = near_palette(map_center_pixels(page), viridis)

        card.locator(".render-panel summary").click()
        expect(card.locator(".r-bands")).to_have_text("4 bands")
        wait_js(page, "() => document.querySelectorAll('.r-colormap option').length > 10")

        # A bad value: the server's 400 message is shown where it was typed; the layer stays.
        card.locator(".r-bidx").fill("9")
        expect(card.locator(".r-status")).to_have_class("r-status error")
        expect(card.locator(".r-status")).to_contain_text("band")

        stats = page.request.get(f"{live.root}/api/images/{IMAGE}/statistics?bidx=1").json()["b1"]
        low, high = round(stats["percentile_2"]), round(stats["percentile_98"])
        card.locator(".r-bidx").fill("1")
        card.locator(".r-min").fill(str(low))
        card.locator(".r-max").fill(str(high))
        card.locator(".r-colormap").select_option("viridis")
        expect(card.locator(".r-status")).to_contain_text("colormap_name=viridis")
        query = f"bidx=1&rescale={low},{high}&colormap_name=viridis"
        wait_js(page, f"() => ({LAYER_LOADED})('colormap_name=viridis')")
        page.wait_for_timeout(300)
        after = near_palette(map_center_pixels(page), viridis)
        assert after > 0.8 and after > before + 0.3, (before, after)
        page.screenshot(path=str(browser_artifacts / "render-panel.png"))

        # The copyable URLs carry the rendering; the TileJSON's tiles too.
        card.get_by_role("button", name="Copy XYZ").click()
        xyz = page.evaluate("() => navigator.clipboard.readText()")
        assert "{z}/{x}/{y}" in xyz and "bidx=1" in xyz and "colormap_name=viridis" in xyz
        assert f"rescale={low},{high}" in xyz
        card.get_by_role("button", name="Copy TileJSON").click()
        tilejson = page.request.get(page.evaluate("() => navigator.clipboard.readText()")).json()
        assert "colormap_name=viridis" in tilejson["tiles"][0]
        card.get_by_role("button", name="Copy WMTS").click()
        assert "colormap_name=viridis" in page.evaluate("() => navigator.clipboard.readText()")

        # The link keeps it: a new page shows the same rendering.
        wait_js(page, "() => location.hash.includes('render=')")
        link = page.url
        other_context, other, other_probe = open_page(browser_chromium)
        other.probe = other_probe
        try:
            other.goto(link)
            wait_js(other, f"() => ({LAYER_LOADED})('colormap_name=viridis')")
            expect(other.locator(f".card[data-id='{IMAGE}'] .r-colormap")).to_have_value("viridis")
            expect(other.locator(f".card[data-id='{IMAGE}'] .r-bidx")).to_have_value("1")
            assert other_probe.console_errors == []
        finally:
            other_context.close()

        # Nodata on: its URLs carry nodata=0; off again: gone.
        card.locator(".r-nodata-on").check()
        wait_js(
            page,
            "() => oamPreview.state.selected.get('nairobi-uint16').feature.properties.tiles.includes('nodata=0')",
        )
        card.locator(".r-nodata-on").uncheck()
        wait_js(
            page,
            "() => !oamPreview.state.selected.get('nairobi-uint16').feature.properties.tiles.includes('nodata=')",
        )
        assert query.split("&")[0] in page.evaluate(
            "() => oamPreview.state.selected.get('nairobi-uint16').layer._url"
        )
        # Only the deliberate 400 reached the console.
        assert all("400" in e for e in probe.console_errors), probe.console_errors
    finally:
        context.close()


def test_a_click_on_the_image_shows_its_values(demo_live, browser_chromium):
    live = demo_live
    context, page, probe = open_page(browser_chromium)
    page.probe = probe
    try:
        page.goto(f"{live.page_url}#sel={IMAGE}")
        wait_js(page, f"() => ({LAYER_LOADED})('/{IMAGE}/tiles/')")
        page.wait_for_timeout(1200)
        box = page.locator("#map").bounding_box()
        x, y = box["width"] / 2 + 17, box["height"] / 2 - 11
        page.mouse.click(box["x"] + x, box["y"] + y)
        popup = page.locator(".leaflet-popup .point-value")
        expect(popup).to_be_visible()
        expect(popup.locator("tr")).to_have_count(4)
        lng, lat = page.evaluate(
            "([x, y]) => { const p = oamPreview.map.containerPointToLatLng([x, y]); return [p.lng, p.lat]; }",
            [x, y],
        )
        doc = page.request.get(f"{live.root}/api/images/{IMAGE}/point/{lng:.7f},{lat:.7f}").json()
        shown = [td.strip() for td in popup.locator("td").all_inner_texts()]
        assert shown == [str(v) for v in doc["values"]], (shown, doc)
        expect(popup).to_contain_text("valid pixel")
        # Outside every shown image: no request, no popup change.
        assert probe.console_errors == []
    finally:
        context.close()


def black_share(page) -> float:
    """Share of near-black pixels over the map."""
    png = page.locator("#map").screenshot()
    pixels = np.asarray(PILImage.open(io.BytesIO(png)).convert("RGB")).astype(int)
    return float((pixels.max(axis=2) < 12).mean())


def test_nodata_removes_a_black_jpeg_collar(demo_live, browser_chromium, browser_artifacts):
    """Issues 19 and 33: the demo's warped JPEG upload without a nodata value, then "Nodata
    transparent": nodata=0 and collar=black, so JPEG's near-black fringe goes too."""
    live = demo_live
    context, page, probe = open_page(browser_chromium)
    page.probe = probe
    image = "freetown-collar"
    try:
        page.goto(f"{live.page_url}#sel={image}")
        card = page.locator(f".card[data-id='{image}']")
        wait_js(page, f"() => ({LAYER_LOADED})('/{image}/tiles/')")
        page.wait_for_timeout(1200)  # the fly-to ends
        wait_js(page, f"() => ({LAYER_LOADED})('/{image}/tiles/')")
        before = black_share(page)
        page.screenshot(path=str(browser_artifacts / "nodata-off.png"))
        card.locator(".render-panel summary").click()
        card.locator(".r-nodata-on").check()
        expect(card.locator(".r-status")).to_contain_text("nodata=0")
        wait_js(page, f"() => ({LAYER_LOADED})('collar=black')")
        page.wait_for_timeout(300)
        after = black_share(page)
        page.screenshot(path=str(browser_artifacts / "nodata-on.png"))
        # The collar (a tenth of the view at the fitted zoom) goes, JPEG's near-black fringe with it
        # (nodata=0 alone left a quarter of it).
        assert before > 0.08 and after < before / 50, (before, after)
        assert "nodata=0" in page.url and "collar=black" in page.url
        assert probe.console_errors == []
    finally:
        context.close()
