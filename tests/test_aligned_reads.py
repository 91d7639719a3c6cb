"""A Web Mercator tile read straight from the file's grid gives rio-tiler's pixels, mask and bounds
(``oam_preview.tiler.aligned_reads``), and leaves to rio-tiler what it does not read the same way."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from rio_tiler.io import Reader

from oam_preview.geo.tiles import TMS
from oam_preview.tiler.aligned_reads import read_aligned_tile
from oam_preview.tiler.description import describe
from tests.support.geotiffs import texture, write_cog
from tests.support.terrain import NODATA, heights
from tests.support.terrain import write_cog as write_zstd_cog

#: Web Mercator metres (west, north) and pixel size of the files below: off the tile grid.
ORIGIN = (9497013.7, 3210988.1, 0.55)
SIZE = 1536


def _write(path: Path, data: np.ndarray, **profile: object) -> Path:
    west, north, pixel = ORIGIN
    raw = path.with_suffix(".raw.tif")
    base = {
        "driver": "GTiff", "width": data.shape[2], "height": data.shape[1], "count": data.shape[0],
        "dtype": data.dtype.name, "crs": "EPSG:3857", "transform": from_origin(west, north, pixel, pixel),
    }  # fmt: skip
    with rasterio.open(raw, "w", **{**base, **profile}) as dst:
        dst.write(data)
    return raw


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("aligned")
    dsm = heights(SIZE, SIZE)
    dsm[:200, :300] = NODATA  # a survey's missing corner
    masked = texture(3, SIZE, SIZE)
    out = {
        "dsm": write_zstd_cog(_write(root / "dsm.tif", dsm[np.newaxis], nodata=NODATA), root / "dsm.tif", 3),
        "nan_dsm": write_zstd_cog(
            _write(root / "nan.tif", np.where(dsm == NODATA, np.nan, dsm)[np.newaxis], nodata=float("nan")),
            root / "nan.tif",
            3,
        ),
        "uint16": write_zstd_cog(
            _write(root / "ms.tif", (texture(4, SIZE, SIZE).astype(np.uint16) * 40)), root / "ms.tif", 2
        ),
        "jpeg": write_cog(root / "jpeg.tif", SIZE, SIZE),
    }
    raw = _write(root / "mask.tif", masked, tiled=True, blockxsize=512, blockysize=512)
    with rasterio.open(raw, "r+") as dst:  # an internal mask, no nodata: GDAL's mask band says
        mask = np.full((SIZE, SIZE), 255, np.uint8)
        mask[:300, :] = 0
        dst.write_mask(mask)
    out["internal_mask"] = raw
    rgba = np.concatenate([texture(3, SIZE, SIZE), np.full((1, SIZE, SIZE), 255, np.uint8)])
    out["alpha"] = _write(root / "alpha.tif", rgba, photometric="RGB", alpha="YES")
    return out


def _inner_tiles(dataset: rasterio.DatasetReader, zoom: int) -> list[tuple[int, int, int]]:
    """Every tile of ``zoom`` wholly inside the file, and the ring of those that cross its edges."""
    west, south, east, north = dataset.bounds
    inside: list[tuple[int, int, int]] = []
    crossing: list[tuple[int, int, int]] = []
    first, last = TMS.tile(*TMS.lnglat(west, north), zoom), TMS.tile(*TMS.lnglat(east, south), zoom)
    for x in range(first.x, last.x + 1):
        for y in range(first.y, last.y + 1):
            w, s, e, n = TMS.xy_bounds(x, y, zoom)
            (inside if w >= west and e <= east and s >= south and n <= north else crossing).append(
                (zoom, x, y)
            )
    return inside + crossing


def _same(expected: object, got: object) -> None:
    assert np.array_equal(expected.array.data, got.array.data, equal_nan=True)  # type: ignore[attr-defined]
    assert np.array_equal(np.ma.getmaskarray(expected.array), np.ma.getmaskarray(got.array))  # type: ignore[attr-defined]
    assert tuple(expected.bounds) == tuple(got.bounds)  # type: ignore[attr-defined]
    assert expected.transform == got.transform  # type: ignore[attr-defined]
    assert expected.crs == got.crs  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("name", "bands", "nodata"),
    [
        ("dsm", (1,), None),
        ("nan_dsm", (1,), None),
        ("uint16", (4, 1, 2), None),
        ("jpeg", (1, 2, 3), None),
        ("jpeg", (1, 2, 3), 0.0),  # a client's nodata over a file without one
        ("internal_mask", (1, 2, 3), None),  # the file's mask (GDAL's per-dataset mask band)
        ("internal_mask", (1, 2, 3), 0.0),  # nodata wins over the mask band, as in rio-tiler
    ],
)
@pytest.mark.parametrize("buffer", [0, 1, 3])
def test_the_tiles_inside_are_rio_tilers(
    files: dict[str, Path], name: str, bands: tuple[int, ...], nodata: float | None, buffer: int
) -> None:
    read = partly_masked = 0
    with rasterio.open(files[name]) as dataset, Reader(None, dataset=dataset, tms=TMS) as reader:
        info = describe(dataset, float("inf"))
        for zoom in (15, 16, 17, 18, 19):  # overviews, full resolution and past it
            for z, x, y in _inner_tiles(dataset, zoom):
                got = read_aligned_tile(dataset, info, bands, z, x, y, 256, buffer, nodata)
                if got is None:  # the window leaves the file: rio-tiler's (boundless) read
                    assert not rasterio.coords.disjoint_bounds(dataset.bounds, TMS.xy_bounds(x, y, z))
                    continue
                options = {"nodata": nodata} if nodata is not None else {}
                expected = reader.tile(x, y, z, tilesize=256, indexes=bands, buffer=buffer, **options)
                _same(expected, got)
                read += 1
                masked = np.ma.getmaskarray(got.array)
                partly_masked += bool(masked.any() and not masked.all())
    assert read >= 20  # tiles from every zoom but the coarsest
    if name in ("dsm", "nan_dsm") or (name == "internal_mask" and nodata is None):
        assert partly_masked  # the DSM's hole, the file's mask: inside some tiles


def test_a_tile_crossing_the_edge_is_left_to_rio_tiler(files: dict[str, Path]) -> None:
    with rasterio.open(files["dsm"]) as dataset:
        info = describe(dataset, float("inf"))
        west, _, _, north = dataset.bounds
        corner = TMS.tile(*TMS.lnglat(west, north), 18)
        assert read_aligned_tile(dataset, info, (1,), 18, corner.x, corner.y, 256) is None


def test_an_alpha_band_is_left_to_rio_tiler(files: dict[str, Path]) -> None:
    with rasterio.open(files["alpha"]) as dataset:
        info = describe(dataset, float("inf"))
        z, x, y = _inner_tiles(dataset, 18)[0]
        assert read_aligned_tile(dataset, info, (1, 2, 3), z, x, y, 256) is None


def test_a_file_in_another_crs_is_left_to_rio_tiler(tmp_path: Path) -> None:
    from tests.support.terrain import write_dem

    path = write_dem(tmp_path / "utm.tif")
    with rasterio.open(path) as dataset:
        info = describe(dataset, float("inf"))
        assert not info.web_mercator
        assert read_aligned_tile(dataset, info, (1,), 18, 193000, 110000, 256) is None
