"""Rendering options on the mosaic (per image, before compositing), the mosaic's point, the catalog's
``nodata`` hint, and GDAL's WMTS driver reading a layer with parameters.

A newer image with a black collar and no nodata tag (a lossy upload) lies over an older one; the
reference is rio-tiler's own ``Reader.tile()`` of each image with the same options, first valid
pixel winning. Files are read over HTTP from the tests' Range server.
"""

from __future__ import annotations

import io
import json
import subprocess
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import rasterio
from PIL import Image as PILImage
from rasterio.transform import from_origin
from rasterio.warp import transform as warp
from rasterio.warp import transform_bounds
from rasterio.windows import from_bounds
from rio_tiler.io import Reader
from shapely.geometry import box, mapping

from oam_preview import create_app
from oam_preview.catalog import load_document
from oam_preview.geo.tiles import TMS

from .support.fileserver import FileServer
from .support.processes import free_port, serve_command, stop_process, wait_for_healthz

#: Kathmandu, in EPSG:3857 metres: both images' top-left corner.
X0, Y0 = 9_497_000.0, 3_211_000.0
#: The collar's width, pixels of 0.5 m.
COLLAR = 64


def write_image(path: Path, seed: int, collar: bool) -> Path:
    """A 512² RGB uint8 COG at 0.5 m/px from (X0, Y0), no nodata tag; ``collar``: black edges."""
    from rio_cogeo.cogeo import cog_translate
    from rio_cogeo.profiles import cog_profiles

    rng = np.random.default_rng(seed)
    data = rng.integers(30, 230, (3, 512, 512), dtype=np.uint8)
    data[seed % 3] = np.maximum(data[seed % 3], 200)  # each image its own tint
    if collar:
        data[:, :COLLAR, :] = data[:, -COLLAR:, :] = data[:, :, :COLLAR] = data[:, :, -COLLAR:] = 0
    raw = path.with_suffix(".raw.tif")
    profile = {
        "driver": "GTiff", "width": 512, "height": 512, "count": 3, "dtype": "uint8", "crs": "EPSG:3857",
        "transform": from_origin(X0, Y0, 0.5, 0.5), "tiled": True, "blockxsize": 256, "blockysize": 256,
    }  # fmt: skip
    with rasterio.open(raw, "w", **profile) as dst:
        dst.write(data)
    cog_translate(str(raw), str(path), cog_profiles.get("deflate"), quiet=True)
    raw.unlink()
    return path


#: id: (seed, collar, acquisition date); newest first is collared over plain.
IMAGES = {"collared-2024": (1, True, "2024-03-14"), "plain-2020": (2, False, "2020-06-01")}


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("mosaic-rendering")
    for name, (seed, collar, _) in IMAGES.items():
        write_image(root / f"{name}.tif", seed, collar)
    return root


@pytest.fixture(scope="module")
def server(files):
    with FileServer(files) as running:
        yield running


def catalog_doc(server: FileServer, root: Path, hints: dict[str, float] | None = None) -> dict:
    features = []
    for name, (*_, date) in IMAGES.items():
        with rasterio.open(root / f"{name}.tif") as ds:
            geometry = mapping(box(*transform_bounds(ds.crs, "EPSG:4326", *ds.bounds)))
        properties = {
            "title": name, "source_url": f"{server.url}/{name}.tif", "gsd": 0.5, "provider": "tests",
            "acquisition_start": date, "acquisition_end": date,
        }  # fmt: skip
        if hints and name in hints:
            properties["nodata"] = hints[name]
        features.append({"type": "Feature", "id": name, "geometry": geometry, "properties": properties})
    return {"type": "FeatureCollection", "features": features}


def client_of(server, root, hints=None):
    catalog = load_document(catalog_doc(server, root, hints))
    return create_app({"OAM_PREVIEW_BASEMAP_URL": ""}, catalog=catalog).test_client()


def rgba(body: bytes) -> np.ndarray:
    return np.asarray(PILImage.open(io.BytesIO(body)).convert("RGBA"))


def reference(root: Path, z: int, x: int, y: int, **options) -> tuple[np.ndarray, np.ndarray]:
    """rio-tiler's tiles of each image (newest first) read with ``options``, first valid pixel wins."""
    data = np.zeros((256, 256, 3), np.uint8)
    filled = np.zeros((256, 256), bool)
    for name in IMAGES:
        with Reader(str(root / f"{name}.tif")) as reader:
            img = reader.tile(x, y, z, tilesize=256, **options)
        valid = (img.mask > 0) & ~filled
        data[valid] = np.moveaxis(img.data[:3], 0, -1)[valid]
        filled |= img.mask > 0
    return data, filled


