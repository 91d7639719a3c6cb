"""A 20,000-record catalog loads and stays responsive (figures printed, never asserted)."""

from __future__ import annotations

import json
import time

import pytest

from ..support.apps import serve_app
from ..support.catalog_documents import synthetic_images, write_catalog
from ..support.page import open_page
from ..support.page_scale import measure

pytestmark = pytest.mark.browser

RECORDS = 20_000


@pytest.mark.slow
def test_twenty_thousand_records_stay_responsive(
    tmp_path_factory, browser_geotiffs, browser_chromium, browser_artifacts
):
    images = synthetic_images(RECORDS)
    catalog = write_catalog(tmp_path_factory.mktemp("scale") / "catalog.geojson", images, browser_geotiffs)
    started = time.perf_counter()
    with serve_app(catalog, images=images) as live:
        app_start_s = time.perf_counter() - started
        context, page, probe = open_page(browser_chromium)
        try:
            figures = measure(page, live.page_url, RECORDS)
            page.screenshot(path=str(browser_artifacts / "map-page-20000.png"))
            # A click on the tiles where the data is dense: a cluster zooms in (or an image opens).
            page.evaluate("() => oamPreview.map.setView([20, 10], 3, {animate: false})")
            page.wait_for_timeout(1500)  # the view's tiles drawn
            zoom = page.evaluate("() => oamPreview.map.getZoom()")
            box = page.locator("#map").bounding_box()
            point = page.evaluate("() => oamPreview.map.latLngToContainerPoint([20, 10])")
            page.mouse.click(box["x"] + point["x"], box["y"] + point["y"])
            page.wait_for_function(
                f"() => oamPreview.map.getZoom() > {zoom} || oamPreview.state.selected.size > 0",
                timeout=10_000,
            )
        finally:
            context.close()
    print(f"\n20,000-record catalog (app start {app_start_s:.1f} s):\n{figures.report()}")
    (browser_artifacts / "page_load.json").write_text(json.dumps(vars(figures), indent=2))
    # Behaviour, not timing: the list is virtualised and everything answered.
    assert figures.list_dom_rows < 100
    # More than a page of footprints in view: the vector tiles draw them all, no GeoJSON outlines.
    assert figures.footprint_tiles and figures.footprints_drawn == 0
    assert not [e for e in probe.console_errors if "uncaught" in e]
