"""A 20,000-record catalog loads and stays responsive (figures printed, never asserted)."""

from __future__ import annotations

import json
import time

import pytest

from .conftest import open_page, serve_app, synthetic_images, write_catalog
from .scale import measure

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
        finally:
            context.close()
    print(f"\n20,000-record catalog (app start {app_start_s:.1f} s):\n{figures.report()}")
    (browser_artifacts / "page_load.json").write_text(json.dumps(vars(figures), indent=2))
    # Behaviour, not timing: the list is virtualised and everything answered.
    assert figures.list_dom_rows < 100
    assert figures.footprints_drawn == 1000
    assert not [e for e in probe.console_errors if "uncaught" in e]
