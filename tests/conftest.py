"""Shared fixtures: a real Range-capable HTTP server of GeoTIFFs, catalogs and apps over it.

The GeoTIFF server runs in a child process (``tests.support.fileserver``), so
the app under test reads every image over HTTP range requests, as in
production, and the tests can read the server's request counters.
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

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from oam_preview import create_app
from oam_preview.catalog import Catalog, load_document

from .support import geotiffs
from .support.fileserver import FileServer
from .support.loopback import LOOPBACK_ALLOW
from .support.processes import free_port, serve_command, stop_process, wait_for_healthz

# Every app and server the tests start reads the tests' own servers on loopback, which the
# upstream policy refuses by default: allowed here, explicitly (children inherit it).
os.environ.setdefault("OAM_PREVIEW_UPSTREAM_ALLOW", LOOPBACK_ALLOW)
# The feeds' "added" times of every test catalog are kept in the run's own directory, not in
# the user's cache (one small file per catalog source: thousands over a few runs).
if "OAM_PREVIEW_STATE_DIR" not in os.environ:
    os.environ["OAM_PREVIEW_STATE_DIR"] = tempfile.mkdtemp(prefix="oam-preview-test-state-")
    atexit.register(shutil.rmtree, os.environ["OAM_PREVIEW_STATE_DIR"], True)

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
GEOTIFFS = DATA / "geotiff"


def write_cog(path: Path, width: int, height: int, *, seed: int = 0, overviews: bool = True) -> Path:
    """A synthetic RGB JPEG COG in EPSG:3857 over Kathmandu, tiled 512, with overviews."""
    from rio_cogeo.cogeo import cog_translate
    from rio_cogeo.profiles import cog_profiles

    rng = np.random.default_rng(seed)
    raw = path.with_suffix(".raw.tif")
    profile = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": 3,
        "dtype": "uint8",
        "crs": "EPSG:3857",
        "transform": from_origin(9497000.0, 3211000.0, 0.6, 0.6),
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
    }
    with rasterio.open(raw, "w", **profile) as dst:
        rows, cols = np.mgrid[0:height, 0:width]
        base = ((np.sin(cols / 37.0) + np.cos(rows / 23.0)) * 60 + 120).astype(np.float32)
        for b in range(3):
            dst.write(np.clip(base + rng.normal(0, 10, base.shape) + b * 20, 0, 255).astype(np.uint8), b + 1)
    cog = cog_profiles.get("jpeg")
    cog.update(photometric="YCbCr")
    cog_translate(str(raw), str(path), cog, quiet=True, overview_level=None if overviews else 0)
    raw.unlink()
    return path


def write_stripped(path: Path, width: int, height: int, crs: str = "EPSG:32618") -> Path:
    """An uncompressed, stripped RGB GeoTIFF without overviews (a raw upload), 0.5 CRS units a
    pixel; written 512 rows at a time, so a huge one needs little memory."""
    origin = (9497000.0, 3211000.0) if crs == "EPSG:3857" else (780000.0, 2052000.0)
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=width,
        height=height,
        count=3,
        dtype="uint8",
        crs=crs,
        transform=from_origin(*origin, 0.5, 0.5),
        photometric="RGB",
    ) as dst:
        cols = np.arange(width, dtype=np.uint16)
        rows = np.stack([((cols + b * 50) % 256).astype(np.uint8) for b in range(3)])[:, np.newaxis, :]
        for top in range(0, height, 512):
            bottom = min(top + 512, height)
            dst.write(np.broadcast_to(rows, (3, bottom - top, width)), window=((top, bottom), (0, width)))
    return path


#: cogeo.tif's bounds, EPSG:4326 degrees (west, south, east, north).
COGEO_BOUNDS = (128.655396, 37.666429, 128.660889, 37.670777)

#: A URL of every route rule, with an image that exists, for the tests that sweep them all
#: (``test_routes_reach_every_rule`` checks that none is missing).
ROUTES = (
    "/",
    "/report",
    "/healthz",
    "/api/images",
    "/api/images/cogeo",
    "/api/images/cogeo/thumbnail.png",
    "/api/images/cogeo/tiles/18/224757/101422.png",
    "/api/images/cogeo/tilejson.json",
    "/api/images/cogeo/WMTSCapabilities.xml",
    "/api/images/cogeo/point/128.658,37.6685",
    "/api/images/cogeo/statistics",
    "/api/images/cogeo/report",
    "/api/colormaps",
    "/api/colormaps/viridis",
    "/api/mosaic/tiles/18/224757/101422.png?ids=cogeo",
    "/api/mosaic/tilejson.json",
    "/api/mosaic/WMTSCapabilities.xml",
    "/metrics",
    "/api/mosaic/point/128.658,37.6685",
    "/api/footprints/0/0/0.mvt",
    "/api/footprints/tilejson.json",
    "/api/imagery/index.geojson",
    "/api/imagery/josm.xml",
    "/api/images.atom",
    "/api/images/feed.geojson",
    "/vendor/leaflet/leaflet.js",
    "/static/app.js",
)

#: Every POST route with a body it accepts (it makes a job, of one small tile range); the job's
#: URL it answers (``Location``) is then swept as the GET routes are.
POST_ROUTES = (
    ("/api/exports", {"ids": ["cogeo"], "format": "mbtiles", "minzoom": 18, "maxzoom": 18,
                      "bbox": [128.6585, 37.6683, 128.6587, 37.6685]}),
)  # fmt: skip


@pytest.fixture(scope="session")
def tiff_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The files the test server serves: the committed fixtures, generated ones and broken ones."""
    root = tmp_path_factory.mktemp("tiffs")
    for src in sorted(GEOTIFFS.glob("*.tif")):
        shutil.copy(src, root / src.name)
    geotiffs.write_all(root)
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


def catalog_doc(server_url: str, names: list[str], slow_url: str | None = None) -> dict[str, Any]:
    """A GeoJSON catalog of the served files, ids = file stems, plus fault cases."""
    features = [
        {
            "type": "Feature",
            "id": Path(name).stem,
            "geometry": None,
            "properties": {
                "title": f"Test image {Path(name).stem}",
                "source_url": f"{server_url}/{name}",
                "provider": "tests",
                "license": "CC0-1.0",
                "acquisition_start": "2020-01-01",
            },
        }
        for name in names
    ]
    faults = {
        "missing": f"{server_url}/missing.tif",
        "refused": f"http://127.0.0.1:{free_port()}/nothing.tif",
    }
    if slow_url:
        faults["slow"] = f"{slow_url}/cogeo.tif"
    features += [
        {"type": "Feature", "id": fid, "geometry": None, "properties": {"source_url": url, "title": fid}}
        for fid, url in faults.items()
    ]
    return {"type": "FeatureCollection", "features": features}


@pytest.fixture(scope="session")
def catalog(tiff_server: FileServer, tiff_dir: Path, slow_server: FileServer) -> Catalog:
    names = sorted(p.name for p in tiff_dir.glob("*.tif"))
    doc = catalog_doc(tiff_server.url, names, slow_server.url)
    for feature in doc["features"]:
        if feature["id"] == "cogeo":  # a footprint: the mosaic's routes of ROUTES select it
            feature["geometry"] = {
                "type": "Polygon",
                "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]] for w, s, e, n in [COGEO_BOUNDS]],
            }
    return load_document(doc)


@pytest.fixture(scope="session")
def app(catalog: Catalog) -> Any:
    return create_app(
        {"OAM_PREVIEW_UPSTREAM_TIMEOUT": 1, "OAM_PREVIEW_BASEMAP_URL": ""},
        catalog=catalog,
    )


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
