"""Shared fixtures: a real Range-capable HTTP server of GeoTIFFs, catalogs and apps over it.

The GeoTIFF server runs in a child process (``tests.support.fileserver``), so
the app under test reads every image over HTTP range requests, as in
production, and the tests can read the server's request counters. Fixtures only: what
they are built from (GeoTIFF writers, catalog documents, app builders) is in ``tests/support``.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import rasterio

from oam_preview.catalog import Catalog, load_document

from .support.apps import app_over
from .support.catalog_documents import COGEO_BOUNDS, box_polygon, catalog_doc
from .support.fileserver import FileServer
from .support.geotiffs import geotiff_dir, write_cog, write_stripped
from .support.loopback import LOOPBACK_ALLOW
from .support.private_access import BEFORE, privacy_clock, write_access_file
from .support.processes import free_port, serve_command, stop_process, wait_for_healthz
from .support.qgis import SYSTEM_PYTHON, qgis_missing
from .support.system import missing

# Every app and server the tests start reads the tests' own servers on loopback, which the
# upstream policy refuses by default: allowed here, explicitly (children inherit it).
os.environ.setdefault("OAM_PREVIEW_UPSTREAM_ALLOW", LOOPBACK_ALLOW)
# The feeds' "added" times of every test catalog are kept in the run's own directory, not in
# the user's cache (one small file per catalog source: thousands over a few runs).
if "OAM_PREVIEW_STATE_DIR" not in os.environ:
    os.environ["OAM_PREVIEW_STATE_DIR"] = tempfile.mkdtemp(prefix="oam-preview-test-state-")
    atexit.register(shutil.rmtree, os.environ["OAM_PREVIEW_STATE_DIR"], True)


@pytest.fixture(scope="session")
def tiff_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The files the test server serves: the committed fixtures, generated ones and broken ones."""
    root = geotiff_dir(tmp_path_factory.mktemp("tiffs"))
    write_cog(root / "synthetic_cog.tif", 2048, 2048)
    write_stripped(root / "stripped.tif", 2000, 1500)
    # A stripped file with an external .ovr, as `gdaladdo` leaves it.
    write_stripped(root / "sidecar.tif", 1600, 1200)
    with rasterio.Env(TIFF_USE_OVR=True), rasterio.open(root / "sidecar.tif", "r+") as ds:
        ds.build_overviews([2, 4, 8])
    assert (root / "sidecar.tif.ovr").exists()
    (root / "html.tif").write_text("<html><body>Access denied</body></html>\n" * 20)
    (root / "empty.tif").write_bytes(b"")
    cog = (root / "cogeo.tif").read_bytes()
    (root / "truncated.tif").write_bytes(cog[: len(cog) // 3])
    # Valid headers, garbage tiles: every block's bytes scrambled.
    corrupt = bytearray(cog)
    corrupt[40000:] = bytes(len(corrupt) - 40000)
    (root / "corrupt.tif").write_bytes(bytes(corrupt))
    return root


@pytest.fixture(scope="session")
def tiff_server(tiff_dir: Path) -> Iterator[FileServer]:
    with FileServer(tiff_dir) as server:
        yield server


@pytest.fixture(scope="session")
def slow_server(tiff_dir: Path) -> Iterator[FileServer]:
    """The same files, each answer delayed by 3 s."""
    with FileServer(tiff_dir, delay=3.0) as server:
        yield server


@pytest.fixture(scope="session")
def catalog(tiff_server: FileServer, tiff_dir: Path, slow_server: FileServer) -> Catalog:
    names = sorted(p.name for p in tiff_dir.glob("*.tif"))
    doc = catalog_doc(tiff_server.url, names, slow_server.url)
    for feature in doc["features"]:
        if feature["id"] == "cogeo":  # a footprint: the mosaic's routes of ROUTES select it
            feature["geometry"] = box_polygon(COGEO_BOUNDS)
    return load_document(doc)


@pytest.fixture()
def app(catalog: Catalog) -> Any:
    """An app of its own for each test (its caches, counters and settings start empty)."""
    return app_over(catalog, OAM_PREVIEW_UPSTREAM_TIMEOUT=1)


@pytest.fixture()
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture(scope="session")
def live_server(
    tiff_server: FileServer, tiff_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """``oam-preview serve`` (gunicorn, threaded) in a child process; yields its base URL."""
    names = sorted(p.name for p in tiff_dir.glob("*.tif"))
    path = tmp_path_factory.mktemp("catalog") / "catalog.json"
    path.write_text(json.dumps(catalog_doc(tiff_server.url, names)))
    port = free_port()
    env = {**os.environ, "OAM_PREVIEW_BASEMAP_URL": ""}
    process = subprocess.Popen(
        serve_command(str(path), port, workers=1, threads=4),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_healthz(url, process, timeout=30)
    except RuntimeError:
        process.kill()
        raise
    yield url
    stop_process(process)


@pytest.fixture(scope="module")
def qgis_python() -> str:
    """The interpreter that runs QGIS; skips without it, except in CI, where it fails."""
    why = qgis_missing()
    if why:
        missing(why)
    return SYSTEM_PYTHON


@pytest.fixture()
def clock(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The privacy rule's clock, set by the test (Unix seconds), a while before the private
    tests' embargo ends (``tests.support.private_access``)."""
    return privacy_clock(monkeypatch, BEFORE + 100)


@pytest.fixture()
def access_file(tmp_path: Path) -> str:
    """The private tests' API tokens file (``OAM_PREVIEW_ACCESS``)."""
    return write_access_file(tmp_path / "access.toml")
