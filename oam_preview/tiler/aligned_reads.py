"""A tile of a Web Mercator file read straight from its own pixel grid, without rio-tiler's wrapper.

OpenAerialMap's files are in Web Mercator (EPSG:3857), the tile grid's CRS, so
a tile is a window of the file resampled to the tile's size: no warp. For
that case rio-tiler's ``Reader.tile`` reads the window with a mask (GDAL's mask
band, a second pass over the decoded blocks), then replaces the mask with
``data == nodata``, through numpy's slow ``MaskedArray.mask`` setter. On a cold
lossless float tile that wrapping costs about as much CPU as everything else the
server does around the read; :func:`read_aligned_tile` gives the same pixels,
mask and bounds (``tests/test_aligned_reads.py`` compares them with
rio-tiler's on every kind of file) for the files where the answer is simple, and
``None`` for the others, which rio-tiler reads: a window that leaves the file
(rasterio's boundless read), an alpha band, a mask per band.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from rasterio import windows
from rasterio.enums import MaskFlags, Resampling
from rio_tiler.models import ImageData

from ..geo.tiles import TMS
from .info import ImageInfo


def read_aligned_tile(
    dataset: Any,
    info: ImageInfo,
    bands: Sequence[int],
    z: int,
    x: int,
    y: int,
    size: int,
    buffer: int = 0,
    nodata: float | None = None,
) -> ImageData | None:
    """Tile ``z/x/y`` of ``dataset`` (a file in the tile grid's CRS, EPSG:3857), ``size`` pixels a
    side plus ``buffer`` around, of ``bands`` (1-based), nearest-neighbour as rio-tiler reads it,
    masked where a value is ``nodata`` (the file's when ``None``); ``None`` when rio-tiler must
    read it (see the module's docstring)."""
    if not info.web_mercator or info.alpha:
        return None
    # The tile's bounds in metres as rio-tiler takes them (morecantile's arithmetic, to the bit).
    west, south, east, north = TMS.xy_bounds(x, y, z)
    if buffer:  # rio-tiler's buffer: the same pixel size, `buffer` more pixels on each side
        dx, dy = (east - west) / size, (north - south) / size
        west, south, east, north = (
            west - dx * buffer,
            south - dy * buffer,
            east + dx * buffer,
            north + dy * buffer,
        )
        size += 2 * buffer
    window = windows.from_bounds(west, south, east, north, transform=dataset.transform)
    if (
        window.col_off < 0
        or window.row_off < 0
        or window.col_off + window.width > dataset.width
        or window.row_off + window.height > dataset.height
    ):
        return None
    nodata = dataset.nodata if nodata is None else nodata
    flags = [dataset.mask_flag_enums[b - 1] for b in bands]
    internal = nodata is None and not all(MaskFlags.all_valid in f for f in flags)
    if internal and not all(MaskFlags.per_dataset in f for f in flags):
        return None  # a mask per band, or one GDAL makes up: rasterio's reading of it
    shape = (len(bands), size, size)
    data = dataset.read(bands, window=window, out_shape=shape, resampling=Resampling.nearest)
    mask: np.ndarray | bool = False
    if internal:  # the file's mask, read as rasterio's masked read does: 0 is masked
        mask = dataset.read_masks(bands, window=window, out_shape=shape, resampling=Resampling.nearest) == 0
    elif nodata is not None:
        with np.errstate(invalid="ignore"):
            mask = np.isnan(data) if math.isnan(nodata) else data == nodata
    return ImageData(
        np.ma.MaskedArray(data, mask=mask),
        bounds=windows.bounds(window, dataset.transform),  # as rio-tiler: through the window
        crs=dataset.crs,
        band_names=[f"b{b}" for b in bands],
    )
