"""The page's first view offline (issue 22): the shipped base map, every demo image marked.

Every request the browser makes outside the app is aborted (Playwright routes),
as on a machine without a network. The catalog is the embedded demo's, built
once into ``$OAM_PREVIEW_DEMO_DIR`` or the user's cache (a few minutes the first
time) and served over HTTP ranges as ``make serve`` does.
"""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from PIL import Image as PILImage
from playwright.sync_api import expect

from ..support.apps import serve_app
from ..support.page import ROW, offline_page, wait_js

pytestmark = pytest.mark.browser

LAND = (0xF3, 0xF0, 0xE7)  # app.js OFFLINE_STYLE.land
SEA = (0xCD, 0xDF, 0xE8)  # app.css body.basemap-offline #map
VISIBLE_IDS = """ids => {
  const m = oamPreview.map, box = m.getContainer().getBoundingClientRect();
  const inside = r => r.width > 0 && r.left >= box.left && r.right <= box.right
    && r.top >= box.top && r.bottom <= box.bottom;
  return ids.filter(id => {
    const node = [...document.querySelectorAll('.fp-marker')]
      .find(n => (n.dataset.ids || '').split(' ').includes(id));
    if (node) return inside(node.getBoundingClientRect());
    const path = oamPreview.footprints.byId.get(id);
    if (!path) return false;
    const b = path.getBounds();
    const nw = m.latLngToContainerPoint(b.getNorthWest()), se = m.latLngToContainerPoint(b.getSouthEast());
    return se.x - nw.x >= 10 && nw.x >= 0 && nw.y >= 0 && se.x <= box.width && se.y <= box.height;
  });
}"""


def map_pixels(page) -> np.ndarray:
    png = page.locator("#map").screenshot()
    return np.asarray(PILImage.open(io.BytesIO(png)).convert("RGB")).astype(int)


def share_of(pixels: np.ndarray, color: tuple[int, int, int], tolerance: int = 6) -> float:
    return float((np.abs(pixels - np.array(color)).max(axis=2) <= tolerance).mean())


def wait_first_view(page) -> None:
    expect(page.locator("#count")).to_contain_text("match")
    wait_js(page, "() => performance.getEntriesByName('oam:basemap-drawn').length > 0")
    wait_js(page, "() => performance.getEntriesByName('oam:first-view').length > 0")
    page.wait_for_timeout(400)  # markers of the fitted zoom drawn


def expect_offline_base_map(page) -> None:
    expect(page.locator("#basemap-status")).to_have_attribute("data-kind", "offline")
    expect(page.locator("#basemap-status")).to_contain_text("Natural Earth")
    pixels = map_pixels(page)
    # Land and sea both drawn: not the empty background of a page without a base map.
    assert share_of(pixels, LAND) > 0.05, share_of(pixels, LAND)
    assert share_of(pixels, SEA) > 0.05, share_of(pixels, SEA)


def test_first_view_offline_shows_the_world_and_every_image(
    browser_demo, browser_chromium, browser_artifacts
):
    catalog, ids = browser_demo
    with serve_app(catalog, basemap="") as live:
        context, page = offline_page(browser_chromium, live)
        try:
            page.goto(live.page_url)
            wait_first_view(page)
            expect_offline_base_map(page)
            assert sorted(page.evaluate(VISIBLE_IDS, ids)) == sorted(ids)
            # Coverage at a glance: a density disc per image at this zoom.
            assert page.evaluate("() => oamPreview.markers.density.getLayers().length") == len(ids)
            # The view is fitted to the images, not the whole world.
            assert page.evaluate("() => oamPreview.map.getZoom()") >= 2
            page.screenshot(path=str(browser_artifacts / "offline-first-view.png"))

            # Hover: marker -> row, row -> marker.
            marker = page.locator(".fp-marker[data-id='port-au-prince-stripped']")
            row = page.locator(f"{ROW}[data-id='port-au-prince-stripped']")
            marker.hover()
            expect(row).to_have_class(lambda_has("hover"))
            page.locator(f"{ROW}[data-id='dhaka-landcover']").hover()
            expect(page.locator(".fp-marker[data-id='dhaka-landcover']")).to_have_class(lambda_has("hover"))
            expect(marker).not_to_have_class(lambda_has("hover"))

            # A click on a marker selects the image in the list.
            marker.click()
            expect(row).to_have_attribute("aria-selected", "true")
            expect(page.locator(".card[data-id='port-au-prince-stripped']")).to_be_visible()
            assert "sel=port-au-prince-stripped" in page.url
            assert page.blocked == []  # the page asked nothing of the outside world
            assert page.probe.console_errors == []
        finally:
            context.close()


