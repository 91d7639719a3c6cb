"""Compare swipe, timeline brush and shareable views (issue 20), in Chromium, offline.

The demo's Beira pair (the same place before and after a flood) is the
compare's two sides; every request outside the app is aborted.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image as PILImage
from playwright.sync_api import expect

from ..support.apps import serve_app
from ..support.page import offline_page, wait_js

pytestmark = pytest.mark.browser

FLOOD = np.array((122, 98, 64))  # synthetic._flooded's water
BEIRA = "#map=16/-19.835000/34.853000"
SIDES_LOADED = """() => ['left', 'right'].every(side => {
  const imgs = [...document.querySelectorAll('.compare-' + side + ' img')];
  return imgs.length > 0 && imgs.filter(i => i.complete && i.naturalWidth > 0).length >= 2;
})"""


def flood_share(page, x0: float, x1: float) -> float:
    """Share of flood-coloured pixels in the map's columns x0..x1 (fractions of its width),
    over the middle fifth of its height (inside the Beira images at zoom 16)."""
    png = page.locator("#map").screenshot()
    pixels = np.asarray(PILImage.open(io.BytesIO(png)).convert("RGB")).astype(int)
    h, w, _ = pixels.shape
    part = pixels[int(h * 0.4) : int(h * 0.6), int(w * x0) : int(w * x1)].reshape(-1, 3)
    # Near the water's colour, and brown (red over green over blue): the crops of the
    # land before are greener than that, whatever their shading.
    near = np.abs(part - FLOOD).max(axis=1) <= 18
    brown = (part[:, 0] - part[:, 1] > 12) & (part[:, 1] - part[:, 2] > 18)
    return float((near & brown).mean())


@pytest.fixture
def demo_live(browser_demo):
    catalog, _ = browser_demo
    with serve_app(catalog, basemap="") as live:
        yield live


def test_swipe_shows_before_and_after_and_a_link_keeps_it(demo_live, browser_chromium, browser_artifacts):
    live = demo_live
    context, page = offline_page(browser_chromium, live)
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    try:
        page.goto(live.page_url + BEIRA)
        expect(page.locator("#count")).to_contain_text("match")
        page.locator("#f-compare").check()
        divider = page.locator(".swipe-divider")
        expect(divider).to_have_attribute("aria-valuenow", "50")
        wait_js(page, SIDES_LOADED)
        page.wait_for_timeout(300)
        split = page.locator("#f-split").input_value()
        assert "2019-02-20" < split < "2019-03-22", split
        # Left of the divider the land before, right of it the flood.
        page.screenshot(path=str(browser_artifacts / "compare.png"))
        shares = flood_share(page, 0.36, 0.48), flood_share(page, 0.52, 0.64)
        assert shares[0] < 0.1 and shares[1] > 0.4, shares
        page.screenshot(path=str(browser_artifacts / "compare.png"))

        # By mouse: the divider to 80 %; the land before shows where the flood was.
        box = page.locator("#map").bounding_box()
        handle = page.locator(".swipe-handle").bounding_box()
        page.mouse.move(handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] / 2, steps=4)
        page.mouse.move(box["x"] + box["width"] * 0.8, box["y"] + box["height"] / 2, steps=4)
        page.mouse.up()
        expect(divider).to_have_attribute("aria-valuenow", "80")
        assert flood_share(page, 0.52, 0.64) < 0.1
        # The map did not pan under the drag.
        assert page.evaluate("() => oamPreview.map.getCenter().lng.toFixed(3)") == "34.853"

        # By keyboard: ten steps left (2 % each), to 60 %.
        divider.focus()
        for _ in range(10):
            page.keyboard.press("ArrowLeft")
        expect(divider).to_have_attribute("aria-valuenow", "60")
        assert flood_share(page, 0.62, 0.74) > 0.4
        assert flood_share(page, 0.40, 0.56) < 0.1

        # Copy link: a new page opens the same compare view.
        wait_js(page, "() => location.hash.includes('swipe=0.6')")
        page.locator("#copy-link").click()
        link = page.evaluate("() => navigator.clipboard.readText()")
        assert "compare=1" in link and f"split={split}" in link and "left=before" in link
        other_context, other = offline_page(browser_chromium, live)
        try:
            other.goto(link)
            expect(other.locator("#f-compare")).to_be_checked()
            expect(other.locator(".swipe-divider")).to_have_attribute("aria-valuenow", "60")
            expect(other.locator("#f-split")).to_have_value(split)
            wait_js(other, SIDES_LOADED)
            other.wait_for_timeout(300)
            assert flood_share(other, 0.62, 0.74) > 0.4
            assert flood_share(other, 0.40, 0.56) < 0.1
            assert other.blocked == []
            assert other.probe.console_errors == []  # no tile asked where no image lies
        finally:
            other_context.close()
        assert page.blocked == []
        assert page.probe.console_errors == []

        # Off again: the divider and both sides go.
        page.locator("#f-compare").uncheck()
        expect(page.locator(".swipe-divider")).to_have_count(0)
        expect(page.locator(".compare-layer")).to_have_count(0)
    finally:
        context.close()


def test_a_side_can_be_a_shown_image(demo_live, browser_chromium):
    live = demo_live
    context, page = offline_page(browser_chromium, live)
    try:
        page.goto(live.page_url + BEIRA + "&sel=beira-after&compare=1&left=image:beira-after&right=before")
        wait_js(page, SIDES_LOADED)
        page.wait_for_timeout(300)
        expect(page.locator("#f-left")).to_have_value("image:beira-after")
        # The flood on the left now, the land before on the right.
        assert flood_share(page, 0.36, 0.48) > 0.4
        assert flood_share(page, 0.52, 0.64) < 0.1
    finally:
        context.close()


def test_the_timeline_brush_filters_the_list_and_the_mosaic(
    demo_live, browser_demo, browser_chromium, browser_artifacts
):
    live = demo_live
    everything = f"{len(browser_demo[1])} images match"
    context, page = offline_page(browser_chromium, live)
    try:
        page.goto(live.page_url)
        expect(page.locator("#count")).to_have_text(everything)
        wait_js(page, "() => oamPreview.timeline.chart.bins.length > 12")
        chart = page.locator(".timeline-chart")
        assert f"{len(browser_demo[1])} images in view" in chart.get_attribute("aria-label")
        bins = page.evaluate(
            "() => oamPreview.timeline.chart.bins.map(b => new Date(b.start).toISOString().slice(0, 7))"
        )
        assert bins[0] == "2019-02" and bins[-1] == "2025-04"
        # Drag from the first month to 2019-12: the Beira pair and the Kathmandu satellite scene.
        box = chart.bounding_box()
        width = box["width"] / len(bins)
        y = box["y"] + box["height"] / 2
        page.mouse.move(box["x"] + width * 0.5, y)
        page.mouse.down()
        page.mouse.move(box["x"] + width * (bins.index("2019-12") + 0.5), y, steps=6)
        page.mouse.up()
        expect(page.locator("#count")).to_have_text("3 images match")
        expect(page.locator("#f-after")).to_have_value("2019-02-01")
        expect(page.locator("#f-before")).to_have_value("2019-12-31")
        assert "after=2019-02-01" in page.url and "before=2019-12-31" in page.url
        page.locator("#f-mosaic").check()
        wait_js(page, "() => oamPreview.mosaic.tilejson !== null")
        tiles = page.evaluate("() => oamPreview.mosaic.tilejson.tiles[0]")
        assert "acquired_after=2019-02-01" in tiles and "acquired_before=2019-12-31" in tiles
        copy = page.locator("#mosaic-actions button", has_text="Copy TileJSON")
        expect(copy).to_be_visible()
        page.screenshot(path=str(browser_artifacts / "timeline.png"))

        # The histogram follows the map: over Beira, two images.
        page.evaluate("() => oamPreview.map.setView([-19.835, 34.853], 14, {animate: false})")
        wait_js(
            page,
            "() => document.querySelector('.timeline-chart').getAttribute('aria-label').startsWith('2 images')",
        )
        assert page.evaluate("() => oamPreview.timeline.chart.bins.length") == 31  # per day, Feb 20 - Mar 22

        page.locator("#timeline-clear").click()
        expect(page.locator("#count")).to_have_text(everything)
        assert page.blocked == []
    finally:
        context.close()


def test_the_divider_follows_a_finger(demo_live, browser_chromium):
    """Touch: Chromium's own touch events (CDP), turned into pointer events by the browser."""
    live = demo_live
    context, page = offline_page(browser_chromium, live, has_touch=True)
    try:
        page.goto(live.page_url + BEIRA + "&compare=1")
        divider = page.locator(".swipe-divider")
        expect(divider).to_have_attribute("aria-valuenow", "50")
        box = page.locator("#map").bounding_box()
        handle = page.locator(".swipe-handle").bounding_box()
        x, y = handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2
        cdp = context.new_cdp_session(page)

        def touch(kind: str, px: float) -> None:
            points = [] if kind == "touchEnd" else [{"x": px, "y": y}]
            cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

        touch("touchStart", x)
        for step in range(1, 9):
            touch("touchMove", x - step * box["width"] * 0.03)
        touch("touchEnd", 0)
        expect(divider).to_have_attribute("aria-valuenow", "26")
        assert page.evaluate("() => oamPreview.map.getCenter().lng.toFixed(3)") == "34.853"
    finally:
        context.close()
