"""Whole-image reads of GeoTIFFs without overviews: each stored strip fetched once, in few requests.

A thumbnail of a stripped (or tiled) file without overviews is a decimated
nearest-neighbour read of the full resolution. Asked in one ``RasterIO`` call,
GDAL reads it band by band and fetches the file again for each band once the
file is larger than its caches (``CPL_VSIL_CURL_CACHE_SIZE``, the block
cache): 2.8 times the file for an 8000² RGB DEFLATE one. GDAL's GeoTIFF driver
prefetches, per call, every block between the first and last sampled block row
(at most ``GDAL_MAX_RAW_BLOCK_CACHE_SIZE``, 10 MB) and serves all bands from
that; so the read here is cut into calls of consecutive block rows, each well
under that cap, and a block row that no output row samples starts a new call
instead of being fetched. Windows are fractional, so every call samples exactly
the rows one whole-image call would (rasterio passes floating-point windows).
Sizes are pixels (columns, rows); bytes are as stored (compressed).
"""

from __future__ import annotations

import concurrent.futures
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import rasterio
import rasterio.env
from rasterio.enums import ColorInterp
from rasterio.windows import Window
from rio_tiler.models import ImageData
from rio_tiler.reader import read as rio_read

from .budget import thumbnail_size
from .render import Pixels

#: Stored bytes of one read call: under GDAL's 10 MB prefetch of a call's blocks.
CALL_BYTES = 8 * 1024 * 1024
#: Decoded bytes of a read above which its calls decode on datasets of their own (see read_calls).
DECODED_BYTES = 32 * 1024 * 1024
#: Groups of calls decoded at once in a large read (see read_calls).
DECODE_THREADS = 2
#: The largest thumbnail API.md allows, pixels.
LARGEST_THUMBNAIL = 1024


def sampled(length: int, out: int) -> np.ndarray:
    """Indexes of the source pixels a nearest-neighbour decimation of ``length`` to ``out`` takes
    (GDAL's rule: the pixel under each output pixel's centre)."""
    step = length / out
    return np.minimum(length - 1, ((np.arange(out) + 0.5) * step + 1e-10).astype(np.int64))


