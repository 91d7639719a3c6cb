"""Fixtures for the map page's browser tests (headless Debian Chromium + Playwright).

The app runs in a thread on an ephemeral port with a GeoJSON catalog written
for the test, whose GeoTIFFs are served over HTTP range requests by
:class:`oam_preview.demo.fileserver.FileServer`, as in production. Fixture names
start with ``browser_`` so they never clash with the server tests' fixtures.
The helpers they use are in ``tests/support`` (``page``, ``apps``, ``catalog_documents``).

Chromium missing: the tests skip, except in CI (``CI=true``) where they fail.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.apps import LiveApp, serve_app
from tests.support.catalog_documents import Image, catalog_images, write_catalog
from tests.support.geotiffs import geotiff_dir
from tests.support.system import missing


@pytest.fixture(scope="session")
def browser_geotiff_dir(tmp_path_factory) -> Path:
    """The page tests' GeoTIFFs: the committed fixtures and the generated ones."""
    return geotiff_dir(tmp_path_factory.mktemp("browser-geotiffs"))


@pytest.fixture(scope="session")
def browser_geotiffs(browser_geotiff_dir: Path) -> Iterator[str]:
    """Base URL of a range-request file server over the page tests' GeoTIFFs."""
    from tests.support.fileserver import FileServer

    with FileServer(browser_geotiff_dir) as fs:
        yield fs.url.rstrip("/")


@pytest.fixture(scope="session")
def browser_images(browser_geotiff_dir: Path) -> list[Image]:
    return catalog_images(browser_geotiff_dir)


@pytest.fixture(scope="session")
def browser_catalog(tmp_path_factory, browser_geotiffs, browser_images) -> Path:
    path = tmp_path_factory.mktemp("browser-catalog") / "catalog.geojson"
    return write_catalog(path, browser_images, browser_geotiffs)


@pytest.fixture(scope="session")
def browser_demo(tmp_path_factory) -> Iterator[tuple[Path, list[str]]]:
    """The embedded demo's catalog (a file) and its ids, its GeoTIFFs on a Range server: built
    once into ``$OAM_PREVIEW_DEMO_DIR`` or the user's cache (under a minute the first time)."""
    from oam_preview.demo.catalog import catalog_document
    from oam_preview.demo.images import build

    from ..support.fileserver import FileServer

    directory = build(progress=False)
    with FileServer(directory) as fs:
        doc = catalog_document(directory, fs.url.rstrip("/"))
        path = tmp_path_factory.mktemp("demo-catalog") / "catalog.json"
        path.write_text(json.dumps(doc))
        yield path, [f["id"] for f in doc["features"]]


@pytest.fixture(scope="session")
def browser_app(browser_catalog, browser_images) -> Iterator[LiveApp]:
    with serve_app(browser_catalog, images=browser_images) as live:
        yield live


@pytest.fixture(scope="session")
def browser_prefixed_app(browser_catalog, browser_images) -> Iterator[LiveApp]:
    with serve_app(browser_catalog, prefix="/tools/oam", images=browser_images) as live:
        yield live


@pytest.fixture(scope="session")
def browser_chromium():
    """One headless Chromium for the whole session (the machine has two cores)."""
    from tests.support.page import CHROMIUM, CHROMIUM_ARGS

    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        missing(f"Chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("the Python package playwright")
        raise
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def browser_page(browser_chromium):
    from tests.support.page import open_page

    context, page, probe = open_page(browser_chromium)
    page.probe = probe
    yield page
    context.close()


@pytest.fixture(scope="session")
def browser_artifacts() -> Path:
    from tests.support.page import ARTIFACTS

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