#: 10 m inside the images' north-west corner: in the collar.
COLLAR_POINT = TMS.lnglat(X0 + 10, Y0 - 10)
#: The tile at zoom 17 over that corner: collar and inner pixels.
CORNER_TILE = TMS.tile(*COLLAR_POINT, 17)


def test_nodata_on_mosaic_tiles_lets_the_next_image_show_through_the_collar(server, files):
    client = client_of(server, files)
    t = CORNER_TILE
    url = f"/api/mosaic/tiles/{t.z}/{t.x}/{t.y}.png"
    plain = client.get(url)
    assert plain.headers["X-Mosaic-Images"] == "collared-2024"  # its black collar is opaque
    r = client.get(url + "?nodata=0")
    assert r.status_code == 200
    assert r.headers["X-Mosaic-Images"] == "collared-2024, plain-2020"
    ours = rgba(r.data)
    want, valid = reference(files, t.z, t.x, t.y, nodata=0)
    assert ((ours[..., 3] > 0) == valid).mean() > 0.999
    both = valid & (ours[..., 3] > 0)
    assert np.abs(ours[..., :3][both].astype(int) - want[both].astype(int)).max() <= 1
    # The collar's pixels came from the older image, not black.
    before = rgba(plain.data)
    black = (before[..., :3] == 0).all(axis=-1) & (before[..., 3] == 255)
    assert black.sum() > 1000 and (ours[..., :3][black] > 0).any(axis=-1).mean() > 0.99


def test_rendering_options_are_applied_per_image_before_compositing(server, files):
    client = client_of(server, files)
    t = CORNER_TILE
    r = client.get(
        f"/api/mosaic/tiles/{t.z}/{t.x}/{t.y}.png",
        query_string={"nodata": "0", "expression": "b3;b2;b1", "rescale": "0,128"},
    )
    assert r.status_code == 200, r.data
    ours = rgba(r.data)
    data = np.zeros((256, 256, 3), np.uint8)
    filled = np.zeros((256, 256), bool)
    for name in IMAGES:
        with Reader(str(files / f"{name}.tif")) as reader:
            img = reader.tile(t.x, t.y, t.z, tilesize=256, expression="b3;b2;b1", nodata=0)
        shown = np.moveaxis(img.rescale(in_range=((0, 128),)).data, 0, -1)
        new = (img.mask > 0) & ~filled
        data[new] = shown[new]
        filled |= img.mask > 0
    both = filled & (ours[..., 3] > 0)
    assert ((ours[..., 3] > 0) == filled).mean() > 0.999
    assert np.abs(ours[..., :3][both].astype(int) - data[both].astype(int)).max() <= 1


def test_the_mosaic_cache_key_holds_the_canonical_rendering(server, files):
    client = client_of(server, files)
    t = CORNER_TILE
    url = f"/api/mosaic/tiles/{t.z}/{t.x}/{t.y}.png"
    plain = client.get(url)
    first = client.get(url + "?nodata=0.0&rescale=0,200")
    rendered = client.get("/healthz").get_json()["mosaic"]["tiles_rendered"]
    again = client.get(url + "?rescale=0,200.0&nodata=0")  # another spelling: the same entry
    assert first.headers["ETag"] != plain.headers["ETag"]
    assert again.headers["ETag"] == first.headers["ETag"]
    assert client.get("/healthz").get_json()["mosaic"]["tiles_rendered"] == rendered
    bad = client.get(url + "?rescale=9,1")
    assert bad.status_code == 400 and bad.get_json()["error"]["code"] == "bad_request"


def test_mosaic_tilejson_and_wmts_keep_the_rendering(server, files):
    client = client_of(server, files)
    doc = client.get("/api/mosaic/tilejson.json?nodata=0&rescale=0,200&order=oldest").get_json()
    assert "order=oldest" in doc["tiles"][0] and "nodata=0&rescale=0,200" in doc["tiles"][0]
    xml = client.get("/api/mosaic/WMTSCapabilities.xml?nodata=0&bidx=1&colormap_name=viridis").data.decode()
    assert "bidx=1&amp;nodata=0&amp;colormap_name=viridis" in xml


