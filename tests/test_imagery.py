"""Tile maths against morecantile's registered WebMercatorQuad, pixels against rio-tiler's own output."""

from __future__ import annotations

import warnings

import morecantile
import numpy as np
import pytest
import rasterio
from rasterio.enums import ColorInterp
from rio_tiler.io import Reader
from rio_tiler.reader import read as rio_read

from oam_preview.catalog import Image
from oam_preview.config import Settings
from oam_preview.errors import NotGeoreferenced, OutsideBounds, TooLarge, ZoomOutOfRange
from oam_preview.geo import tiles as tile_grid
from oam_preview.geo.georeference import geographic_footprint
from oam_preview.geo.tiles import TMS, resolution, xy_bounds, zoom_for_resolution
from oam_preview.remote.opener import Opener
from oam_preview.tiler.budget import read_cost, thumbnail_size
from oam_preview.tiler.imagery import Imagery
from oam_preview.tiler.info import select_bands

from .support.geotiffs import centre, geographic_bounds
from .support.loopback import LOOPBACK_ALLOW

WMQ = morecantile.tms.get("WebMercatorQuad")
CI = ColorInterp


@pytest.fixture(scope="module")
def imagery():
    settings = Settings(upstream_allow=LOOPBACK_ALLOW)
    return Imagery(Opener(settings), settings)


def remote(server, name: str) -> Image:
    return Image(id=name.split(".")[0], source_url=f"{server.url}/{name}")


# -- tile maths ----------------------------------------------------------------------------


@pytest.mark.parametrize("zoom", range(0, 25))
def test_resolution_and_bounds_match_morecantile(zoom):
    assert resolution(zoom) == pytest.approx(WMQ.matrix(zoom).cellSize, rel=1e-12)
    x = y = (2**zoom) // 3
    b = WMQ.xy_bounds(x, y, zoom)
    assert xy_bounds(zoom, x, y) == pytest.approx((b.left, b.bottom, b.right, b.top), abs=1e-6)


def test_zooms_past_24_need_no_extrapolation():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # morecantile's own grid warns past its zoom 24
        assert resolution(30) == pytest.approx(resolution(24) / 64)
        assert TMS.tile(85.3, 27.7, 30).z == 30


@pytest.mark.parametrize("res", [0.05, 0.15, 0.3, 0.597, 1.19, 2.5, 10, 30, 100, 300, 900, 25000, 156543])
def test_zoom_for_resolution_matches_morecantile_upper(res):
    assert zoom_for_resolution(res) == WMQ.zoom_for_res(res, zoom_level_strategy="upper")


