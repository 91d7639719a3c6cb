"""The read budget: how many upstream bytes a request may cost, estimated before it reads.

``OAM_PREVIEW_MAX_READ_MB`` bounds what one request reads from a remote
GeoTIFF; a request over it answers 422 ``too_large`` without reading. Sizes
are pixels (columns, rows) and bytes as stored, before compression.
"""

from __future__ import annotations

import math

from rasterio.warp import transform_bounds

from ..errors import TooLarge
from ..geo.tiles import xy_bounds
from .info import ImageInfo


def thumbnail_size(width: int, height: int, max_size: int) -> tuple[int, int]:
    """(cols, rows) with the longest side ``max_size``, aspect kept, never upscaled."""
    scale = min(1.0, max_size / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def read_cost(info: ImageInfo, window_cols: float, window_rows: float, out_cols: int, out_rows: int) -> int:
    """Upper bound of the bytes GDAL reads for a window of full-resolution pixels at an output size.

    GDAL reads from the coarsest overview at least as fine as the output; it
    reads whole blocks, and a decimated read of a file without overviews
    touches at most one block row per output row. Compression is ignored, so
    this overestimates compressed files.
    """
    if window_cols <= 0 or window_rows <= 0:
        return 0
    decimation = min(window_cols / out_cols, window_rows / out_rows)
    factor = max([1, *(f for f in info.overviews if f <= decimation)])
    cols, rows = window_cols / factor, window_rows / factor
    block_rows, block_cols = info.block_shape
    n_cols = min(math.ceil(cols / block_cols) + 1, math.ceil(info.width / factor / block_cols))
    n_rows = min(math.ceil(rows / block_rows) + 1, math.ceil(info.height / factor / block_rows))
    if factor == 1 and decimation > 1:
        n_rows = min(n_rows, out_rows)
    return n_cols * n_rows * block_rows * block_cols * info.bytes_per_pixel


def check_read(cost: int, max_read_bytes: float) -> None:
    """:class:`TooLarge` when ``cost`` bytes are over the budget of ``max_read_bytes``."""
    if cost > max_read_bytes:
        raise TooLarge(
            f"this image would need about {cost / 1e6:.0f} MB read for this request, over the "
            f"limit of {max_read_bytes / 1e6:.0f} MB (the GeoTIFF has no overviews small enough; "
            "add internal overviews, e.g. make it a cloud-optimized GeoTIFF)"
        )


def tile_read_cost(info: ImageInfo, z: int, x: int, y: int, size: int) -> int:
    """Upper bound of bytes read for a tile (see :func:`read_cost`); 0 when it can't be told."""
    assert info.crs is not None and info.transform is not None
    if info.web_mercator:  # the tile grid's CRS: no transformation (its cost, at every tile)
        left, bottom, right, top = xy_bounds(z, x, y)
    else:
        try:
            left, bottom, right, top = transform_bounds(
                "EPSG:3857", info.crs, *xy_bounds(z, x, y), densify_pts=21
            )
        except Exception:  # the tile can't be expressed in the image's CRS
            return 0
    if not all(math.isfinite(v) for v in (left, bottom, right, top)):
        return 0
    inverse = ~info.transform
    corners = [inverse @ (x, y) for x in (left, right) for y in (bottom, top)]
    col0, col1 = min(c for c, _ in corners), max(c for c, _ in corners)
    row0, row1 = min(r for _, r in corners), max(r for _, r in corners)
    cols = max(0.0, min(col1, info.width) - max(col0, 0.0))
    rows = max(0.0, min(row1, info.height) - max(row0, 0.0))
    # The window is the tile's; the part inside the image scales the output size.
    out_cols = max(1, round(size * cols / (col1 - col0))) if col1 > col0 else 1
    out_rows = max(1, round(size * rows / (row1 - row0))) if row1 > row0 else 1
    return read_cost(info, cols, rows, out_cols, out_rows)