def lambda_has(name: str):
    """A class-attribute pattern: ``name`` among the classes."""
    return re.compile(rf"(^|\s){name}(\s|$)")


def test_a_cluster_zooms_to_its_images(browser_demo, browser_chromium):
    catalog, ids = browser_demo
    kathmandu = {i for i in ids if i.startswith("kathmandu")}
    with serve_app(catalog, basemap="") as live:
        context, page = offline_page(browser_chromium, live)
        try:
            page.goto(live.page_url)
            wait_first_view(page)
            # The Beira pair and Lusaka's land cover make a cluster of three too (a cell apart).
            cluster = page.locator(".fp-cluster[data-ids~='kathmandu-aerial']", has_text=str(len(kathmandu)))
            expect(cluster).to_have_count(1)
            assert set(cluster.get_attribute("data-ids").split()) == kathmandu
            zoom = page.evaluate("() => oamPreview.map.getZoom()")
            cluster.click()
            wait_js(page, f"() => oamPreview.map.getZoom() > {zoom + 4}")
            page.wait_for_timeout(800)
            assert page.evaluate("() => oamPreview.markers.density.getLayers().length") == 0
            assert sorted(page.evaluate(VISIBLE_IDS, sorted(kathmandu))) == sorted(kathmandu)
        finally:
            context.close()


def test_a_fragment_or_one_image_decides_the_first_view(browser_demo, browser_chromium):
    catalog, _ = browser_demo
    with serve_app(catalog, basemap="") as live:
        context, page = offline_page(browser_chromium, live)
        try:
            page.goto(live.page_url + "#map=5/10.000000/20.000000")
            expect(page.locator("#count")).to_contain_text("match")
            page.wait_for_timeout(800)
            assert page.evaluate("() => oamPreview.map.getZoom()") == 5
            # One image matches: the first view is that image.
            page.goto("about:blank")
            page.goto(live.page_url + "#q=Nairobi")
            wait_first_view(page)
            bounds = page.evaluate(
                "() => { const b = oamPreview.footprints.byId.get('nairobi-uint16').getBounds(),"
                " m = oamPreview.map; const nw = m.latLngToContainerPoint(b.getNorthWest()),"
                " se = m.latLngToContainerPoint(b.getSouthEast()); return [nw.x, nw.y, se.x, se.y,"
                " m.getSize().x, m.getSize().y]; }"
            )
            x0, y0, x1, y1, width, height = bounds
            assert x0 >= 30 and y0 >= 30 and x1 <= width - 30 and y1 <= height - 30, bounds
            assert (x1 - x0) > width / 3 or (y1 - y0) > height / 3, bounds
        finally:
            context.close()


def test_a_failing_remote_base_map_falls_back_to_the_offline_one(browser_demo, browser_chromium):
    catalog, ids = browser_demo
    remote = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    with serve_app(catalog, basemap=remote) as live:
        context, page = offline_page(browser_chromium, live)
        try:
            page.goto(live.page_url)
            wait_first_view(page)
            expect_offline_base_map(page)
            expect(page.locator("#basemap-status")).to_contain_text("could not be loaded")
            assert page.locator(".basemap-remote").count() == 0  # no broken tiles left
            assert any("tile.openstreetmap.org" in url for url in page.blocked)
            assert sorted(page.evaluate(VISIBLE_IDS, ids)) == sorted(ids)
            # Only the blocked tiles' failures reach the console.
            assert all("ERR_FAILED" in e for e in page.probe.console_errors), page.probe.console_errors
        finally:
            context.close()


def test_the_page_names_a_working_remote_base_map(browser_catalog, browser_images, browser_chromium):
    """A remote base map that answers stays, and the corner says whose it is."""
    # "Remote" tiles that load: the app's own thumbnail, as a relative template.
    tile = "api/images/korea-aerial/thumbnail.png?max_size=64&tile={z}-{x}-{y}"
    with serve_app(browser_catalog, images=browser_images, basemap=tile) as live:
        context, page = offline_page(browser_chromium, live)
        try:
            page.goto(live.page_url)
            expect(page.locator("#count")).to_contain_text("match")
            wait_js(page, "() => oamPreview.basemap.loaded >= 2")
            expect(page.locator("#basemap-status")).to_have_attribute("data-kind", "remote")
            expect(page.locator("#basemap-status")).to_contain_text("OpenStreetMap")
            assert page.locator(".basemap-remote").count() == 1
        finally:
            context.close()
