"""Rendering options (TiTiler's names): nodata, bidx, rescale; pixels compared with rio-tiler's own."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
from PIL import Image as PILImage
from rasterio.transform import from_origin
from rio_tiler.io import Reader
from werkzeug.datastructures import MultiDict

from oam_preview import create_app
from oam_preview.catalog import load_document
from oam_preview.errors import BadRequest
from oam_preview.geo.tiles import TMS
from oam_preview.tiler.rendering import Rendering

from .support.fileserver import FileServer
from .support.geotiffs import GEOTIFFS


def write_collared(path: Path) -> Path:
    """A 768² RGB uint8 aerial-like GeoTIFF over Kathmandu with a 96 px black collar and no nodata
    tag: what a lossy upload of a rotated survey looks like."""
    rng = np.random.default_rng(3)
    data = rng.integers(40, 220, (3, 768, 768), dtype=np.uint8)
    data[:, :96, :] = data[:, -96:, :] = data[:, :, :96] = data[:, :, -96:] = 0
    profile = {
        "driver": "GTiff", "width": 768, "height": 768, "count": 3, "dtype": "uint8", "crs": "EPSG:3857",
        "transform": from_origin(9497000.0, 3211000.0, 0.6, 0.6), "tiled": True, "blockxsize": 256,
        "blockysize": 256, "photometric": "RGB",
    }  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
        dst.build_overviews([2, 4])
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("rendering")
    write_collared(root / "collared.tif")
    shutil.copy(GEOTIFFS / "rgb_uint16.tif", root / "rgb_uint16.tif")
    return root


@pytest.fixture(scope="module")
def client(files):
    with FileServer(files) as server:
        doc = {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "id": p.stem,
                    "geometry": None,
                    "properties": {"source_url": f"{server.url}/{p.name}"},
                }
                for p in sorted(files.glob("*.tif"))
            ],
        }
        yield create_app({"OAM_PREVIEW_BASEMAP_URL": ""}, catalog=load_document(doc)).test_client()


def rgba(body: bytes) -> np.ndarray:
    return np.asarray(PILImage.open(io.BytesIO(body)).convert("RGBA"))


def centre_tile(path: Path, zoom: int):
    with Reader(str(path)) as reader:
        w, s, e, n = reader.get_geographic_bounds("epsg:4326")
    return TMS.tile((w + e) / 2, (s + n) / 2, zoom)


# -- parsing ----------------------------------------------------------------------------------


def test_two_spellings_of_one_rendering_are_one_canonical_form():
    a = Rendering.from_args(MultiDict([("bidx", "3"), ("bidx", "2"), ("bidx", "1"), ("nodata", "0.0")]))
    b = Rendering.from_args(MultiDict([("bidx", "3,2,1"), ("nodata", "0")]))
    assert a == b and a.key() == b.key() == "bidx=3,2,1&nodata=0"
    assert Rendering.from_args(MultiDict([("nodata", "nan")])).key() == "nodata=nan"
    assert Rendering.from_args(MultiDict()).key() == ""


@pytest.mark.parametrize(
    "args, named",
    [
        ([("nodata", "black")], "nodata"),
        ([("nodata", "inf")], "nodata"),
        ([("bidx", "0")], "bidx"),
        ([("bidx", "1,2")], "bidx"),
        ([("bidx", "x")], "bidx"),
        ([("rescale", "5")], "rescale"),
        ([("rescale", "9,1")], "rescale"),
        ([("bidx", "1,2,3"), ("rescale", "0,1"), ("rescale", "0,2")], "rescale"),
    ],
)
def test_a_bad_value_names_the_parameter(args, named):
    with pytest.raises(BadRequest, match=named):
        Rendering.from_args(MultiDict(args))


def test_bad_values_answer_400_json(client, files):
    t = centre_tile(files / "collared.tif", 18)
    for query in ("nodata=black", "bidx=7", "rescale=9,1"):
        r = client.get(f"/api/images/collared/tiles/{t.z}/{t.x}/{t.y}.png?{query}")
        assert r.status_code == 400 and r.get_json()["error"]["code"] == "bad_request", query
    r = client.get("/api/images/collared/thumbnail.png?bidx=4")
    assert r.status_code == 400 and "3 bands" in r.get_json()["error"]["message"]


# -- pixels against rio-tiler --------------------------------------------------------------------------


def test_nodata_makes_the_collar_transparent_as_rio_tiler_does(client, files):
    path = files / "collared.tif"
    # 62 m inside the north-west corner: just past the 57.6 m collar (the image is in EPSG:3857).
    lon, lat = TMS.lnglat(9497000.0 + 62, 3211000.0 - 62)
    compared = collars = 0
    for zoom in (16, 17, 18):
        t = TMS.tile(lon, lat, zoom)
        plain = rgba(client.get(f"/api/images/collared/tiles/{t.z}/{t.x}/{t.y}.png").data)
        r = client.get(f"/api/images/collared/tiles/{t.z}/{t.x}/{t.y}.png?nodata=0")
        assert r.status_code == 200
        ours = rgba(r.data)
        with Reader(str(path)) as reader:
            ref = reader.tile(t.x, t.y, t.z, tilesize=256, nodata=0)
        assert ((ours[..., 3] > 0) == (ref.mask > 0)).mean() > 0.999, zoom
        # Without nodata the collar is black and opaque; with it, transparent.
        collar = (plain[..., 3] > 0) & (ours[..., 3] == 0)
        assert (plain[..., :3][collar] == 0).all(axis=1).mean() > 0.99  # black
        collars += int(collar.sum())
        valid = ref.mask > 0
        compared += int(valid.sum())
        if valid.any():
            assert np.abs(ours[..., :3][valid].astype(int) - np.moveaxis(ref.data, 0, -1)[valid]).max() <= 1
    assert compared > 10_000 and collars > 10_000


def test_nodata_on_the_thumbnail(client, files):
    ours = rgba(client.get("/api/images/collared/thumbnail.png?nodata=0&max_size=128").data)
    with Reader(str(files / "collared.tif")) as reader:
        ref = reader.preview(max_size=128, nodata=0)
    assert ours.shape[:2] == ref.mask.shape
    assert abs((ours[..., 3] == 0).mean() - (ref.mask == 0).mean()) < 0.02  # the 1/8 collar each side
    assert abs((ours[..., 3] == 0).mean() - (1 - 0.75**2)) < 0.03


def test_bidx_and_rescale_equal_rio_tilers_rescaled_tile(client, files):
    path = files / "rgb_uint16.tif"
    t = centre_tile(path, 9)
    r = client.get(f"/api/images/rgb_uint16/tiles/{t.z}/{t.x}/{t.y}.png?bidx=3,2,1&rescale=0,20000")
    assert r.status_code == 200
    ours = rgba(r.data)
    with Reader(str(path)) as reader:
        ref = reader.tile(t.x, t.y, t.z, tilesize=256, indexes=(3, 2, 1))
    ref_data = ref.rescale(in_range=((0, 20000),)).data
    valid = ref.mask > 0
    assert ((ours[..., 3] > 0) == valid).mean() > 0.999
    assert (
        np.abs(ours[..., :3][valid].astype(int) - np.moveaxis(ref_data, 0, -1)[valid].astype(int)).max() <= 1
    )


def test_one_band_is_grey(client, files):
    t = centre_tile(files / "rgb_uint16.tif", 9)
    r = client.get(f"/api/images/rgb_uint16/tiles/{t.z}/{t.x}/{t.y}.png?bidx=2&rescale=0,30000")
    img = PILImage.open(io.BytesIO(r.data))
    assert r.status_code == 200 and img.mode in ("LA", "L")


def test_spellings_share_one_cache_entry_and_urls_keep_the_rendering(client, files):
    t = centre_tile(files / "collared.tif", 18)
    base = f"/api/images/collared/tiles/{t.z}/{t.x}/{t.y}.png"
    first = client.get(base + "?nodata=0.0&bidx=1&bidx=2&bidx=3")
    hits = client.get("/healthz").get_json()["cache"]["hits"]
    again = client.get(base + "?bidx=1,2,3&nodata=0")
    assert first.headers["ETag"] == again.headers["ETag"]
    assert client.get("/healthz").get_json()["cache"]["hits"] == hits + 1
    tj = client.get("/api/images/collared/tilejson.json?nodata=0&bidx=3,2,1").get_json()
    assert "?bidx=3,2,1&nodata=0" in tj["tiles"][0]
    feature = client.get("/api/images/collared?rescale=0,200").get_json()
    assert (
        "rescale=0,200" in feature["properties"]["tiles"]
        and "rescale=0,200" in feature["properties"]["thumbnail"]
    )
    wmts = client.get("/api/images/collared/WMTSCapabilities.xml?nodata=0").data.decode()
    assert "nodata=0" in wmts


# -- point values -------------------------------------------------------------------------------


def test_point_values_equal_rasterios_sample(client, files):
    path = files / "rgb_uint16.tif"
    with rasterio.open(path) as ds:
        x, y = ds.xy(100, 120)  # a pixel centre, in the image's CRS
        from rasterio.warp import transform as warp

        (lon,), (lat,) = warp(ds.crs, "EPSG:4326", [x], [y])
        want = [int(v) for v in next(ds.sample([(x, y)]))]
        crs = ds.crs.to_string()
    r = client.get(f"/api/images/rgb_uint16/point/{lon},{lat}")
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    doc = r.get_json()
    assert doc["values"] == want and doc["bands"] == [1, 2, 3] and doc["crs"] == crs
    assert doc["crs_coordinates"] == pytest.approx([x, y], abs=1e-3)
    assert doc["mask"] == (255 if all(want) else 0)
    one = client.get(f"/api/images/rgb_uint16/point/{lon},{lat}?bidx=2").get_json()
    assert one["values"] == [want[1]] and one["bands"] == [2]


def test_point_in_the_collar_with_nodata(client, files):
    lon, lat = TMS.lnglat(9497000.0 + 10, 3211000.0 - 10)  # 10 m inside the corner: the black collar
    plain = client.get(f"/api/images/collared/point/{lon},{lat}").get_json()
    assert plain["values"] == [0, 0, 0] and plain["mask"] == 255
    masked = client.get(f"/api/images/collared/point/{lon},{lat}?nodata=0").get_json()
    assert masked["mask"] == 0 and masked["values"] == [None, None, None]


@pytest.mark.parametrize("where, status, code", [("0,0", 404, "outside_bounds"), ("x,1", 400, "bad_request"),
                                                 ("200,0", 400, "bad_request"), ("nan,nan", 400, "bad_request")])  # fmt: skip
def test_point_errors(client, where, status, code):
    r = client.get(f"/api/images/collared/point/{where}")
    assert r.status_code == status and r.get_json()["error"]["code"] == code


# -- statistics ---------------------------------------------------------------------------------


def test_statistics_equal_numpy_on_the_same_read(client, files):
    from rio_tiler.reader import read as rio_read

    from oam_preview.tiler.budget import thumbnail_size
    from oam_preview.tiler.description import STATS_SIZE

    path = files / "rgb_uint16.tif"
    r = client.get("/api/images/rgb_uint16/statistics")
    assert r.status_code == 200 and r.headers.get("ETag")
    doc = r.get_json()
    with rasterio.open(path) as ds:
        width, height = thumbnail_size(ds.width, ds.height, STATS_SIZE)
        img = rio_read(ds, width=width, height=height, indexes=(1, 2, 3))
    for i, band in enumerate(img.array, start=1):
        values = band.compressed()
        got = doc[f"b{i}"]
        assert got["min"] == values.min() and got["max"] == values.max()
        assert got["mean"] == pytest.approx(values.mean()) and got["std"] == pytest.approx(values.std())
        assert got["percentile_2"] == pytest.approx(np.percentile(values, 2))
        assert got["percentile_98"] == pytest.approx(np.percentile(values, 98))
        assert got["valid_percent"] == pytest.approx(100 * values.size / band.size, abs=0.01)
        assert got["histogram"][0] == np.histogram(values, bins=10)[0].tolist()
    assert 60 < doc["b1"]["valid_percent"] < 80  # the file's nodata=0 (30 % of it)


def test_statistics_with_bidx_and_nodata(client):
    doc = client.get("/api/images/collared/statistics?bidx=2").get_json()
    assert list(doc) == ["id", "b2"] and doc["b2"]["min"] == 0
    masked = client.get("/api/images/collared/statistics?bidx=2&nodata=0").get_json()["b2"]
    assert masked["min"] >= 40 and masked["valid_percent"] == pytest.approx(100 * 0.75**2, abs=1.5)


# -- colormaps ----------------------------------------------------------------------------------


def test_colormap_name_equals_rio_tilers_colormapped_tile(client, files):
    from rio_tiler.colormap import apply_cmap, cmap

    path = files / "rgb_uint16.tif"
    t = centre_tile(path, 9)
    url = f"/api/images/rgb_uint16/tiles/{t.z}/{t.x}/{t.y}.png?bidx=1&rescale=0,20000&colormap_name=viridis"
    r = client.get(url)
    assert r.status_code == 200
    ours = rgba(r.data)
    with Reader(str(path)) as reader:
        ref = reader.tile(t.x, t.y, t.z, tilesize=256, indexes=(1,))
    data, alpha = apply_cmap(ref.rescale(in_range=((0, 20000),)).data, cmap.get("viridis"))
    valid = (ref.mask > 0) & (alpha > 0)
    assert ((ours[..., 3] > 0) == valid).mean() > 0.999
    assert np.abs(ours[..., :3][valid].astype(int) - np.moveaxis(data, 0, -1)[valid].astype(int)).max() <= 3


def test_colormap_errors_and_legend(client, files):
    t = centre_tile(files / "collared.tif", 18)
    tile = f"/api/images/collared/tiles/{t.z}/{t.x}/{t.y}.png"
    r = client.get(tile + "?colormap_name=nope")
    assert r.status_code == 400 and "colormap_name" in r.get_json()["error"]["message"]
    r = client.get(tile + "?colormap_name=viridis")  # three bands shown
    assert r.status_code == 400 and "one band" in r.get_json()["error"]["message"]
    assert client.get(tile + "?colormap_name=viridis&bidx=1").status_code == 200
    legend = client.get("/api/colormaps/viridis").get_json()
    assert len(legend["stops"]) == 256 and legend["stops"][0] == [0, [68, 1, 84, 255]]
    assert "viridis" in client.get("/api/colormaps").get_json()["colormaps"]
    assert client.get("/api/colormaps/nope").status_code == 404


# -- expression (band math) ---------------------------------------------------------------------


def test_expression_canonical_form_and_the_bands_it_reads():
    a = Rendering.from_args(MultiDict([("expression", "(B1 - b3) / (b1+B3)"), ("rescale", "-1,1")]))
    b = Rendering.from_args(MultiDict([("expression", "(b1-b3)/(b1+b3)"), ("rescale", "-1.0,1")]))
    assert a == b and a.key() == b.key()
    assert a.expression is not None and a.expression.text == "(b1-b3)/(b1+b3)"
    assert a.bands((1, 2, 3), 3) == (1, 3)  # band 2 is not read
    assert Rendering.from_args(MultiDict([("expression", "b3;b2;b1")])).bands((1, 2, 3), 3) == (1, 2, 3)
    assert Rendering.from_args(MultiDict([("expression", "")])) == Rendering()


@pytest.mark.parametrize(
    "expression",
    [
        "__import__('os').system('id')", "b1.real", "foo+1", "b1;b2", "1+1", "sum(b1)", "b1[0]",
        "lambda: b1", "b1 if b2 else b3", "b01", "open(b1)", "b1 and b2", "b1" * 300,
    ],
)  # fmt: skip
def test_a_bad_expression_is_a_400_naming_it(client, files, expression):
    t = centre_tile(files / "collared.tif", 18)
    r = client.get(
        f"/api/images/collared/tiles/{t.z}/{t.x}/{t.y}.png", query_string={"expression": expression}
    )
    assert r.status_code == 400 and r.get_json()["error"]["code"] == "bad_request"
    assert "expression" in r.get_json()["error"]["message"]


def test_expression_conflicts_and_needs(client, files):
    t = centre_tile(files / "rgb_uint16.tif", 9)
    tile = f"/api/images/rgb_uint16/tiles/{t.z}/{t.x}/{t.y}.png"
    for query, says in (
        ({"expression": "b1", "bidx": "1"}, "bidx"),
        ({"expression": "b1*2"}, "rescale"),  # uint16: its range is unknown
        ({"expression": "b1;b2;b3", "colormap_name": "viridis", "rescale": "0,1"}, "colormap_name"),
        ({"expression": "b1;b2;b3", "rescale": ["0,1", "0,2"]}, "rescale"),
        ({"expression": "b4", "rescale": "0,1"}, "b4"),
    ):
        r = client.get(tile, query_string=query)
        assert r.status_code == 400 and says in r.get_json()["error"]["message"], query


def test_expression_equals_rio_tilers_tile_rescaled_and_colormapped(client, files):
    from rio_tiler.colormap import apply_cmap, cmap

    path = files / "rgb_uint16.tif"
    t = centre_tile(path, 9)
    expression = "(b1-b3)/(b1+b3)"
    r = client.get(
        f"/api/images/rgb_uint16/tiles/{t.z}/{t.x}/{t.y}.png",
        query_string={"expression": expression, "rescale": "-0.5,0.5", "colormap_name": "viridis"},
    )
    assert r.status_code == 200
    ours = rgba(r.data)
    with Reader(str(path)) as reader:
        ref = reader.tile(t.x, t.y, t.z, tilesize=256, expression=expression)
    data, alpha = apply_cmap(ref.rescale(in_range=((-0.5, 0.5),)).data, cmap.get("viridis"))
    valid = (ref.mask > 0) & (alpha > 0)
    assert valid.mean() > 0.3
    assert ((ours[..., 3] > 0) == valid).mean() > 0.999
    assert np.abs(ours[..., :3][valid].astype(int) - np.moveaxis(data, 0, -1)[valid].astype(int)).max() <= 3


def test_three_outputs_are_rgb_as_rio_tiler_gives_them(client, files):
    path = files / "rgb_uint16.tif"
    t = centre_tile(path, 9)
    expression = "b3;b2*1.5;b1"
    r = client.get(
        f"/api/images/rgb_uint16/tiles/{t.z}/{t.x}/{t.y}.png",
        query_string={"expression": expression, "rescale": "0,20000"},
    )
    ours = rgba(r.data)
    with Reader(str(path)) as reader:
        ref = reader.tile(t.x, t.y, t.z, tilesize=256, expression=expression)
    ref_data = ref.rescale(in_range=((0, 20000),)).data
    valid = ref.mask > 0
    assert ((ours[..., 3] > 0) == valid).mean() > 0.999
    assert (
        np.abs(ours[..., :3][valid].astype(int) - np.moveaxis(ref_data, 0, -1)[valid].astype(int)).max() <= 1
    )


def test_an_8_bit_expression_without_rescale_is_shown_as_0_255(client, files):
    t = centre_tile(files / "collared.tif", 18)
    tile = f"/api/images/collared/tiles/{t.z}/{t.x}/{t.y}.png"
    swapped = rgba(client.get(tile, query_string={"expression": "b3;b2;b1"}).data)
    plain = rgba(client.get(tile).data)
    assert (swapped[..., :3] == plain[..., 2::-1]).all()
    brighter = rgba(client.get(tile, query_string={"expression": "b1*2"}).data)[..., 0].astype(int)
    assert (brighter == np.minimum(plain[..., 0].astype(int) * 2, 255)).all()


def test_expression_on_the_thumbnail_equals_rio_tilers_read(client, files):
    from rio_tiler.reader import read as rio_read

    from oam_preview.tiler.budget import thumbnail_size

    path = files / "collared.tif"  # internal overviews: the thumbnail is an averaged read of one
    expression = "b1-b2"
    r = client.get(
        "/api/images/collared/thumbnail.png",
        query_string={"expression": expression, "rescale": "-100,100", "max_size": 128, "nodata": 0},
    )
    assert r.status_code == 200
    ours = np.asarray(PILImage.open(io.BytesIO(r.data)).convert("LA"))
    with rasterio.open(path) as ds:  # rio-tiler's read at the thumbnail's size, then its expression
        width, height = thumbnail_size(ds.width, ds.height, 128)
        read = rio_read(ds, width=width, height=height, indexes=(1, 2), resampling_method="average", nodata=0)
        ref = read.apply_expression(expression)
    ref_data = ref.rescale(in_range=((-100, 100),)).data[0]
    assert ours.shape[:2] == ref_data.shape
    assert ((ours[..., 1] > 0) == (ref.mask > 0)).mean() > 0.99
    valid = (ref.mask > 0) & (ours[..., 1] > 0)
    assert valid.mean() > 0.5
    assert np.abs(ours[..., 0][valid].astype(int) - ref_data[valid].astype(int)).max() <= 1


def test_statistics_and_point_of_an_expression(client, files):
    from rasterio.warp import transform as warp
    from rio_tiler.reader import read as rio_read

    from oam_preview.tiler.budget import thumbnail_size
    from oam_preview.tiler.description import STATS_SIZE

    path = files / "rgb_uint16.tif"
    expression = "(b1-b3)/(b1+b3)"
    doc = client.get("/api/images/rgb_uint16/statistics", query_string={"expression": expression}).get_json()
    assert list(doc) == ["id", expression]
    with rasterio.open(path) as ds:
        width, height = thumbnail_size(ds.width, ds.height, STATS_SIZE)
        img = rio_read(ds, width=width, height=height, indexes=(1, 3))
        values = img.apply_expression(expression).array[0].compressed()
        got = doc[expression]
        assert got["mean"] == pytest.approx(values.mean()) and got["min"] == pytest.approx(values.min())
        assert got["percentile_98"] == pytest.approx(np.percentile(values, 98))
        x, y = ds.xy(100, 120)
        (lon,), (lat,) = warp(ds.crs, "EPSG:4326", [x], [y])
        b1, _, b3 = (float(v) for v in next(ds.sample([(x, y)])))
    point = client.get(f"/api/images/rgb_uint16/point/{lon},{lat}", query_string={"expression": expression})
    found = point.get_json()
    assert found["bands"] == [1, 3] and found["expression"] == [expression]
    assert found["values"] == [pytest.approx((b1 - b3) / (b1 + b3))]


def test_an_opaque_colormapped_png_is_a_palette_png_of_the_same_colours(client, files):
    from rio_tiler.colormap import apply_cmap, cmap

    path = files / "collared.tif"
    t = centre_tile(path, 18)  # inside the collar: opaque
    r = client.get(
        f"/api/images/collared/tiles/{t.z}/{t.x}/{t.y}.png?bidx=2&rescale=40,220&colormap_name=magma"
    )
    img = PILImage.open(io.BytesIO(r.data))
    assert img.mode == "P"  # one byte a pixel
    with Reader(str(path)) as reader:
        ref = reader.tile(t.x, t.y, t.z, tilesize=256, indexes=(2,))
    data, _ = apply_cmap(ref.rescale(in_range=((40, 220),)).data, cmap.get("magma"))
    assert np.abs(rgba(r.data)[..., :3].astype(int) - np.moveaxis(data, 0, -1).astype(int)).max() <= 3


def test_the_lookup_stretch_equals_the_arithmetic_one():
    from oam_preview.tiler.render import _stretched, stretch

    rng = np.random.default_rng(0)
    for values, low, high in (
        (rng.integers(0, 256, (64, 64), dtype=np.uint8), 40.0, 220.0),
        (rng.integers(0, 65536, (64, 64), dtype=np.uint16), 300.0, 3500.5),
    ):
        assert (stretch(values, low, high) == _stretched(values, low, high)).all()


def test_a_float_stretch_clips_and_sends_nan_and_infinities_to_the_ends():
    from oam_preview.tiler.render import stretch

    heights = np.array([[np.nan, -np.inf, np.inf, 700.0, 800.0, 1150.0, 1500.0, 2000.0]], dtype=np.float32)
    assert stretch(heights, 800.0, 1500.0).tolist() == [[0, 0, 255, 0, 0, 127, 255, 255]]
    assert stretch(heights, 800.0, 1500.0).dtype == np.uint8
    assert heights[0, 3] == 700.0 and np.isnan(heights[0, 0])  # the input is left as it was


def test_colormap_planes_are_the_lookup_table_band_by_band():
    from oam_preview.tiler.rendering import colormap_lut, colormap_planes

    indexes = np.arange(256, dtype=np.uint8).reshape(16, 16)
    rgb = np.take(colormap_planes("terrain"), indexes, axis=1)
    assert rgb.shape == (3, 16, 16) and rgb.flags.c_contiguous
    assert (np.moveaxis(rgb, 0, -1) == colormap_lut("terrain")[indexes, :3]).all()
