"""Leaflet in Chromium draws the footprint tiles (static/footprint_tiles.js, protomaps-leaflet).

The page is a test page (footprint_tiles.html beside this file, served by the test's own
route under the map page's Content-Security-Policy) with only the footprint layer on a
grey map: what it paints, where, and what a click there picks are checked against the
small Kathmandu catalog.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from flask import abort, send_from_directory
from PIL import Image as PILImage

from oam_preview import create_app
from oam_preview.web.views import PAGE_CSP

from ..support.apps import served
from ..support.footprint_catalog import small_catalog
from ..support.page import open_page

pytestmark = pytest.mark.browser

HERE = Path(__file__).resolve().parent
TEST_FILES = ("footprint_tiles.html", "footprint_tiles_test.js")
BACKGROUND = 0xDD  # the test page's map background, every channel
VALLEY = (27.70, 85.33)  # inside the drone survey, the city aerial and the country scene
CITY_ONLY = (27.64, 85.40)  # inside the city aerial and the country scene, not the survey
TINY = (27.70002, 85.31015)  # the three 5 m drone flights: one cluster at zoom 12


@pytest.fixture(scope="module")
def footprint_site() -> Iterator[str]:
    app = create_app({"OAM_PREVIEW_BASEMAP_URL": ""}, catalog=small_catalog())

    def test_file(name: str):  # type: ignore[no-untyped-def]
        if name not in TEST_FILES:
            abort(404)
        response = send_from_directory(HERE, name, max_age=0)
        response.headers["Content-Security-Policy"] = PAGE_CSP  # the module must work under the page's
        return response

    app.add_url_rule("/test/<name>", "footprint_test_file", test_file)
    with served(app) as url:
        yield url


def show(browser, site: str, query: str):  # type: ignore[no-untyped-def]
    """The test page at zoom 12 over the valley with filters ``query``, once its tiles are drawn."""
    context, page, probe = open_page(browser, width=640, height=480)
    page.goto(f"{site}/test/footprint_tiles.html?lat={VALLEY[0]}&lng={VALLEY[1]}&zoom=12&{query}")
    page.wait_for_function("() => window.__tiles && window.__tiles.loaded", timeout=20_000)
    return context, page, probe


def pixel(page, shot: np.ndarray, latlng: tuple[float, float]) -> np.ndarray:  # type: ignore[no-untyped-def]
    x, y = page.evaluate(
        "([lat, lng]) => { const p = __tiles.map.latLngToContainerPoint([lat, lng]); return [p.x, p.y]; }",
        list(latlng),
    )
    return shot[round(y), round(x), :3].astype(int)


def picked(page, latlng: tuple[float, float]) -> list[dict]:  # type: ignore[no-untyped-def]
    return page.evaluate(
        "([lat, lng]) => oamFootprintTiles.pick(__tiles.layer, L.latLng(lat, lng))", list(latlng)
    )


def screenshot(page) -> np.ndarray:  # type: ignore[no-untyped-def]
    return np.asarray(PILImage.open(io.BytesIO(page.screenshot())).convert("RGB"))


def test_the_page_draws_every_footprint_and_picks_them(browser_chromium, footprint_site, browser_artifacts):
    context, page, probe = show(browser_chromium, footprint_site, "")
    try:
        shot = screenshot(page)
        PILImage.fromarray(shot).save(browser_artifacts / "footprint-tiles.png")
        valley, city = pixel(page, shot, VALLEY), pixel(page, shot, CITY_ONLY)
        # Three translucent orange fills over the valley, two beside it: darker blue each time.
        assert city[2] < BACKGROUND - 10 and valley[2] < city[2] - 5, (valley, city)
        assert {p.get("id") for p in picked(page, VALLEY)} >= {"valley-uav", "city-aircraft", "country-sat"}
        at_tiny = picked(page, TINY)
        assert {"point_count": 3} in at_tiny, at_tiny
        valley_props = next(p for p in picked(page, VALLEY) if p.get("id") == "valley-uav")
        assert valley_props["title"] == "Image valley-uav" and valley_props["platform"] == "uav"
        tiles = probe.statuses(footprint_site, "/api/footprints/")
        assert tiles and set(tiles) == {200}, probe.responses
        assert probe.console_errors == []
    finally:
        context.close()


def test_the_page_draws_only_what_the_filters_select(browser_chromium, footprint_site):
    context, page, probe = show(browser_chromium, footprint_site, "platform=uav")
    try:
        shot = screenshot(page)
        assert pixel(page, shot, VALLEY)[2] < BACKGROUND - 10
        assert pixel(page, shot, CITY_ONLY).tolist() == [BACKGROUND] * 3  # aircraft and satellite: not drawn
        assert {p.get("id") for p in picked(page, VALLEY)} == {"valley-uav"}
        urls = [url for _, url in probe.responses if "/api/footprints/" in url]
        assert urls and all("platform=uav" in url for url in urls)
        assert probe.console_errors == []
    finally:
        context.close()
