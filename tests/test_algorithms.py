"""``algorithm=`` (hillshade, slope, terrainrgb, terrarium, normalizedIndex) and JSON ``colormap=``,
compared with TiTiler's own implementation (titiler.core's algorithm classes and colormap parsing,
rio-tiler's ``apply_cmap``) on the same reads; hillshade tiles against the hillshade of the whole
image in the zoom's grid (no seams); terrain-RGB tiles decoded by GDAL against the DSM.
"""

from __future__ import annotations

import io
import json
import math
import urllib.parse
from pathlib import Path

import numpy as np
import pytest
import rasterio
from PIL import Image as PILImage
from rio_tiler.colormap import apply_cmap
from rio_tiler.io import Reader
from rio_tiler.models import ImageData
from titiler.core.algorithm import HillShade, NormalizedIndex, Slope, TerrainRGB, Terrarium
from titiler.core.dependencies import ColorMapParams
from werkzeug.datastructures import MultiDict

from oam_preview import create_app
from oam_preview.catalog import load_document
from oam_preview.errors import BadRequest
from oam_preview.geo.tiles import TMS, xy_bounds
from oam_preview.tiler.algorithms import Algorithm
from oam_preview.tiler.json_colormap import MAX_ENTRIES, MAX_LENGTH, JsonColormap
from oam_preview.tiler.rendering import Rendering

from .support.fileserver import FileServer
from .support.terrain import whole_image_hillshade, write_dem, write_multispectral

#: The zoom of the seam test: 1.19 m pixels over the DEM's 1 m ones (read at full resolution).
ZOOM = 17


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("algorithms")
    write_dem(root / "dem.tif")
    write_multispectral(root / "survey.tif")
    return root


def footprint(path: Path) -> dict:
    with Reader(str(path)) as reader:
        w, s, e, n = reader.get_geographic_bounds("epsg:4326")
    return {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}


@pytest.fixture(scope="module")
def client(files):
    with FileServer(files) as server:
        doc = {
            "type": "FeatureCollection",
            "features": [
                {"type": "Feature", "id": p.stem, "geometry": footprint(p),
                 "properties": {"source_url": f"{server.url}/{p.name}"}}
                for p in sorted(files.glob("*.tif"))
            ],
        }  # fmt: skip
        yield create_app({"OAM_PREVIEW_BASEMAP_URL": ""}, catalog=load_document(doc)).test_client()


def query(**params: object) -> str:
    """A query string; dicts and lists as JSON (with spaces: the server canonicalises it)."""
    return urllib.parse.urlencode(
        {k: json.dumps(v) if isinstance(v, dict | list) else v for k, v in params.items()}
    )


def rgba(body: bytes) -> np.ndarray:
    return np.asarray(PILImage.open(io.BytesIO(body)).convert("RGBA"))


def centre_tile(path: Path, zoom: int = ZOOM):
    with Reader(str(path)) as reader:
        w, s, e, n = reader.get_geographic_bounds("epsg:4326")
    return TMS.tile((w + e) / 2, (s + n) / 2, zoom)


def tile_read(path: Path, tile, buffer: float | None = None, indexes=None) -> ImageData:
    """rio-tiler's own read of ``tile`` of the file (as TiTiler reads it, ``buffer`` and all)."""
    with Reader(str(path), tms=TMS) as reader:
        return reader.tile(tile.x, tile.y, tile.z, buffer=buffer, indexes=indexes)


def get_tile(client, name: str, tile, params: str, fmt: str = "png") -> np.ndarray:
    r = client.get(f"/api/images/{name}/tiles/{tile.z}/{tile.x}/{tile.y}.{fmt}?{params}")
    assert r.status_code == 200, r.get_data(as_text=True)
    return rgba(r.data)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


# -- algorithms in-process: the same ImageData given to TiTiler's classes and to ours ---------------


