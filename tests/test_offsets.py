"""Alignment offsets (dx, dy metres east/north): from the record's `alignment_offset` or the
operator's OAM_PREVIEW_OFFSETS file (read again when it changes), applied to tiles, points,
TileJSON bounds, the Feature and the mosaic. A tile of an offset image is the unshifted image's
pixels moved by the offset, at several zooms and latitudes."""

from __future__ import annotations

import io
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from PIL import Image as PILImage

from oam_preview import create_app
from oam_preview.catalog import load_document
from oam_preview.catalog.offsets import OperatorOffsets
from oam_preview.geo.tiles import TMS, resolution
from oam_preview.web.services import Services

from .support.catalog_documents import COGEO_BOUNDS


def file_bounds(path: Path) -> tuple[float, float, float, float]:
    with rasterio.open(path) as ds:
        w, s, e, n = rasterio.warp.transform_bounds(ds.crs, "EPSG:4326", *ds.bounds)
    return (w, s, e, n)


def record(fid: str, url: str, bounds: tuple[float, float, float, float], **props: Any) -> dict[str, Any]:
    w, s, e, n = bounds
    return {
        "type": "Feature",
        "id": fid,
        "geometry": {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]},
        "properties": {"source_url": url, "title": fid, **props},
    }


#: Each place's file, at two latitudes: Gangwon (37.7° N) and Kathmandu (27.7° N).
PLACES = {"cogeo": "cogeo.tif", "kathmandu": "synthetic_cog.tif"}


