"""Fixtures for the map page's browser tests (headless Debian Chromium + Playwright).

The app runs in a thread on an ephemeral port with a GeoJSON catalog written
for the test, whose GeoTIFFs are served over HTTP range requests by
:class:`oam_preview.demo.fileserver.FileServer`, as in production. Fixture names
start with ``browser_`` so they never clash with the server tests' fixtures.

Chromium missing: the tests skip, except in CI (``CI=true``) where they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support.system import missing

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "tests" / "artifacts"
CHROMIUM = os.environ.get("OAM_PREVIEW_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

XSS_TITLE = '<script>window.__xss = "script"</script><img src=x onerror="window.__xss = \'img\'">'

GEOTIFFS = REPO / "tests" / "data" / "geotiff"


def geotiff_dir(root: Path) -> Path:
    """``root`` filled with the page tests' GeoTIFFs: the committed fixtures and the generated ones."""
    from tests.support.geotiffs import write_all

    root.mkdir(parents=True, exist_ok=True)
    for src in GEOTIFFS.glob("*.tif"):
        shutil.copy(src, root / src.name)
    write_all(root)
    return root


# ------------------------------------------------------------------ catalog


@dataclass(frozen=True)
class Image:
    id: str
    file: str
    title: str
    bbox: tuple[float, float, float, float]  # w, s, e, n in EPSG:4326
    acquired: str
    gsd: float
    provider: str
    license: str

    @property
    def center(self) -> tuple[float, float]:
        """(lat, lng) of the footprint's middle."""
        w, s, e, n = self.bbox
        return (s + n) / 2, (w + e) / 2


def footprint_bbox(path: Path) -> tuple[float, float, float, float]:
    import rasterio
    from rasterio.warp import transform_bounds

    with rasterio.open(path) as ds:
        return tuple(transform_bounds(ds.crs, "EPSG:4326", *ds.bounds))  # type: ignore[return-value]


def catalog_images(directory: Path) -> list[Image]:
    """The small catalog most tests use: three real images and a hostile title."""
    korea = footprint_bbox(directory / "cogeo.tif")
    bahamas = footprint_bbox(directory / "landsat_cog.tif")
    colorado = footprint_bbox(directory / "cog_rgba.tif")
    return [
        Image(
            "korea-aerial",
            "cogeo.tif",
            "Korea ski slope aerial",
            korea,
            "2019-02-10",
            0.15,
            "Drone Team",
            "CC-BY 4.0",
        ),
        Image(
            "bahamas-landsat",
            "landsat_cog.tif",
            "Bahamas satellite mosaic",
            bahamas,
            "2018-06-01",
            300.0,
            "Landsat",
            "Public domain",
        ),
        Image(
            "colorado-rgba",
            "cog_rgba.tif",
            "Colorado parking lot",
            colorado,
            "2020-09-15",
            0.3,
            "County GIS",
            "CC0",
        ),
        Image(
            "hostile-title",
            "cog_rgba.tif",
            XSS_TITLE,
            colorado,
            "2021-03-03",
            0.3,
            "<b>Bold</b> & Co",
            "<i>odd</i>",
        ),
    ]


def feature(image: Image, base_url: str) -> dict[str, Any]:
    w, s, e, n = image.bbox
    return {
        "type": "Feature",
        "id": image.id,
        "bbox": [w, s, e, n],
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]],
        },
        "properties": {
            "title": image.title,
            "source_url": f"{base_url}/{image.file}",
            "gsd": image.gsd,
            "acquisition_start": f"{image.acquired}T10:00:00Z",
            "acquisition_end": f"{image.acquired}T10:30:00Z",
            "provider": image.provider,
            "license": image.license,
        },
    }


def write_catalog(path: Path, images: list[Image], base_url: str) -> Path:
    doc = {
        "type": "FeatureCollection",
        "features": [feature(i, base_url) for i in images],
    }
    path.write_text(json.dumps(doc))
    return path


def synthetic_images(count: int) -> list[Image]:
    """``count`` small footprints spread over the land-ish world, all cogeo.tif."""
    import random

    rnd = random.Random(20_000)
    images = []
    for i in range(count):
        w = rnd.uniform(-170.0, 170.0)
        s = rnd.uniform(-50.0, 65.0)
        day = 1 + i % 28
        images.append(
            Image(
                f"synthetic-{i:05d}",
                "cogeo.tif",
                f"Synthetic image {i:05d}",
                (w, s, w + 0.05, s + 0.04),
                f"20{10 + i % 15:02d}-{1 + i % 12:02d}-{day:02d}",
                round(0.05 + (i % 50) / 10, 2),
                f"Provider {i % 37}",
                "CC-BY 4.0",
            )
        )
    return images


# --------------------------------------------------------------- live app


@dataclass
class LiveApp:
    root: str  # absolute URL of the page, prefix included, no trailing slash
    host: str  # scheme://host:port, to tell the app's own responses apart
    images: list[Image] = field(default_factory=list)

    @property
    def page_url(self) -> str:
        return self.root + "/"


@contextmanager
def serve_app(
    catalog: Path,
    prefix: str = "",
    images: list[Image] | None = None,
    basemap: str = "",
    config: dict[str, Any] | None = None,
) -> Iterator[LiveApp]:
    from werkzeug.serving import make_server

    from oam_preview import create_app

    config = {
        "OAM_PREVIEW_CATALOG": str(catalog),
        "OAM_PREVIEW_BASEMAP_URL": basemap,
        **(config or {}),
    }
    if prefix:
        config["OAM_PREVIEW_PREFIX"] = prefix
    app = create_app(config)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host = f"http://127.0.0.1:{server.server_port}"
    try:
        yield LiveApp(root=host + prefix, host=host, images=images or [])
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser_geotiff_dir(tmp_path_factory) -> Path:
    return geotiff_dir(tmp_path_factory.mktemp("browser-geotiffs"))


@pytest.fixture(scope="session")
def browser_geotiffs(browser_geotiff_dir: Path) -> Iterator[str]:
    """Base URL of a range-request file server over the page tests' GeoTIFFs."""
    directory = browser_geotiff_dir
    from ..support.fileserver import FileServer

    with FileServer(directory) as fs:
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


# ----------------------------------------------------------------- browser


@pytest.fixture(scope="session")
def browser_chromium():
    """One headless Chromium for the whole session (the machine has two cores)."""
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


@dataclass
class PageProbe:
    """What a page said on its console and which responses it got."""

    console_errors: list[str] = field(default_factory=list)
    responses: list[tuple[int, str]] = field(default_factory=list)

    def statuses(self, host: str, contains: str) -> list[int]:
        return [s for s, url in self.responses if url.startswith(host) and contains in url]


def open_page(browser, *, width: int = 1280, height: int = 800, **context_options):
    """A fresh context and page, with console errors and responses recorded."""
    context = browser.new_context(viewport={"width": width, "height": height}, **context_options)
    page = context.new_page()
    probe = PageProbe()
    page.on(
        "console",
        lambda msg: probe.console_errors.append(msg.text) if msg.type == "error" else None,
    )
    page.on("pageerror", lambda exc: probe.console_errors.append(f"uncaught: {exc}"))
    page.on(
        "response",
        lambda response: probe.responses.append((response.status, response.url)),
    )
    page.set_default_timeout(20_000)
    return context, page, probe


@pytest.fixture
def browser_page(browser_chromium):
    context, page, probe = open_page(browser_chromium)
    page.probe = probe
    yield page
    context.close()


@pytest.fixture(scope="session")
def browser_artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