def ours(
    img: ImageData, name: str, params: dict | None = None, buffer: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    algorithm = Algorithm.parse(name, json.dumps(params) if params else None)
    size = (abs(img.transform.a), abs(img.transform.e))
    invalid = np.ma.getmaskarray(img.array).any(axis=0)
    return algorithm.apply(img.array.data, invalid, size, buffer)


@pytest.mark.parametrize(
    "params",
    [{}, {"azimuth": 315, "angle_altitude": 30}, {"azimuth": 0, "angle_altitude": 80, "z_exaggeration": 3}],
)
def test_hillshade_equals_titilers_on_the_same_read(files, params):
    tile = centre_tile(files / "dem.tif")
    img = tile_read(files / "dem.tif", tile, buffer=3)  # TiTiler's default buffer
    theirs = HillShade(**params, buffer=3)(img)
    values, invalid = ours(img, "hillshade", params, buffer=3)
    assert values.shape == theirs.array.shape == (1, 256, 256)
    valid = ~invalid & ~np.ma.getmaskarray(theirs.array)[0]
    assert valid.mean() > 0.99
    # Ours computes in float64, TiTiler in the DEM's float32: a truncation may differ by one level.
    assert np.abs(values[0][valid].astype(int) - theirs.array.data[0][valid].astype(int)).max() <= 1


def test_hillshade_masks_a_nodata_pixel_and_its_neighbours(files):
    tile = centre_tile(files / "dem.tif", 14)  # the nodata corner is in this tile
    img = tile_read(files / "dem.tif", tile, buffer=1)
    values, invalid = ours(img, "hillshade", buffer=1)
    nodata = np.ma.getmaskarray(img.array)[0][1:-1, 1:-1]
    assert nodata.any() and not nodata.all()
    assert invalid[nodata].all()  # TiTiler shades a nodata pixel whose neighbours are valid: not here
    with np.errstate(invalid="ignore"):  # TiTiler's own sqrt over the nodata heights
        theirs = np.ma.getmaskarray(HillShade(buffer=1)(img).array)[0]
    assert theirs.any() and invalid[theirs].all()  # TiTiler's masked pixels are masked here too


def test_slope_equals_titilers_on_the_same_read(files):
    tile = centre_tile(files / "dem.tif")
    img = tile_read(files / "dem.tif", tile, buffer=3)
    for params in ({}, {"z_exaggeration": 2.5}):
        theirs = Slope(**params, buffer=3)(img)
        values, invalid = ours(img, "slope", params, buffer=3)
        valid = ~invalid & ~np.ma.getmaskarray(theirs.array)[0]
        np.testing.assert_allclose(values[0][valid], theirs.array.data[0][valid], atol=1e-3)


@pytest.mark.parametrize(
    ("name", "reference", "params"),
    [
        ("terrainrgb", TerrainRGB, {}),
        ("terrainrgb", TerrainRGB, {"interval": 1, "baseval": -5000, "nodata_height": 0}),
        ("terrarium", Terrarium, {}),
        ("terrarium", Terrarium, {"nodata_height": 0}),
    ],
)
def test_encoded_heights_equal_titilers(files, name, reference, params):
    tile = centre_tile(files / "dem.tif", 14)  # with the nodata corner
    img = tile_read(files / "dem.tif", tile)
    theirs = reference(**params)(img)
    values, invalid = ours(img, name, params)
    their_invalid = np.ma.getmaskarray(theirs.array)[0]
    np.testing.assert_array_equal(invalid, their_invalid)
    decode = (
        (lambda v: v[0] * 65536 + v[1] * 256 + v[2])
        if name == "terrainrgb"
        else (lambda v: v[0] * 256 + v[1] + v[2] / 256)
    )
    ours_decoded = decode(values.astype(np.float64))[~invalid]
    theirs_decoded = decode(theirs.array.data.astype(np.float64))[~invalid]
    # TerrainRGB: the same 24-bit integers. Terrarium: TiTiler adds 32768 in the DEM's float32, so
    # its fraction byte carries float32's rounding (2^-8 m at these heights); ours is float64's.
    np.testing.assert_allclose(ours_decoded, theirs_decoded, atol=0 if name == "terrainrgb" else 2**-7)


def test_normalized_index_equals_titilers(files):
    path = files / "survey.tif"
    tile = centre_tile(path, 18)
    img = tile_read(path, tile, indexes=(1, 4))
    theirs = NormalizedIndex()(img)
    values, invalid = ours(img, "normalizedIndex")
    np.testing.assert_allclose(values[0][~invalid], theirs.array.data[0][~invalid], rtol=1e-6)
    assert values[0][:, :100].mean() > 0.5 > values[0][:, -100:].mean()  # vegetation on the left


# -- colormaps in-process: TiTiler's parsing and rio-tiler's apply_cmap on the same values ----------

COLORMAPS = [
    {"1": [255, 0, 0], "2": "#00ff0080", "7": [0, 0, 255, 255], "-3": "#abc"},
    {str(v): [v, 255 - v, (v * 7) % 256, 255] for v in range(256)},  # a full table: rio-tiler's lookup table
    [[[800, 1000], [0, 97, 71, 255]], [[1000, 1200], "#e8d77a"], [[1100, 1250.5], [200, 100, 0, 128]],
     [[1250.5, 1400], [255, 255, 255, 255]]],  # overlapping: the later interval wins
    [[[-1, 0], [215, 25, 28]], [[0, 0.5], [255, 255, 191]], [[0.5, 1.0001], [26, 150, 65]]],
]  # fmt: skip


@pytest.mark.parametrize("colormap", COLORMAPS)
def test_json_colormap_equals_titilers_parsing_and_rio_tilers_colours(colormap):
    text = json.dumps(colormap)
    theirs = ColorMapParams(colormap_name=None, colormap=text)
    rng = np.random.default_rng(0)
    if isinstance(colormap, dict) and len(colormap) == 256:
        samples = [rng.integers(0, 256, (1, 64, 64)).astype(np.uint8)]
    elif isinstance(colormap, dict):
        samples = [
            rng.integers(-4, 9, (1, 64, 64)).astype(np.int16),
            rng.integers(0, 9, (1, 64, 64)).astype(np.uint8),
        ]
    else:
        samples = [
            rng.uniform(-1.2, 1.2, (1, 64, 64)),
            rng.uniform(700, 1500, (1, 64, 64)).astype(np.float32),
        ]
    mine = JsonColormap.parse(text)
    for data in samples:
        rgb, alpha = apply_cmap(data, theirs)
        got = mine.apply(data[0])
        np.testing.assert_array_equal(np.moveaxis(got[..., :3], -1, 0), rgb)
        np.testing.assert_array_equal(got[..., 3], alpha)


def test_json_colormap_canonical_form():
    one = Rendering.from_args(MultiDict([("colormap", '{"2": "#0000ff", "1": [255, 0, 0]}')]))
    two = Rendering.from_args(MultiDict([("colormap", '{"1":[255,0,0,255],"2":[0,0,255,255]}')]))
    assert one == two and one.key() == two.key()
    assert one.to_args() == [("colormap", '{"1":[255,0,0,255],"2":[0,0,255,255]}')]
    intervals = Rendering.from_args(MultiDict([("colormap", "[[[0.0, 1e3], [1, 2, 3]]]")]))
    assert intervals.to_args() == [("colormap", "[[[0,1000],[1,2,3,255]]]")]


def test_algorithm_canonical_form():
    def parsed(**params: str) -> Rendering:
        return Rendering.from_args(MultiDict(list(params.items())))

    one = parsed(
        algorithm="hillshade", algorithm_params='{"angle_altitude": 30.0, "azimuth": 315, "buffer": 9}'
    )
    two = parsed(algorithm="hillshade", algorithm_params='{"azimuth":315,"angle_altitude":30}')
    assert one.key() == two.key()
    assert one.to_args() == [
        ("algorithm", "hillshade"),
        ("algorithm_params", '{"angle_altitude":30.0,"azimuth":315}'),
    ]
    # Defaults are left out: one rendering, one cache entry.
    assert parsed(algorithm="hillshade", algorithm_params='{"azimuth": 45}').key() == "algorithm=hillshade"
    assert one.buffer == 1 and parsed(algorithm="terrainrgb").buffer == 0


# -- over HTTP ---------------------------------------------------------------------------------------


def test_hillshade_tiles_have_no_seams(client, files):
    """A 3×3 block of hillshade tiles equals TiTiler's hillshade of the whole DEM warped into the
    zoom's grid: the tiles' edges (where a read without a buffer differs) as much as their middles."""
    path = files / "dem.tif"
    centre = centre_tile(path)
    block = np.zeros((768, 768), dtype=np.uint8)
    valid = np.zeros((768, 768), dtype=bool)
    for row in range(3):
        for col in range(3):
            tile = type(centre)(centre.x + col - 1, centre.y + row - 1, ZOOM)
            pixels = get_tile(client, "dem", tile, "algorithm=hillshade")
            block[row * 256 : (row + 1) * 256, col * 256 : (col + 1) * 256] = pixels[..., 0]
            valid[row * 256 : (row + 1) * 256, col * 256 : (col + 1) * 256] = pixels[..., 3] == 255
    # The whole image in this zoom's grid (its own edges cropped), with no tiles at all.
    w, _, _, n = xy_bounds(ZOOM, centre.x - 1, centre.y - 1)
    _, s, e, _ = xy_bounds(ZOOM, centre.x + 1, centre.y + 1)
    reference = whole_image_hillshade(path, (w, s, e, n), 768)
    assert valid.all()
    assert psnr(block, reference) >= 30
    # The seams: the rows and columns on each side of a tile edge.
    edges = [255, 256, 511, 512]
    seams = np.zeros_like(valid)
    seams[edges, :] = seams[:, edges] = True
    difference = np.abs(block.astype(int) - reference.astype(int))
    assert psnr(block[seams], reference[seams]) >= 30
    assert difference[seams].mean() <= difference[~seams].mean() + 0.5


def test_hillshade_tile_equals_titilers_tile(client, files):
    path = files / "dem.tif"
    tile = centre_tile(path)
    params = {"azimuth": 300, "angle_altitude": 35}
    got = get_tile(client, "dem", tile, query(algorithm="hillshade", algorithm_params=params))
    theirs = HillShade(**params, buffer=1)(tile_read(path, tile, buffer=1)).array.data[0]
    assert np.abs(got[..., 0].astype(int) - theirs.astype(int)).max() <= 1
    assert (got[..., 0] == got[..., 1]).all()  # grey


def test_slope_tile_is_0_to_90_degrees_stretched_and_colormapped(client, files):
    path = files / "dem.tif"
    tile = centre_tile(path)
    slope = Slope(buffer=1)(tile_read(path, tile, buffer=1)).array.data[0]
    got = get_tile(client, "dem", tile, "algorithm=slope")
    expected = np.clip(slope * (255 / 90), 0, 255).astype(np.uint8)
    assert np.abs(got[..., 0].astype(int) - expected.astype(int)).max() <= 1
    intervals = [[[0, 20], [0, 255, 0, 255]], [[20, 90.01], [255, 0, 0, 255]]]
    got = get_tile(client, "dem", tile, query(algorithm="slope", colormap=intervals))
    steep = slope >= 20
    assert steep.any() and (~steep).any()
    assert (got[steep][:, :3] == (255, 0, 0)).all() and (got[~steep][:, :3] == (0, 255, 0)).all()


@pytest.mark.parametrize("name", ["terrainrgb", "terrarium"])
def test_gdal_decodes_heights_of_an_encoded_tile_within_a_metre_of_the_dsm(client, files, tmp_path, name):
    path = files / "dem.tif"
    tile = centre_tile(path, 14)  # with the nodata corner: transparent there
    r = client.get(f"/api/images/dem/tiles/{tile.z}/{tile.x}/{tile.y}.png?algorithm={name}")
    assert r.status_code == 200 and r.mimetype == "image/png"
    (tmp_path / "tile.png").write_bytes(r.data)
    with rasterio.open(tmp_path / "tile.png") as png:  # GDAL's PNG driver
        assert png.driver == "PNG" and png.count == 4
        red, green, blue, alpha = (band.astype(np.float64) for band in png.read())
    heights = (
        -10000 + (red * 65536 + green * 256 + blue) * 0.1
        if name == "terrainrgb"
        else red * 256 + green + blue / 256 - 32768
    )
    dsm = tile_read(path, tile)
    valid = ~np.ma.getmaskarray(dsm.array)[0]
    assert (~valid).any() and valid.mean() > 0.2
    np.testing.assert_array_equal(alpha == 255, valid)
    assert np.abs(heights[valid] - dsm.array.data[0][valid]).max() <= 1.0
    # auto is PNG (lossless) even where opaque; JPEG and WebP would change the heights: 400.
    centre = centre_tile(path)
    assert client.get(
        f"/api/images/dem/tiles/{centre.z}/{centre.x}/{centre.y}.auto?algorithm={name}"
    ).mimetype == ("image/png")
    for fmt in ("jpg", "jpeg", "webp"):
        r = client.get(f"/api/images/dem/tiles/{tile.z}/{tile.x}/{tile.y}.{fmt}?algorithm={name}")
        assert r.status_code == 400 and "png" in r.get_json()["error"]["message"]


def test_normalized_index_tile_equals_titilers_stretched_with_a_colormap(client, files):
    path = files / "survey.tif"
    tile = centre_tile(path, 18)
    theirs = NormalizedIndex()(tile_read(path, tile, indexes=(1, 4))).array.data[0]
    got = get_tile(client, "survey", tile, "algorithm=normalizedIndex&bidx=1,4")
    expected = np.clip((theirs + 1) * (255 / 2), 0, 255).astype(np.uint8)
    assert np.abs(got[..., 0].astype(int) - expected.astype(int)).max() <= 1
    got = get_tile(
        client, "survey", tile, "algorithm=normalizedIndex&bidx=1,4&rescale=-0.5,0.5&colormap_name=rdylgn"
    )
    assert got[:, :50, 0].mean() < 50 < got[:, -50:, 0].mean()  # green where vegetated, not red


def test_json_colormap_on_a_tile_equals_rio_tilers(client, files):
    path = files / "dem.tif"
    tile = centre_tile(path, 14)
    colormap = COLORMAPS[2]
    got = get_tile(client, "dem", tile, query(colormap=colormap))
    img = tile_read(path, tile)
    rgb, alpha = apply_cmap(img.array.data, ColorMapParams(colormap_name=None, colormap=json.dumps(colormap)))
    mask = np.where(img.mask != 0, alpha, 0)
    np.testing.assert_array_equal(got[..., 3], mask)
    shown = mask > 0
    np.testing.assert_array_equal(got[shown][:, :3], np.moveaxis(rgb, 0, -1)[shown])


def test_the_thumbnail_applies_the_algorithm(client, files):
    r = client.get("/api/images/dem/thumbnail.png?max_size=128&algorithm=hillshade")
    plain = client.get("/api/images/dem/thumbnail.png?max_size=128")
    assert r.status_code == plain.status_code == 200
    shaded, grey = rgba(r.data), rgba(plain.data)
    assert shaded.shape == grey.shape and not np.array_equal(shaded[..., 0], grey[..., 0])
    assert (shaded[:5, :5, 3] == 0).all() and (shaded[-20:, -20:, 3] == 255).all()  # the nodata corner


def test_the_mosaic_draws_each_image_with_the_algorithm(client, files):
    tile = centre_tile(files / "dem.tif")
    address = f"{tile.z}/{tile.x}/{tile.y}.png"
    own = rgba(client.get(f"/api/images/dem/tiles/{address}?algorithm=hillshade").data)
    r = client.get(f"/api/mosaic/tiles/{address}?ids=dem&order=catalog&algorithm=hillshade")
    assert r.status_code == 200
    np.testing.assert_array_equal(rgba(r.data), own)
    assert client.get(f"/api/mosaic/tiles/{address}?ids=dem&algorithm=terrainrgb").status_code == 200
    assert (
        client.get(
            f"/api/mosaic/tiles/{tile.z}/{tile.x}/{tile.y}.jpg?ids=dem&algorithm=terrainrgb"
        ).status_code
        == 400
    )


def test_urls_carry_the_canonical_parameters(client):
    q = query(algorithm="hillshade", algorithm_params={"azimuth": 315.0, "buffer": 5}, colormap={"3": "#fff"})
    canonical = (
        "algorithm=hillshade&algorithm_params=%7B%22azimuth%22%3A315%7D"
        "&colormap=%7B%223%22%3A%5B255,255,255,255%5D%7D"
    )
    for route in ("tilejson.json", "WMTSCapabilities.xml", ""):
        r = client.get(f"/api/images/dem/{route}?{q}".replace("/?", "?"))
        assert r.status_code == 200, r.get_data(as_text=True)
        assert canonical in r.get_data(as_text=True).replace("&amp;", "&")
    r = client.get(f"/api/mosaic/tilejson.json?ids=dem&{q}")
    assert canonical in r.get_json()["tiles"][0]


def test_a_json_colormap_legend(client):
    r = client.get("/api/colormaps?" + query(colormap={"2": "#00ff00", "1": [255, 0, 0]}))
    assert r.status_code == 200
    assert r.get_json() == {
        "colormap": '{"1":[255,0,0,255],"2":[0,255,0,255]}',
        "stops": [[1, [255, 0, 0, 255]], [2, [0, 255, 0, 255]]],
    }
    r = client.get("/api/colormaps?" + query(colormap=[[[0, 1.5], "#000"]]))
    assert r.get_json()["intervals"] == [[[0, 1.5], [0, 0, 0, 255]]]
    assert client.get("/api/colormaps?colormap=nope").status_code == 400
    assert "viridis" in client.get("/api/colormaps").get_json()["colormaps"]


TOO_MANY = {str(v): [0, 0, 0] for v in range(MAX_ENTRIES + 1)}
BAD = [
    ({"algorithm": "hilshade"}, "algorithm"),
    ({"algorithm": "hillshade", "algorithm_params": "{azimuth: 3}"}, "algorithm_params"),
    ({"algorithm": "hillshade", "algorithm_params": "[315]"}, "algorithm_params"),
    ({"algorithm": "hillshade", "algorithm_params": '{"sun": 1}'}, "algorithm_params"),
    ({"algorithm": "hillshade", "algorithm_params": '{"azimuth": 361}'}, "azimuth"),
    ({"algorithm": "hillshade", "algorithm_params": '{"azimuth": 45.5}'}, "azimuth"),
    ({"algorithm": "hillshade", "algorithm_params": '{"angle_altitude": "high"}'}, "angle_altitude"),
    ({"algorithm": "hillshade", "algorithm_params": '{"z_exaggeration": 0}'}, "z_exaggeration"),
    ({"algorithm": "hillshade", "algorithm_params": '{"azimuth": true}'}, "azimuth"),
    ({"algorithm": "terrainrgb", "algorithm_params": '{"interval": 0}'}, "interval"),
    ({"algorithm": "terrainrgb", "algorithm_params": '{"baseval": 1e300}'}, "baseval"),
    ({"algorithm": "terrainrgb", "rescale": "0,1"}, "rescale"),
    ({"algorithm": "terrarium", "colormap_name": "viridis"}, "colormap_name"),
    ({"algorithm": "hillshade", "algorithm_params": "{" * 2000}, "algorithm_params"),
    ({"algorithm_params": '{"azimuth": 1}'}, "algorithm"),
    ({"algorithm": "normalizedIndex"}, "normalizedIndex"),  # three bands shown, it takes two
    ({"algorithm": "normalizedIndex", "bidx": "1,2,3"}, "bidx"),
    ({"algorithm": "hillshade", "bidx": "2"}, "bidx"),  # one band in this image
    ({"colormap": "{"}, "colormap"),
    ({"colormap": "[" * 10000}, "colormap"),
    ({"colormap": "x" * (MAX_LENGTH + 1)}, "colormap"),
    ({"colormap": json.dumps(TOO_MANY)}, "colormap"),
    ({"colormap": '{"1.5": [0, 0, 0]}'}, "colormap"),
    ({"colormap": '{"1": [0, 0, 256]}'}, "colormap"),
    ({"colormap": '{"1": "#12"}'}, "colormap"),
    ({"colormap": "[[[2, 1], [0, 0, 0]]]"}, "colormap"),
    ({"colormap": "[[[0, NaN], [0, 0, 0]]]"}, "colormap"),
    ({"colormap": '"red"'}, "colormap"),
    ({"colormap": '{"1": [0, 0, 0]}', "colormap_name": "viridis"}, "colormap"),
    ({"colormap": '{"1": [0, 0, 0]}', "bidx": "1,1,1"}, "colormap"),
]


@pytest.mark.parametrize(("params", "named"), BAD)
def test_bad_values_answer_400_json_naming_the_parameter(client, files, params, named):
    tile = centre_tile(files / "dem.tif")
    q = urllib.parse.urlencode(params)
    for url in (
        f"/api/images/dem/tiles/{tile.z}/{tile.x}/{tile.y}.png?{q}",
        f"/api/images/dem/thumbnail.png?{q}",
        f"/api/images/dem/tilejson.json?{q}",
        f"/api/mosaic/tiles/{tile.z}/{tile.x}/{tile.y}.png?ids=dem&{q}",
    ):
        if ("mosaic" in url or "tilejson" in url) and named in ("bidx", "normalizedIndex"):
            continue  # what only the image can tell: a mosaic draws it as a coverage mark
        r = client.get(url)
        assert r.status_code == 400, (url, r.status_code)
        error = r.get_json()["error"]
        assert error["code"] == "bad_request" and named in error["message"], error


def test_exports_take_the_new_parameters_and_refuse_lossy_heights(client):
    doc = {"ids": ["dem"], "minzoom": 12, "maxzoom": 12, "algorithm": "terrainrgb", "tile_format": "jpg"}
    r = client.post("/api/exports", json=doc)
    assert r.status_code == 400 and "png" in r.get_json()["error"]["message"]
    r = client.post("/api/exports", json={**doc, "tile_format": "png", "colormap": {"1": [0, 0, 0]}})
    assert r.status_code == 400 and "colormap" in r.get_json()["error"]["message"]
    r = client.post("/api/exports", json={**doc, "algorithm": "hillshade", "algorithm_params": {"nope": 1}})
    assert r.status_code == 400 and "nope" in r.get_json()["error"]["message"]


def test_the_parser_is_the_one_rendering_parser():
    with pytest.raises(BadRequest, match="colormap and colormap_name"):
        Rendering.from_args(MultiDict([("colormap", '{"1": [0, 0, 0]}'), ("colormap_name", "viridis")]))
