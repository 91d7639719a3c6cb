"""Time the map page with a large synthetic catalog in headless Chromium.

    .venv/bin/python -m benchmarks.page_load [--records 20000] [--runs 3]

Prints time to first list render, first footprints, a pan with "only in view"
on (list, footprints and timeline of the new view), a jump to the middle of the list, and the longest main-thread task, per
run. The catalog is written to a temporary directory; its GeoTIFF (cogeo.tif
from tests/data/geotiff) is served over HTTP range requests, like production.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from tests.support.apps import serve_app
from tests.support.catalog_documents import synthetic_images, write_catalog
from tests.support.geotiffs import geotiff_dir
from tests.support.loopback import LOOPBACK_ALLOW
from tests.support.page import CHROMIUM, CHROMIUM_ARGS, open_page
from tests.support.page_scale import measure

REPO = Path(__file__).resolve().parents[1]

# The app reads the benchmark's own file server on loopback: allowed explicitly (upstream policy).
os.environ.setdefault("OAM_PREVIEW_UPSTREAM_ALLOW", LOOPBACK_ALLOW)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    from tests.support.fileserver import FileServer

    images = synthetic_images(args.records)
    with tempfile.TemporaryDirectory() as tmp, FileServer(geotiff_dir(Path(tmp) / "geotiffs")) as files:
        catalog = write_catalog(Path(tmp) / "catalog.geojson", images, files.url)
        started = time.perf_counter()
        with serve_app(catalog, images=images) as live, sync_playwright() as playwright:
            print(f"{args.records} records; app ready in {time.perf_counter() - started:.2f} s")
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            runs = []
            for run in range(args.runs):
                context, page, _ = open_page(browser)
                figures = measure(page, live.page_url, args.records)
                context.close()
                runs.append(figures)
                print(f"run {run + 1}:\n{figures.report()}")
            browser.close()
    first = [f.first_list_render_ms for f in runs]
    print(
        f"time to first list render: median {statistics.median(first):.0f} ms (min {min(first):.0f}, max {max(first):.0f})"
    )
    timeline = [f.pan_timeline_ms for f in runs]
    print(
        f"pan -> timeline of the new view: median {statistics.median(timeline):.0f} ms"
        f" (min {min(timeline):.0f}, max {max(timeline):.0f}; issue 20 asks <= 300 ms)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