def is_dense(height: int, block_rows: int, out_rows: int) -> bool:
    """Whether a decimation to ``out_rows`` samples every block row (so any larger size reads
    the same blocks)."""
    n_block_rows = math.ceil(height / block_rows)
    return len(np.unique(sampled(height, out_rows) // block_rows)) == n_block_rows


def read_size(width: int, height: int, block_rows: int, max_size: int) -> int:
    """The longest side to read for a thumbnail of ``max_size``: the largest API size when the
    asked one already needs every block row (no more bytes, and every later size comes from
    memory), else ``max_size``."""
    _, rows = thumbnail_size(width, height, max_size)
    if rows < height and is_dense(height, block_rows, rows):
        return max(max_size, min(LARGEST_THUMBNAIL, max(width, height)))
    return max_size


def block_row_bytes(dataset: Any, block_rows: int, row: int) -> int:
    """Stored bytes of block row ``row`` of ``dataset`` (every band and block column)."""
    n_cols = math.ceil(dataset.width / dataset.block_shapes[0][1])
    separate = str(getattr(dataset.interleaving, "value", "")).upper() == "BAND"
    bands = range(1, dataset.count + 1) if separate else (1,)
    try:
        return sum(dataset.block_size(b, row, c) for b in bands for c in range(n_cols))
    except Exception:  # no answer (a sparse block): count it as stored raw
        return block_rows * dataset.width * dataset.count


def calls(
    rows: np.ndarray, block_rows: int, size: Callable[[int], int], cap: int = CALL_BYTES
) -> list[tuple[int, int]]:
    """Output row ranges ``[o0, o1)`` read by one call each: sampled block rows that follow one
    another, at most ``cap`` stored bytes a call (``size(block_row)``; one block row over it is a
    call of its own)."""
    blocks = rows // block_rows
    out: list[tuple[int, int]] = []
    start, total, last = 0, size(int(blocks[0])), blocks[0]
    for o in range(1, len(rows)):
        b = blocks[o]
        if b == last:
            continue
        stored = size(int(b))
        if b > last + 1 or total + stored > cap:
            out.append((start, o))
            start, total = o, 0
        total += stored
        last = b
    out.append((start, len(rows)))
    return out


def read_whole(
    dataset: Any,
    width: int,
    height: int,
    indexes: tuple[int, ...],
    block_rows: int,
) -> ImageData:
    """The whole image of ``dataset`` at ``width`` x ``height`` (nearest), read in :func:`calls`,
    masked as rio-tiler's ``read`` masks it (alpha band, else nodata and GDAL's masks)."""
    rows = sampled(dataset.height, height)
    step = dataset.height / height
    ranges = calls(rows, block_rows, lambda r: block_row_bytes(dataset, block_rows, r))
    colorinterp = list(dataset.colorinterp)
    alpha = colorinterp.index(ColorInterp.alpha) + 1 if ColorInterp.alpha in colorinterp else None
    if len(ranges) == 1 or (alpha and dataset.nodata is None and len(set(dataset.dtypes)) > 1):
        return rio_read(dataset, width=width, height=height, indexes=indexes)
    windows = [(Window(0, o0 * step, dataset.width, (o1 - o0) * step), o1 - o0) for o0, o1 in ranges]
    row_bytes = block_rows * dataset.width * dataset.count  # decoded, one block row
    decoded = [len(np.unique(rows[o0:o1] // block_rows)) * row_bytes for o0, o1 in ranges]
    if alpha and dataset.nodata is None:  # one call reads the bands and the alpha band
        bands = (*indexes, alpha)
        values = np.concatenate(read_calls(dataset, bands, windows, width, decoded, masked=False), axis=1)
        opaque = np.iinfo(values.dtype).max if values.dtype.kind in "ui" else 1
        data = np.ma.MaskedArray(values[:-1], mask=np.broadcast_to(values[-1] != opaque, values[:-1].shape))
        return ImageData(data, alpha_mask=values[-1], crs=dataset.crs)
    data = np.ma.concatenate(read_calls(dataset, indexes, windows, width, decoded, masked=True), axis=1)
    nodata = dataset.nodata
    if nodata is not None:
        data.mask = np.isnan(data.data) if np.isnan(nodata) else data.data == nodata
    return ImageData(data, crs=dataset.crs)


def groups(decoded: list[int], budget: int) -> list[list[int]]:
    """Indexes of consecutive calls that share a dataset: at most ``budget`` decoded bytes a group
    (``decoded[i]``: call ``i``'s; one call over it is a group of its own)."""
    out: list[list[int]] = []
    left = 0
    for i, cost in enumerate(decoded):
        if not out or cost > left:
            out.append([])
            left = budget
        out[-1].append(i)
        left -= cost
    return out


def read_calls(
    dataset: Any,
    bands: tuple[int, ...],
    windows: list[tuple[Window, int]],
    width: int,
    decoded: list[int],
    masked: bool,
) -> list[Any]:
    """Each call's pixels of ``bands`` (``windows[i]``: its window and output rows), in order.

    On ``dataset`` when the calls decode at most :data:`DECODED_BYTES` in all. Else in
    :func:`groups`, each on a dataset of its own, closed after its calls, because GDAL's block
    cache would fill with blocks no tile asks for again (a worker's RSS grew by the whole
    image); they open from GDAL's caches (no upstream request) in the calling thread's GDAL
    settings, :data:`DECODE_THREADS` groups at once (so a group holds a share of
    ``DECODED_BYTES``: the same memory as one at a time): inflating strips is most of such a
    read's time (fetching 85 MB from a near origin is a tenth of it).
    """

    def read(source: Any, i: int) -> Any:
        window, rows = windows[i]
        return source.read(bands, window=window, out_shape=(len(bands), rows, width), masked=masked)

    if sum(decoded) <= DECODED_BYTES:
        return [read(dataset, i) for i in range(len(windows))]
    options = rasterio.env.getenv() if rasterio.env.hasenv() else {}

    def run(share: list[list[int]]) -> list[Any]:
        parts = []
        for group in share:
            # The GeoTIFF driver only, as the Opener opens (see oam_preview.remote.gdal_safety).
            with rasterio.Env(**options), rasterio.open(dataset.name, driver="GTiff") as own:
                parts += [read(own, i) for i in group]
        return parts

    # Each thread takes a run of consecutive groups: a GDAL chunk (16 kB) that two groups share is
    # then fetched once, except where two runs meet. New threads, so a fresh context each:
    # rasterio keeps a call's GDAL errors in a context variable.
    todo = groups(decoded, DECODED_BYTES // DECODE_THREADS)
    n = min(DECODE_THREADS, len(todo))
    shares = [todo[k * len(todo) // n : (k + 1) * len(todo) // n] for k in range(n)]
    with concurrent.futures.ThreadPoolExecutor(n, thread_name_prefix="decode") as pool:
        return [part for parts in pool.map(run, shares) for part in parts]


def shrink(pixels: Pixels, width: int, height: int) -> Pixels:
    """``pixels`` at ``width`` x ``height`` (never larger), nearest neighbour, in memory."""
    _, rows0, cols0 = pixels.data.shape
    if (cols0, rows0) == (width, height) or width > cols0 or height > rows0:
        return pixels
    r, c = sampled(rows0, height), sampled(cols0, width)
    return Pixels(
        np.ascontiguousarray(pixels.data[:, r][:, :, c]), np.ascontiguousarray(pixels.mask[r][:, c])
    )