def test_mosaic_point_names_the_image_that_gives_the_first_valid_pixel(server, files):
    client = client_of(server, files)
    lon, lat = COLLAR_POINT
    r = client.get(f"/api/mosaic/point/{lon},{lat}")
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    doc = r.get_json()
    assert doc["id"] == "collared-2024" and doc["values"] == [0, 0, 0] and doc["checked"] == []
    doc = client.get(f"/api/mosaic/point/{lon},{lat}?nodata=0").get_json()
    assert doc["id"] == "plain-2020" and doc["checked"] == ["collared-2024"] and doc["mask"] == 255
    with rasterio.open(files / "plain-2020.tif") as ds:
        (x,), (y,) = warp("EPSG:4326", ds.crs, [lon], [lat])
        assert doc["values"] == [int(v) for v in next(ds.sample([(x, y)]))]
    old = client.get(f"/api/mosaic/point/{lon},{lat}?order=oldest").get_json()
    assert old["id"] == "plain-2020" and old["checked"] == []
    one = client.get(f"/api/mosaic/point/{lon},{lat}?nodata=0&expression=b1*2").get_json()
    assert one["values"] == [2 * doc["values"][0]]


@pytest.mark.parametrize(
    "where, query, status, code",
    [
        ("0,0", "", 404, "outside_bounds"),
        ("x,1", "", 400, "bad_request"),
        ("200,0", "", 400, "bad_request"),
        ("{lon},{lat}", "?ids=nothing", 404, "not_found"),
        ("{lon},{lat}", "?nodata=black", 400, "bad_request"),
    ],
)
def test_mosaic_point_errors(server, files, where, query, status, code):
    client = client_of(server, files)
    lon, lat = COLLAR_POINT
    r = client.get(f"/api/mosaic/point/{where.format(lon=lon, lat=lat)}{query}")
    assert r.status_code == status and r.get_json()["error"]["code"] == code


def test_a_catalog_nodata_hint_is_used_when_the_request_has_none(server, files):
    client = client_of(server, files, hints={"collared-2024": 0})
    t = CORNER_TILE
    r = client.get(f"/api/mosaic/tiles/{t.z}/{t.x}/{t.y}.png")
    assert r.headers["X-Mosaic-Images"] == "collared-2024, plain-2020"
    tile = f"/api/images/collared-2024/tiles/{t.z}/{t.x}/{t.y}.png"
    hinted = rgba(client.get(tile).data)
    unhinted = client_of(server, files)
    asked = rgba(unhinted.get(tile + "?nodata=0").data)
    assert (hinted == asked).all() and (hinted[..., 3] < rgba(unhinted.get(tile).data)[..., 3]).sum() > 1000
    overridden = rgba(client.get(tile + "?nodata=255").data)  # the request's value wins: the collar shows
    assert (overridden[..., 3] == rgba(unhinted.get(tile).data)[..., 3]).all()
    assert client.get("/api/images/collared-2024").get_json()["properties"]["nodata"] == 0
    lon, lat = COLLAR_POINT
    assert client.get(f"/api/images/collared-2024/point/{lon},{lat}").get_json()["mask"] == 0


def test_stac_raster_bands_nodata_is_the_hint():
    def item(asset: dict) -> dict:
        return {
            "type": "Feature", "stac_version": "1.0.0", "id": "scene", "bbox": [85.3, 27.7, 85.4, 27.8],
            "geometry": mapping(box(85.3, 27.7, 85.4, 27.8)), "properties": {"datetime": "2024-01-01T00:00:00Z"},
            "assets": {"visual": {"href": "https://example.org/scene.tif", "type": "image/tiff", **asset}},
        }  # fmt: skip

    bands = {"raster:bands": [{"nodata": 0}, {"nodata": 0}, {"nodata": 0}]}
    assert load_document(item(bands)).get("scene").nodata_hint() == 0
    assert load_document(item({"nodata": "nan"})).get("scene").nodata_hint() != 0  # NaN
    mixed = {"raster:bands": [{"nodata": 0}, {"nodata": 255}]}
    assert load_document(item(mixed)).get("scene").nodata_hint() is None
    assert load_document(item({})).get("scene").nodata_hint() is None