@pytest.fixture(scope="module")
def offsets_app(tiff_server: Any, tiff_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Each place twice (the same file): as it is, and moved by the operator's offsets file;
    cogeo a third time, moved by its record."""
    features = []
    for name, file in PLACES.items():
        bounds = COGEO_BOUNDS if name == "cogeo" else file_bounds(tiff_dir / file)
        url = f"{tiff_server.url}/{file}"
        features.append(record(f"{name}-plain", url, bounds))
        features.append(record(f"{name}-moved", url, bounds))
    features.append(record("cogeo-record", f"{tiff_server.url}/cogeo.tif", COGEO_BOUNDS,
                           alignment_offset={"dx": 5.0, "dy": -3.0}))  # fmt: skip
    path = tmp_path_factory.mktemp("offsets") / "offsets.json"
    path.write_text("{}")
    app = create_app(
        {"OAM_PREVIEW_BASEMAP_URL": "", "OAM_PREVIEW_OFFSETS": str(path), "OAM_PREVIEW_UPSTREAM_TIMEOUT": 10},
        catalog=load_document({"type": "FeatureCollection", "features": features}),
    )
    services: Services = app.extensions["oam_preview"]["oam_preview"]
    services.imagery.offsets = OperatorOffsets(str(path), recheck=0.0)  # every change seen at once
    app.offsets_path = path
    return app


def set_offsets(app: Any, offsets: dict[str, dict[str, float]]) -> None:
    path: Path = app.offsets_path
    path.write_text(json.dumps(offsets))
    stamp = path.stat().st_mtime_ns + 1_000_000  # a new modification time, whatever the clock's grain
    os.utime(path, ns=(stamp, stamp))


def tile_pixels(client: Any, image_id: str, z: int, x: int, y: int, mosaic: bool = False) -> np.ndarray:
    """RGBA pixels of a tile (a transparent tile where the image has none)."""
    url = (
        f"/api/mosaic/tiles/{z}/{x}/{y}.png?ids={image_id}"
        if mosaic
        else f"/api/images/{image_id}/tiles/{z}/{x}/{y}.png"
    )
    response = client.get(url)
    if response.status_code == 404:
        return np.zeros((256, 256, 4), np.uint8)
    assert response.status_code == 200, response.get_data(as_text=True)
    return np.asarray(PILImage.open(io.BytesIO(response.get_data())).convert("RGBA"))


def around(client: Any, image_id: str, z: int, x: int, y: int) -> np.ndarray:
    """The 3x3 tiles around ``z/x/y`` of an image, as one 768 px array."""
    rows = [
        np.hstack([tile_pixels(client, image_id, z, x + i, y + j) for i in (-1, 0, 1)]) for j in (-1, 0, 1)
    ]
    return np.vstack(rows)


@pytest.mark.parametrize("place", sorted(PLACES))
@pytest.mark.parametrize("zoom,shift_px", [(15, (3, -2)), (17, (-7, 5)), (18, (40, 25))])
def test_an_offset_tile_is_the_unshifted_pixels_moved(
    offsets_app: Any, place: str, zoom: int, shift_px: Any
) -> None:
    client = offsets_app.test_client()
    bounds = json.loads(client.get(f"/api/images/{place}-plain").get_data())["bbox"]
    lon, middle = (bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2
    # Whole pixels of this zoom, as ground metres at the image's middle latitude.
    kx, ky = shift_px
    ground = math.cos(math.radians(middle)) * resolution(zoom)
    set_offsets(offsets_app, {f"{place}-moved": {"dx": kx * ground, "dy": ky * ground}})
    tile = TMS.tile(lon, middle, zoom)
    moved = tile_pixels(client, f"{place}-moved", zoom, tile.x, tile.y)
    reference = around(client, f"{place}-plain", zoom, tile.x, tile.y)
    # East by kx: a shown column c is the file's c - kx; north by ky: a shown row r is the file's r + ky.
    expected = reference[256 + ky : 512 + ky, 256 - kx : 512 - kx]
    assert moved[..., 3].any(), "the tile shows the image"
    same = np.all(moved == expected, axis=-1)
    assert same.mean() > 0.99, f"{same.mean():.4f} of the pixels match"
    unmoved = tile_pixels(client, f"{place}-plain", zoom, tile.x, tile.y)
    assert np.all(unmoved == moved, axis=-1).mean() < 0.9  # it did move


def test_the_feature_point_tilejson_and_mosaic_follow_the_offset(offsets_app: Any) -> None:
    client = offsets_app.test_client()
    set_offsets(offsets_app, {"cogeo-moved": {"dx": 12.0, "dy": 8.0}})
    plain = client.get("/api/images/cogeo-plain").get_json()
    moved = client.get("/api/images/cogeo-moved").get_json()
    assert moved["properties"]["offset"] == {"dx": 12.0, "dy": 8.0, "source": "operator"}
    assert "offset" not in plain["properties"]
    record = client.get("/api/images/cogeo-record").get_json()
    assert record["properties"]["offset"] == {"dx": 5.0, "dy": -3.0, "source": "catalog"}
    # The footprint moved ~12 m east and ~8 m north (degrees at 37.67° N).
    dlon = moved["bbox"][0] - plain["bbox"][0]
    dlat = moved["bbox"][1] - plain["bbox"][1]
    assert dlon * 111_320 * math.cos(math.radians(37.67)) == pytest.approx(12.0, rel=0.02)
    assert dlat * 110_950 == pytest.approx(8.0, rel=0.02)
    tj_plain = client.get("/api/images/cogeo-plain/tilejson.json").get_json()
    tj_moved = client.get("/api/images/cogeo-moved/tilejson.json").get_json()
    assert tj_moved["bounds"][0] - tj_plain["bounds"][0] == pytest.approx(dlon, abs=2e-7)
    # A point of the moved image is the plain image's point 12 m west and 8 m south of it.
    lon, lat = 128.658, 37.6685
    there = client.get(f"/api/images/cogeo-moved/point/{lon},{lat}").get_json()
    source = client.get(f"/api/images/cogeo-plain/point/{lon - dlon},{lat - dlat}").get_json()
    assert there["values"] == source["values"] and there["coordinates"] == [lon, lat]
    # The mosaic of the moved image is its tiles.
    tile = TMS.tile(lon, lat, 17)
    mosaic = tile_pixels(client, "cogeo-moved", 17, tile.x, tile.y, mosaic=True)
    assert np.array_equal(mosaic, tile_pixels(client, "cogeo-moved", 17, tile.x, tile.y))
    # The operator's file changes: the offset with it, and no tile of the old offset is served.
    before = tile_pixels(client, "cogeo-moved", 17, tile.x, tile.y)
    set_offsets(offsets_app, {})
    assert "offset" not in client.get("/api/images/cogeo-moved").get_json()["properties"]
    after = tile_pixels(client, "cogeo-moved", 17, tile.x, tile.y)
    assert np.array_equal(after, tile_pixels(client, "cogeo-plain", 17, tile.x, tile.y))
    assert not np.array_equal(after, before)


def test_a_bad_offset_is_ignored(offsets_app: Any, caplog: pytest.LogCaptureFixture) -> None:
    client = offsets_app.test_client()
    set_offsets(offsets_app, {"cogeo-moved": {"dx": "far", "dy": 1}, "kathmandu-moved": {"dx": 1e9}})
    assert "offset" not in client.get("/api/images/cogeo-moved").get_json()["properties"]
    assert "offset" not in client.get("/api/images/kathmandu-moved").get_json()["properties"]
    offsets_app.offsets_path.write_text("{not json")
    assert client.get("/api/images/cogeo-moved").status_code == 200
