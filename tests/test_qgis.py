"""QGIS as a real client: its own ``wms`` provider reads our WMTS capabilities and XYZ template.

QGIS (Debian's ``python3-qgis``) lives in the system interpreter, not in the
virtualenv, so ``tests/qgis_render.py`` runs there in a subprocess (``tests/support/qgis.py``), headless,
against the live server (gunicorn over the Range file server), and the pixels it
rendered are compared here with the source warped to EPSG:3857. A render's own WMTS layer
too: an OpenAerialMap-style DSM's ``hillshade`` (``dsm:hillshade``), compared with the server's
tiles and with the hillshade of the whole DSM. Without QGIS the tests skip, except in CI
(``CI=true``) where they fail.
"""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from PIL import Image as PILImage
from rio_tiler.io import Reader

from oam_preview.geo.tiles import TMS, xy_bounds

from .support.fileserver import FileServer
from .support.gdal_client import web_mercator_reference
from .support.processes import free_port, serve_command, stop_process, wait_for_healthz
from .support.qgis import qgis_render
from .support.terrain import whole_image_hillshade, write_dem

#: Web Mercator's half extent and the size of a pixel at zoom 18 (256 px tiles), metres.
ORIGIN = 20037508.342789244
Z18_RESOLUTION = 2 * ORIGIN / 256 / 2**18
#: Pixels cut from each side of cogeo.tif, so every rendered pixel is inside the image.
INSET_PX = 32


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio of two uint8 arrays, dB (inf when identical)."""
    mse = float(np.mean((a.astype(float) - b.astype(float)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


def z18_extent(path: Path) -> tuple[tuple[float, float, float, float], int, int]:
    """An EPSG:3857 extent inside ``path`` on the zoom-18 pixel grid, and its size in px.

    cogeo.tif's pixels are zoom 18's (0.597 m, on the tile grid), so QGIS draws the
    tiles unscaled and any difference is ours, not a resampling's.
    """
    with rasterio.open(path) as ds:
        assert ds.crs.to_epsg() == 3857
        left, bottom, right, top = ds.bounds
    col0 = math.ceil((left + ORIGIN) / Z18_RESOLUTION - 1e-6) + INSET_PX
    row0 = math.ceil((ORIGIN - top) / Z18_RESOLUTION - 1e-6) + INSET_PX
    col1 = math.floor((right + ORIGIN) / Z18_RESOLUTION + 1e-6) - INSET_PX
    row1 = math.floor((ORIGIN - bottom) / Z18_RESOLUTION + 1e-6) - INSET_PX
    extent = (
        col0 * Z18_RESOLUTION - ORIGIN,
        ORIGIN - row1 * Z18_RESOLUTION,
        col1 * Z18_RESOLUTION - ORIGIN,
        ORIGIN - row0 * Z18_RESOLUTION,
    )
    return extent, col1 - col0, row1 - row0


@pytest.fixture(scope="module")
def qgis_renders(
    qgis_python: str, live_server: str, tiff_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """QGIS's reports on cogeo.tif through our WMTS and our XYZ template, by layer name,
    and the source warped to the same grid as ``reference``."""
    base = f"{live_server}/api/images/cogeo"
    with urllib.request.urlopen(f"{base}/tilejson.json") as response:
        tj = json.load(response)
    assert tj["minzoom"] <= 18 <= tj["maxzoom"]  # z18_extent's grid is a zoom the image has
    wmts_uri = urllib.parse.urlencode(
        {
            "crs": "EPSG:3857",
            "format": "image/png",
            "layers": "cogeo",  # the layer's ows:Identifier is the image id
            "styles": "default",
            "tileMatrixSet": "GoogleMapsCompatible",
            "url": f"{base}/WMTSCapabilities.xml",
        }
    )
    xyz_uri = urllib.parse.urlencode(
        {"type": "xyz", "url": tj["tiles"][0], "zmin": tj["minzoom"], "zmax": tj["maxzoom"]}
    )
    # The mosaic of a group of one image: its WMTS URL carries the query, which QGIS must keep.
    mosaic_uri = urllib.parse.urlencode(
        {
            "crs": "EPSG:3857",
            "format": "image/png",
            "layers": "mosaic",
            "styles": "default",
            "tileMatrixSet": "GoogleMapsCompatible",
            "url": f"{live_server}/api/mosaic/WMTSCapabilities.xml?ids=cogeo&order=catalog",
        }
    )
    extent, width, height = z18_extent(tiff_dir / "cogeo.tif")
    renders: dict[str, Any] = {}
    for name, uri in (("wmts", wmts_uri), ("xyz", xyz_uri), ("mosaic_wmts", mosaic_uri)):
        tmp = tmp_path_factory.mktemp(f"qgis_{name}")
        job = {"extent": extent, "width": width, "height": height, "name": name, "provider": "wms"}
        renders[name] = qgis_render(qgis_python, {**job, "uri": uri, "png": str(tmp / "out.png")}, tmp)
        renders[name]["png"] = tmp / "out.png"
    renders["reference"] = web_mercator_reference(tiff_dir / "cogeo.tif", extent, width, height)
    return renders


@pytest.mark.parametrize("name", ["wmts", "xyz", "mosaic_wmts"])
def test_qgis_renders_our_layer_like_the_source(qgis_renders: dict[str, Any], name: str) -> None:
    report = qgis_renders[name]
    log = "\n".join(report["log"])
    assert report["valid"], f"QGIS found the {name} layer invalid: {report['error']}\n{log}"
    assert report["render_errors"] == [], log
    # The wms provider logs what it dislikes in capabilities (unknown matrix, bad limits) and
    # every failed tile download under "WMS"; a correct service leaves that log empty.
    assert [line for line in report["log"] if line.startswith("[WMS]")] == []
    # QGIS fetched our tiles itself, at the image's zoom 18, so it drew them unscaled.
    zooms = {url.split("/tiles/")[1].split("/")[0] for url in report["urls"] if "/tiles/" in url}
    assert zooms == {"18"}, report["urls"]
    if name.startswith("mosaic"):
        assert all("ids=cogeo" in url for url in report["urls"] if "/tiles/" in url), report["urls"]
    rgba = np.asarray(PILImage.open(report["png"]).convert("RGBA"))
    assert (rgba[..., 3] == 255).all(), "QGIS left pixels inside the image undrawn"
    out = np.moveaxis(rgba[..., :3], -1, 0)
    ref = qgis_renders["reference"]
    assert out.shape == ref.shape
    mean = float(np.abs(out.astype(int) - ref.astype(int)).mean())
    quality = psnr(out, ref)
    tiles = sum("/tiles/" in url for url in report["urls"])
    print(
        f"QGIS {name}: {out.shape[2]}x{out.shape[1]} px from {tiles} tiles, mean |diff| {mean:.3f}, PSNR {quality:.1f} dB"
    )
    # Measured: identical pixels (cogeo.tif's pixels are zoom 18's, read with nearest both ways).
    # A one-pixel shift gives 6.2 and 27 dB; the bounds leave room for a client's lossy quirks.
    assert mean < 2
    assert quality > 35


# -- a render's layer: the DSM's hillshade, as OAM's catalog describes it ---------------------------

#: The zoom QGIS is asked to draw the DSM at (1.19 m pixels over its 1 m ones), and the block of
#: tiles around the DSM's centre it draws, a side.
HILLSHADE_ZOOM = 17
HILLSHADE_TILES = 3


def dsm_item(url: str, path: Path) -> dict[str, Any]:
    """An OpenAerialMap-shaped STAC Item of the DSM at ``url`` with its ``browse`` and
    ``hillshade`` renders (the render extension), its footprint that of ``path``."""
    with Reader(str(path)) as reader:
        w, s, e, n = reader.get_geographic_bounds("epsg:4326")
    renders = {
        "browse": {"assets": ["visual"], "title": "Elevation", "bidx": [1], "rescale": [[800.0, 1500.0]],
                   "colormap_name": "terrain", "nodata": -9999.0},
        "hillshade": {"assets": ["visual"], "title": "Hillshade", "algorithm": "hillshade"},
    }  # fmt: skip
    return {
        "type": "Feature",
        "stac_version": "1.1.0",
        "stac_extensions": ["https://stac-extensions.github.io/render/v2.0.0/schema.json"],
        "id": "dsm",
        "geometry": {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]},
        "properties": {"title": "DSM", "datetime": "2024-05-01T10:00:00Z", "oam:product_type": "elevation",
                       "renders": renders},
        "assets": {"visual": {"href": url, "type": "image/tiff; application=geotiff; profile=cloud-optimized"}},
        "links": [],
    }  # fmt: skip


@pytest.fixture(scope="module")
def dsm_server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """``oam-preview serve`` over a catalog of one OAM-style DSM (float32 ZSTD COG, nodata -9999,
    ``browse`` and ``hillshade`` renders) on the Range file server; yields (base URL, DSM path)."""
    root = tmp_path_factory.mktemp("qgis_dsm")
    path = write_dem(root / "dem.tif")
    with FileServer(root) as files:
        catalog = root / "catalog.json"
        doc = {"type": "FeatureCollection", "features": [dsm_item(f"{files.url}/dem.tif", path)]}
        catalog.write_text(json.dumps(doc))
        port = free_port()
        env = {**os.environ, "OAM_PREVIEW_BASEMAP_URL": ""}
        process = subprocess.Popen(
            serve_command(str(catalog), port, workers=1, threads=4),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_for_healthz(base, process, timeout=30)
            yield base, path
        finally:
            stop_process(process)


def hillshade_block(path: Path) -> tuple[list[Any], tuple[float, float, float, float]]:
    """The zoom-:data:`HILLSHADE_ZOOM` tiles of the block around the DSM's centre (row by row) and
    their EPSG:3857 extent."""
    with Reader(str(path)) as reader:
        w, s, e, n = reader.get_geographic_bounds("epsg:4326")
    centre = TMS.tile((w + e) / 2, (s + n) / 2, HILLSHADE_ZOOM)
    half = HILLSHADE_TILES // 2
    tiles = [
        type(centre)(centre.x + col - half, centre.y + row - half, HILLSHADE_ZOOM)
        for row in range(HILLSHADE_TILES)
        for col in range(HILLSHADE_TILES)
    ]
    left, _, _, top = xy_bounds(HILLSHADE_ZOOM, tiles[0].x, tiles[0].y)
    _, bottom, right, _ = xy_bounds(HILLSHADE_ZOOM, tiles[-1].x, tiles[-1].y)
    return tiles, (left, bottom, right, top)


def test_qgis_renders_the_wmts_layer_of_a_dsm_s_hillshade_render(
    qgis_python: str, dsm_server: tuple[str, Path], tmp_path: Path
) -> None:
    """QGIS picks the render's own layer (``dsm:hillshade``) out of the image's WMTS capabilities,
    fetches its tiles, and draws the hillshade: grey, the server's tiles pixel for pixel, and the
    hillshade of the whole DSM (no seams at the tiles' edges)."""
    base, path = dsm_server
    with urllib.request.urlopen(f"{base}/api/images/dsm") as response:
        renders = {r["name"]: r for r in json.load(response)["properties"]["renders"]}
    assert {"browse", "hillshade"} <= set(renders)
    tiles, extent = hillshade_block(path)
    side = 256 * HILLSHADE_TILES
    uri = urllib.parse.urlencode(
        {
            "crs": "EPSG:3857",
            "format": "image/png",
            "layers": "dsm:hillshade",  # the render's layer: the image id and the render's name
            "styles": "default",
            "tileMatrixSet": "GoogleMapsCompatible",
            "url": f"{base}/api/images/dsm/WMTSCapabilities.xml",
        }
    )
    job = {"extent": extent, "width": side, "height": side, "name": "hillshade", "provider": "wms"}
    report = qgis_render(qgis_python, {**job, "uri": uri, "png": str(tmp_path / "out.png")}, tmp_path)
    log = "\n".join(report["log"])
    assert report["valid"], f"QGIS found the hillshade layer invalid: {report['error']}\n{log}"
    assert report["render_errors"] == [], log
    assert [line for line in report["log"] if line.startswith("[WMS]")] == []
    fetched = [url for url in report["urls"] if "/tiles/" in url]
    assert fetched and all("render=hillshade" in url for url in fetched), report["urls"]
    assert {url.split("/tiles/")[1].split("/")[0] for url in fetched} == {str(HILLSHADE_ZOOM)}
    rgba = np.asarray(PILImage.open(tmp_path / "out.png").convert("RGBA"))
    assert (rgba[..., 3] == 255).all(), "QGIS left pixels inside the DSM undrawn"
    drawn = rgba[..., 0]
    assert (rgba[..., 1] == drawn).all() and (rgba[..., 2] == drawn).all(), "a hillshade is grey"
    assert drawn.std() > 20, "a flat picture is no hillshade"
    # The server's own tiles of the render, stitched: what QGIS was sent.
    template = renders["hillshade"]["tiles"]
    served = np.zeros((side, side), np.uint8)
    for n, tile in enumerate(tiles):
        url = template.replace("{z}", str(tile.z)).replace("{x}", str(tile.x)).replace("{y}", str(tile.y))
        if url.startswith("/"):
            url = base + url
        with urllib.request.urlopen(url) as response:
            pixels = np.asarray(PILImage.open(io.BytesIO(response.read())).convert("RGBA"))
        row, col = divmod(n, HILLSHADE_TILES)
        served[row * 256 : (row + 1) * 256, col * 256 : (col + 1) * 256] = pixels[..., 0]
    reference = whole_image_hillshade(path, extent, side)
    print(
        f"QGIS dsm:hillshade: {side}x{side} px from {len(fetched)} tiles, PSNR {psnr(drawn, served):.1f} dB "
        f"against the served tiles, {psnr(drawn, reference):.1f} dB against the whole-image hillshade"
    )
    # QGIS draws zoom 17's tiles unscaled: the served pixels, within a client's rounding.
    assert psnr(drawn, served) > 35
    # ... and they are the hillshade of the whole DSM (the colour browse render gives about 5 dB).
    assert psnr(drawn, reference) >= 30