def crossing_tile(x: float, y: float, z: int):
    """The tile of zoom ``z`` at height ``y`` (EPSG:3857 m) that the line at ``x`` crosses nearest its
    middle: half collar, half image."""
    here = TMS.xy_bounds(TMS.tile(*TMS.lnglat(x, y), z))
    half = (here.right - here.left) / 2

    def off_centre(tile) -> float:
        b = TMS.xy_bounds(tile)
        return abs((x - b.left) / (b.right - b.left) - 0.5)

    return min((TMS.tile(*TMS.lnglat(x + dx, y), z) for dx in (-half, 0.0, half)), key=off_centre)


def test_gdal_wmts_driver_loads_a_layer_with_parameters(server, files, tmp_path):
    """GDAL reads the capabilities of ``?nodata=0&rescale=…`` and gets the tile route's pixels."""
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(catalog_doc(server, files)))
    port = free_port()
    process = subprocess.Popen(
        serve_command(str(path), port, workers=1, threads=4), stderr=subprocess.DEVNULL
    )
    query = "nodata=0&rescale=0,128"
    # GDAL's connection string "WMTS:url,layer=…" splits at commas: the URL's are written %2C.
    connection = f"WMTS:{{base}}/api/images/collared-2024/WMTSCapabilities.xml?{query.replace(',', '%2C')}"
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for_healthz(base, process, timeout=30)
        with urllib.request.urlopen(f"{base}/api/images/collared-2024/tilejson.json?{query}") as answer:
            maxzoom = json.load(answer)["maxzoom"]
        t = crossing_tile(X0 + COLLAR / 2, Y0 - 128, maxzoom)
        with (
            rasterio.Env(GDAL_HTTP_TIMEOUT=20),
            rasterio.open(connection.format(base=base)) as ds,
        ):
            assert ds.crs.to_epsg() == 3857 and ds.count == 4
            window = from_bounds(*TMS.xy_bounds(t), transform=ds.transform).round_offsets().round_lengths()
            assert (window.width, window.height) == (256, 256)  # the layer's finest matrix: one tile
            gdal = np.moveaxis(ds.read(window=window, boundless=True), 0, -1)
        with urllib.request.urlopen(
            f"{base}/api/images/collared-2024/tiles/{t.z}/{t.x}/{t.y}.png?{query}"
        ) as answer:
            ours = rgba(answer.read())
    finally:
        stop_process(process)
    assert (ours[..., 3] == 0).mean() > 0.05 and (ours[..., 3] == 255).mean() > 0.05  # collar, image
    assert (gdal[..., 3] == ours[..., 3]).mean() > 0.999
    shown = ours[..., 3] > 0
    assert np.abs(gdal[..., :3][shown].astype(int) - ours[..., :3][shown].astype(int)).max() <= 1


def test_oam_and_geojson_records_carry_the_hint():
    oam = {
        "meta": {"found": 2},
        "results": [
            {"_id": "a1", "uuid": "https://example.org/a.tif", "bbox": [85.3, 27.7, 85.4, 27.8], "nodata": 0},
            {"_id": "b2", "uuid": "https://example.org/b.tif", "bbox": [85.3, 27.7, 85.4, 27.8],
             "properties": {"nodata": "nan"}},
        ],
    }  # fmt: skip
    catalog = load_document(oam)
    assert catalog.get("a1").nodata_hint() == 0
    hint = catalog.get("b2").nodata_hint()
    assert hint is not None and hint != hint  # NaN
    geojson = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "id": "c3", "geometry": None,
             "properties": {"source_url": "https://example.org/c.tif", "nodata": "black"}},
        ],
    }  # fmt: skip
    assert load_document(geojson).get("c3").nodata_hint() is None  # not a number: no hint


def test_mosaic_point_asks_at_most_the_cap(server, files):
    catalog = load_document(catalog_doc(server, files))
    settings = {"OAM_PREVIEW_BASEMAP_URL": "", "OAM_PREVIEW_MOSAIC_MAX_IMAGES": 1}
    client = create_app(settings, catalog=catalog).test_client()
    lon, lat = COLLAR_POINT
    r = client.get(f"/api/mosaic/point/{lon},{lat}?nodata=0")  # the collar, and no second image asked
    assert r.status_code == 404 and r.get_json()["error"]["code"] == "outside_bounds"
    assert client.get(f"/api/mosaic/point/{lon},{lat}").get_json()["id"] == "collared-2024"
