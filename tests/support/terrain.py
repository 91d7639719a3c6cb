"""Elevation and multispectral GeoTIFFs as OpenAerialMap's upload pipeline now writes them, made at
run time: ZSTD COGs in the native data type, 512 px blocks, floating-point predictor for floats,
``average`` overviews; and the hillshade of a whole DSM in a Web Mercator grid, the reference a
client's tiled picture of it is compared with.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import Affine, from_bounds, from_origin
from rasterio.warp import Resampling, reproject
from rio_tiler.models import ImageData
from titiler.core.algorithm import HillShade

#: The DEM: 1 m pixels in UTM zone 45N over Kathmandu, 1536 px a side.
DEM_CRS = "EPSG:32645"
DEM_TRANSFORM = from_origin(330000.0, 3065000.0, 1.0, 1.0)
DEM_SIZE = 1536
NODATA = -9999.0
#: The DEM's nodata corner: rows and columns below these (a survey's missing corner).
HOLE = 160


def heights(rows: int, cols: int, transform: Affine = DEM_TRANSFORM) -> np.ndarray:
    """Synthetic terrain, metres (about 800-1400, like a valley DSM): two ridges, a hill and rows of trees."""
    r, c = np.mgrid[0:rows, 0:cols].astype(np.float64)
    x, y = c * transform.a, r * -transform.e
    ridges = 150 * np.sin(x / 210.0) * np.cos(y / 170.0) + 60 * np.sin((x + y) / 90.0)
    hill = 220 * np.exp(-((x - 900) ** 2 + (y - 700) ** 2) / (2 * 260.0**2))
    rows_of_trees = 4 * np.sin(x / 5.0) * np.cos(y / 6.0)  # metres apart: a tile edge's neighbours matter
    return (1050 + ridges + hill + rows_of_trees).astype(np.float32)


def write_cog(raw: Path, path: Path, predictor: int) -> Path:
    """``raw`` as a ZSTD COG (512 px blocks, ``predictor``, average overviews) at ``path``."""
    from rio_cogeo.cogeo import cog_translate
    from rio_cogeo.profiles import cog_profiles

    with warnings.catch_warnings():  # rio-cogeo's note that ZSTD is not in the COG spec: OAM's choice
        warnings.simplefilter("ignore", UserWarning)
        profile = cog_profiles.get("zstd")
    profile.update(predictor=predictor, blockxsize=512, blockysize=512)
    cog_translate(str(raw), str(path), profile, quiet=True, overview_resampling="average")
    raw.unlink()
    return path


def write_dem(path: Path) -> Path:
    """A float32 DSM (nodata -9999 in its top-left corner), :data:`DEM_SIZE` px of
    :func:`heights`, as a ZSTD COG with the floating-point predictor."""
    data = heights(DEM_SIZE, DEM_SIZE)
    data[:HOLE, :HOLE] = NODATA
    raw = path.with_suffix(".raw.tif")
    profile = {
        "driver": "GTiff", "width": DEM_SIZE, "height": DEM_SIZE, "count": 1, "dtype": "float32",
        "crs": DEM_CRS, "transform": DEM_TRANSFORM, "nodata": NODATA,
    }  # fmt: skip
    with rasterio.open(raw, "w", **profile) as dst:
        dst.write(data, 1)
    return write_cog(raw, path, predictor=3)


def write_multispectral(path: Path, size: int = 768) -> Path:
    """A 4-band uint16 survey (red, green, blue, near infrared; reflectance × 10000) over the
    DEM's area: vegetation (high NIR) on the left half, bare soil on the right."""
    rng = np.random.default_rng(5)
    r, c = np.mgrid[0:size, 0:size]
    vegetated = c < size // 2
    red = np.where(vegetated, 600, 2400) + rng.integers(0, 300, (size, size))
    green = np.where(vegetated, 1100, 2200) + rng.integers(0, 300, (size, size))
    blue = np.where(vegetated, 500, 1900) + rng.integers(0, 300, (size, size))
    nir = np.where(vegetated, 5200, 2900) + (r % 97) * 10
    raw = path.with_suffix(".raw.tif")
    profile = {
        "driver": "GTiff", "width": size, "height": size, "count": 4, "dtype": "uint16",
        "crs": DEM_CRS, "transform": from_origin(330200.0, 3064800.0, 1.0, 1.0),
    }  # fmt: skip
    with rasterio.open(raw, "w", **profile) as dst:
        dst.write(np.stack([red, green, blue, nir]).astype(np.uint16))
        dst.descriptions = ("red", "green", "blue", "nir")
    return write_cog(raw, path, predictor=2)


def whole_image_hillshade(path: Path, extent: tuple[float, float, float, float], side: int) -> np.ndarray:
    """TiTiler's hillshade of the whole DSM warped (nearest) to ``extent`` (EPSG:3857) at ``side``
    px a side: the picture with no tiles at all, the DSM's own edges cropped away."""
    margin = 8
    left, bottom, right, top = extent
    res = (right - left) / side
    size = side + 2 * margin
    grid = from_bounds(
        left - margin * res, bottom - margin * res, right + margin * res, top + margin * res, size, size
    )
    dsm = np.full((size, size), np.nan, dtype=np.float32)
    with rasterio.open(path) as src:
        reproject(
            rasterio.band(src, 1), dsm, dst_transform=grid, dst_crs="EPSG:3857",
            dst_nodata=np.nan, resampling=Resampling.nearest,
        )  # fmt: skip
    assert np.isfinite(dsm).all()  # the block is inside the DSM
    shaded = HillShade(buffer=0)(ImageData(dsm[np.newaxis], bounds=(0, 0, size, size))).array.data[0]
    return shaded[margin:-margin, margin:-margin]