@pytest.mark.parametrize("z", [0, 1, 7, 13, 17, 19, 23, 30])
def test_geographic_bounds_are_morecantiles_to_the_bit(z):
    """The tile check's bounds, with the transformer looked up once, are ``TMS.bounds``'s numbers."""
    last = 2**z - 1
    corners_and_middle = {(0, 0), (last, last), (0, last), (last, 0), (last // 2, (last + 1) // 3)}
    for x, y in corners_and_middle:
        b = TMS.bounds(x, y, z)
        assert tile_grid.geographic_bounds(z, x, y) == (b.left, b.bottom, b.right, b.top), (z, x, y)


@pytest.mark.parametrize("zoom", [0, 5, 12, 19])
def test_zoom_exactly_at_a_level(zoom):
    assert zoom_for_resolution(resolution(zoom)) == zoom


@pytest.mark.parametrize(
    ("colorinterp", "count", "expected"),
    [
        ([CI.red, CI.green, CI.blue], 3, ((1, 2, 3), "rgb")),
        ([CI.red, CI.green, CI.blue, CI.alpha], 4, ((1, 2, 3), "rgb")),
        ([CI.blue, CI.green, CI.red], 3, ((3, 2, 1), "rgb")),
        ([CI.palette], 1, ((1,), "palette")),
        ([CI.gray], 1, ((1,), "grey")),
        ([CI.gray, CI.alpha], 2, ((1,), "grey")),
        ([CI.gray, CI.undefined, CI.undefined], 3, ((1, 2, 3), "rgb")),
        ([CI.undefined] * 7, 7, ((1, 2, 3), "rgb")),
        ([CI.undefined, CI.undefined], 2, ((1,), "grey")),
    ],
)
def test_select_bands(colorinterp, count, expected):
    assert select_bands(colorinterp) == expected


@pytest.mark.parametrize(
    ("size", "max_size", "expected"),
    [
        ((383, 232), 256, (256, 155)),
        ((100, 50), 256, (100, 50)),
        ((7168, 8704), 1024, (843, 1024)),
        ((10, 9000), 16, (1, 16)),
    ],
)
def test_thumbnail_size(size, max_size, expected):
    assert thumbnail_size(*size, max_size) == expected


def test_read_cost_prefers_overviews(imagery, tiff_server):
    info = imagery.info(remote(tiff_server, "cog_cmap.tif"))  # 7168x8704, overviews 2..16
    full = read_cost(info, info.width, info.height, info.width, info.height)
    thumb = read_cost(info, info.width, info.height, 211, 256)
    assert full >= info.width * info.height  # every block, 1 byte a pixel
    assert thumb <= 2 * 512 * 512  # the 1/16 overview is 448x544: one or two blocks


# -- pixels against rio-tiler ----------------------------------------------------------------


def rio_tiler_tile(path, z, x, y, size=256):
    with warnings.catch_warnings(), Reader(str(path)) as reader:
        warnings.simplefilter("ignore")
        return reader.tile(x, y, z, tilesize=size)


@pytest.mark.parametrize(
    ("name", "zoom"),
    [
        ("cogeo.tif", 18),
        ("cogeo.tif", 16),  # from an overview
        ("cog_rgba.tif", 20),
        ("cog_rgb_mask.tif", 20),
        ("synthetic_cog.tif", 17),
        ("synthetic_cog.tif", 14),
    ],
)
def test_rgb_tiles_match_rio_tiler(imagery, tiff_server, tiff_dir, name, zoom):
    t = TMS.tile(*centre(tiff_dir / name), zoom)
    ours = imagery.tile(remote(tiff_server, name), t.z, t.x, t.y)
    ref = rio_tiler_tile(tiff_dir / name, t.z, t.x, t.y)
    valid = ref.mask > 0
    assert valid.any()
    np.testing.assert_array_equal(ours.mask > 0, valid)
    np.testing.assert_array_equal(ours.data[:, valid], ref.data[:3][:, valid])


def test_palette_tile_matches_rio_tiler_colormap(imagery, tiff_server, tiff_dir):
    t = TMS.tile(-79.41, 39.84, 14)
    ours = imagery.tile(remote(tiff_server, "cog_cmap.tif"), t.z, t.x, t.y)
    ref = rio_tiler_tile(tiff_dir / "cog_cmap.tif", t.z, t.x, t.y)
    with rasterio.open(tiff_dir / "cog_cmap.tif") as ds:
        cmap = ds.colormap(1)
    rgba = ref.apply_colormap(cmap)
    valid = (ref.mask > 0) & (rgba.array.mask[0] == 0)
    assert valid.any()
    np.testing.assert_array_equal(ours.data[:, valid], rgba.data[:3][:, valid])


def test_uint16_tile_is_stretched_like_rio_tiler_rescale(imagery, tiff_server, tiff_dir):
    image = remote(tiff_server, "rgb_uint16.tif")
    info = imagery.info(image)
    assert info.rescale is not None and all(lo < hi for lo, hi in info.rescale)
    t = TMS.tile(-80.0, 33.2, 8)
    ours = imagery.tile(image, t.z, t.x, t.y)
    ref = rio_tiler_tile(tiff_dir / "rgb_uint16.tif", t.z, t.x, t.y).rescale(in_range=info.rescale)
    valid = ref.mask > 0
    assert valid.any()
    diff = np.abs(ours.data[:, valid].astype(int) - ref.data[:, valid].astype(int))
    assert diff.max() <= 1  # rounding vs truncation


def test_float_dem_is_grey_and_stretched(imagery, tiff_server):
    image = remote(tiff_server, "dem.tif")
    info = imagery.info(image)
    assert info.mode == "grey" and info.rescale is not None
    low, high = info.rescale[0]
    assert 1616 <= low < high <= 2015
    thumb = imagery.thumbnail(image, 64)
    assert thumb.data.shape == (1, 64, 64) and thumb.data.min() == 0 and thumb.data.max() == 255


def test_thumbnail_matches_rio_tiler_read(imagery, tiff_server, tiff_dir):
    ours = imagery.thumbnail(remote(tiff_server, "cogeo.tif"), 100)
    with rasterio.open(tiff_dir / "cogeo.tif") as ds:
        ref = rio_read(ds, width=100, height=100, indexes=(1, 2, 3), resampling_method="average")
    np.testing.assert_array_equal(ours.data, ref.data)


def test_thumbnail_reads_an_overview_not_full_resolution(imagery, tiff_server, tiff_dir):
    image = remote(tiff_server, "cog_cmap.tif")
    imagery.info(image)
    tiff_server.traffic.reset()
    thumb = imagery.thumbnail(image, 256)
    requests, nbytes = tiff_server.traffic.snapshot()
    assert thumb.data.shape[1:] == (256, 211)
    assert nbytes < (tiff_dir / "cog_cmap.tif").stat().st_size / 4
    assert requests <= 4


def test_cog_and_stripped_copies_give_the_same_tile(imagery, tiff_server):
    t = TMS.tile(-77.7, 24.6, 9)  # native zoom: no overview involved
    a = imagery.tile(remote(tiff_server, "landsat_stripped.tif"), t.z, t.x, t.y)
    b = imagery.tile(remote(tiff_server, "landsat_cog.tif"), t.z, t.x, t.y)
    np.testing.assert_array_equal(a.mask, b.mask)
    np.testing.assert_array_equal(a.data, b.data)


def test_edge_tile_is_transparent_outside_the_image(imagery, tiff_server, tiff_dir):
    # A z18 tile holding the synthetic COG's north-west corner: part image, part outside.
    w, _, _, n = geographic_bounds(tiff_dir / "synthetic_cog.tif")
    t = TMS.tile(w + 1e-6, n - 1e-6, 18)
    pixels = imagery.tile(remote(tiff_server, "synthetic_cog.tif"), t.z, t.x, t.y)
    assert pixels.mask.min() == 0 and pixels.mask.max() == 255
    assert (pixels.data[:, pixels.mask == 0] == 0).all()


def test_nodata_and_alpha_become_transparent(imagery, tiff_server):
    uint16 = imagery.thumbnail(remote(tiff_server, "rgb_uint16.tif"), 128)
    assert 0.5 < (uint16.mask == 255).mean() < 0.8  # 30% nodata
    rgba = imagery.thumbnail(remote(tiff_server, "cog_rgba.tif"), 383)
    assert 0.85 < (rgba.mask == 255).mean() < 0.92  # 88.7% opaque


@pytest.mark.parametrize("lon", [179.5, -179.0])  # east and west of the antimeridian
def test_dateline_image_tiles_on_both_sides(imagery, tiff_server, lon):
    t = TMS.tile(lon, 51.6, 6)
    pixels = imagery.tile(remote(tiff_server, "cog_dateline.tif"), t.z, t.x, t.y)
    assert (pixels.mask == 255).mean() > 0.05


def test_polar_image_tiles_within_web_mercator(imagery, tiff_server):
    image = remote(tiff_server, "south_pole.tif")
    info = imagery.info(image)
    assert info.mercator_bounds()[1] == pytest.approx(-85.0511, abs=1e-3)
    pixels = imagery.tile(image, 2, 1, 3)
    assert (pixels.mask == 255).any()
    with pytest.raises(OutsideBounds):
        imagery.tile(image, 2, 1, 0)


def test_gcp_image_is_warped_with_its_gcps(imagery, tiff_server, tiff_dir):
    image = remote(tiff_server, "gcps.tif")
    assert imagery.info(image).georeference == "gcps"
    t = TMS.tile(77.0, 10.2, 10)
    ours = imagery.tile(image, t.z, t.x, t.y)
    with warnings.catch_warnings(), Reader(str(tiff_dir / "gcps.tif")) as reader:
        warnings.simplefilter("ignore")
        ref = reader.tile(t.x, t.y, t.z)
    np.testing.assert_array_equal(ours.mask > 0, ref.mask > 0)
    assert (ours.mask > 0).mean() > 0.5


def test_not_georeferenced_has_thumbnail_not_tiles(imagery, tiff_server):
    image = remote(tiff_server, "no_georef.tif")
    assert imagery.thumbnail(image, 128).data.shape == (3, 84, 128)
    with pytest.raises(NotGeoreferenced):
        imagery.tile(image, 0, 0, 0)


def test_geostationary_image_bounds_are_the_visible_disk(imagery, tiff_server):
    info = imagery.info(remote(tiff_server, "goes.tif"))
    w, s, e, n = info.bounds
    assert -160 < w < -140 and -10 < e < 0 and -70 < s < -60 and 60 < n < 70
    assert (imagery.tile(remote(tiff_server, "goes.tif"), 2, 1, 1).mask == 255).mean() > 0.5


def test_zoom_limit(imagery, tiff_server):
    image = remote(tiff_server, "cogeo.tif")
    assert imagery.info(image).native_zoom == 19
    t = TMS.tile(128.6581, 37.6686, 23)
    with pytest.raises(ZoomOutOfRange):
        imagery.tile(image, t.z, t.x, t.y)


def test_read_limit_on_a_file_without_overviews(tiff_server):
    settings = Settings(upstream_allow=LOOPBACK_ALLOW, max_read_mb=2)
    imagery = Imagery(Opener(settings), settings)
    with pytest.raises(TooLarge):
        imagery.thumbnail(remote(tiff_server, "stripped.tif"), 1024)
    # 256 px needs one strip per output row, not the whole file: allowed.
    assert imagery.thumbnail(remote(tiff_server, "stripped.tif"), 256).data.shape == (3, 192, 256)


def test_upstream_requests_per_tile(imagery, tiff_server, tiff_dir):
    """Opening costs a few requests once; a warm tile of an open COG costs at most two."""
    image = remote(tiff_server, "synthetic_cog.tif")
    tiff_server.traffic.reset()
    t = TMS.tile(*centre(tiff_dir / "synthetic_cog.tif"), 18)
    imagery.tile(image, t.z, t.x, t.y)
    cold, _ = tiff_server.traffic.snapshot()
    assert cold <= 5
    tiff_server.traffic.reset()
    neighbour = morecantile.Tile(t.x + 1, t.y + 1, t.z)
    imagery.tile(image, neighbour.z, neighbour.x, neighbour.y)
    warm, _ = tiff_server.traffic.snapshot()
    assert warm <= 2


def test_gcp_footprint_covers_every_corner(tiff_dir):
    with rasterio.open(tiff_dir / "gcps.tif") as ds:
        footprint, gsd = geographic_footprint(ds)
    # The outermost of its GCPs (tests/support/geotiffs.py): 640 x 420 px over about 2.5 x 1.9 degrees.
    assert footprint.bounds == pytest.approx((75.6, 9.3, 78.1, 11.2), abs=0.02)
    assert 400 < gsd < 480


def test_degree_gsd_is_converted_at_the_image_latitude(tiff_dir):
    with rasterio.open(tiff_dir / "lonlat_stripped.tif") as ds:
        footprint, gsd = geographic_footprint(ds)
    assert footprint.bounds == pytest.approx((129, 29, 146, 54))
    assert gsd == pytest.approx(3210, rel=0.01)  # 0.0333°, square of the same area at 41.5°N


def test_polar_footprint_reaches_the_pole(tiff_dir):
    with rasterio.open(tiff_dir / "south_pole.tif") as ds:
        footprint, _ = geographic_footprint(ds)
    assert footprint.bounds == pytest.approx((-180, -90, 180, -39.23), abs=0.01)
