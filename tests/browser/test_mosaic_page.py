"""The page's "all imagery" layer (the mosaic) in real headless Chromium: it follows the filters."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from ..support.page import ROW, by_id, goto, map_view_fragment, wait_js

pytestmark = pytest.mark.browser


def mosaic_tile_queries(page, host: str) -> list[dict[str, list[str]]]:
    """The queries of the mosaic tiles the page fetched and got a 200 for."""
    return [
        parse_qs(urlsplit(url).query)
        for status, url in page.probe.responses
        if status == 200 and url.startswith(host) and "/api/mosaic/tiles/" in url
    ]


def wait_mosaic_tiles(page, host: str, check) -> None:
    """Wait until a 200 mosaic tile whose query passes ``check`` has arrived."""
    for _ in range(200):
        if any(check(q) for q in mosaic_tile_queries(page, host)):
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"no mosaic tile like that: {mosaic_tile_queries(page, host)[-5:]}")


def test_the_all_imagery_layer_follows_the_filters(browser_app, browser_page, browser_artifacts):
    page = browser_page
    korea = by_id(browser_app, "korea-aerial")
    goto(page, browser_app, map_view_fragment(*korea.center, 15))
    page.locator("#f-mosaic").check()
    wait_mosaic_tiles(page, browser_app.host, lambda q: q.get("order") == ["catalog"])
    assert "mosaic=1" in page.url
    expect(page.locator("#mosaic-actions button")).to_have_count(4)  # XYZ, TileJSON, WMTS, TMS
    # Single-image layers stay above the mosaic.
    page.locator(f"{ROW}[data-id='korea-aerial']").click()
    wait_js(page, "() => document.querySelectorAll('.image-layer img').length > 0")
    z_mosaic = page.evaluate("() => +getComputedStyle(document.querySelector('.mosaic-layer')).zIndex")
    z_image = page.evaluate("() => +getComputedStyle(document.querySelector('.image-layer')).zIndex")
    assert z_image > z_mosaic

    page.select_option("#f-order", "best")
    wait_mosaic_tiles(page, browser_app.host, lambda q: q.get("order") == ["best"])
    page.fill("#f-q", "Korea")
    wait_mosaic_tiles(
        page, browser_app.host, lambda q: q.get("q") == ["Korea"] and q.get("order") == ["best"]
    )
    tilejson = page.evaluate("() => oamPreview.mosaic.tilejson.tiles[0]")
    assert "q=Korea" in tilejson and "order=best" in tilejson
    wait_js(page, "() => [...document.querySelectorAll('.mosaic-layer img')].some(i => i.complete)")
    page.wait_for_timeout(500)
    page.screenshot(path=str(browser_artifacts / "mosaic-page.png"))
    assert "order=best" in page.url and "mosaic=1" in page.url

    page.locator("#f-mosaic").uncheck()
    wait_js(page, "() => !document.querySelector('.mosaic-layer')")


def test_a_filter_that_matches_nothing_says_so(browser_app, browser_page):
    page = browser_page
    goto(page, browser_app, "#mosaic=1&q=no-such-image")
    expect(page.locator("#toast")).to_contain_text("No image matches")
