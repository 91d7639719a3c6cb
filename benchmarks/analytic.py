"""The analytic minimum of upstream bytes for a tile or thumbnail.

It is the sum of the compressed sizes of the internal TIFF blocks the request
needs (``TileByteCounts``, read through rasterio's ``block_size``) at the
overview level GDAL reads: for a nearest-neighbour read GDAL takes the coarsest
overview whose decimation factor is below 1.2x the one asked for (its
``GDALBandGetBestOverviewLevel2`` rule). Header bytes are not included: they
are the cost of opening the file, counted apart.
"""

from __future__ import annotations

import math
from pathlib import Path

import rasterio
from rasterio.warp import transform_bounds

from oam_preview.geo.tiles import TMS

#: GDAL's oversampling tolerance for nearest-neighbour overview choice.
NEAREST_THRESHOLD = 1.2


class BlockMap:
    """Block sizes (bytes) of every level of one GeoTIFF; level 0 is full resolution."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with rasterio.open(path) as ds:
            self.crs = ds.crs
            self.transform = ds.transform
            self.width, self.height = ds.width, ds.height
            self.levels = 1 + len(ds.overviews(1))
        self.shapes: list[tuple[int, int, int, int]] = []  # width, height, block rows, block cols
        self.sizes: list[dict[tuple[int, int], int]] = []
        for level in range(self.levels):
            kwargs = {} if level == 0 else {"overview_level": level - 1}
            with rasterio.open(path, **kwargs) as ds:
                rows, cols = ds.block_shapes[0]
                self.shapes.append((ds.width, ds.height, rows, cols))
                n_rows, n_cols = math.ceil(ds.height / rows), math.ceil(ds.width / cols)
                self.sizes.append(
                    {(r, c): ds.block_size(1, r, c) for r in range(n_rows) for c in range(n_cols)}
                )

    def level_for(self, decimation: float, threshold: float = NEAREST_THRESHOLD) -> int:
        """The level GDAL reads for a decimation factor (full-res pixels per output pixel)."""
        best = 0
        for level in range(1, self.levels):
            factor = self.width / self.shapes[level][0]
            if factor < decimation * threshold:
                best = level
        return best

    def window_blocks(
        self, level: int, col0: float, row0: float, col1: float, row1: float
    ) -> set[tuple[int, int, int]]:
        """(level, block row, block column) of the blocks of ``level`` under a window given in
        full-resolution pixels."""
        width, height, block_rows, block_cols = self.shapes[level]
        fx, fy = self.width / width, self.height / height
        c0, c1 = max(0, math.floor(col0 / fx + 1e-9)), min(width, math.ceil(col1 / fx - 1e-9))
        r0, r1 = max(0, math.floor(row0 / fy + 1e-9)), min(height, math.ceil(row1 / fy - 1e-9))
        if c1 <= c0 or r1 <= r0:
            return set()
        return {
            (level, r, c)
            for r in range(r0 // block_rows, (r1 - 1) // block_rows + 1)
            for c in range(c0 // block_cols, (c1 - 1) // block_cols + 1)
        }

    def window_bytes(self, level: int, col0: float, row0: float, col1: float, row1: float) -> int:
        """Bytes of the blocks of ``level`` under a window given in full-resolution pixels."""
        return self.blocks_bytes(self.window_blocks(level, col0, row0, col1, row1))

    def blocks_bytes(self, blocks: set[tuple[int, int, int]]) -> int:
        """Bytes of ``blocks`` (as :meth:`window_blocks` names them), each once."""
        return sum(self.sizes[level][(r, c)] for level, r, c in blocks)

    def tile_blocks(
        self, z: int, x: int, y: int, size: int = 256, buffer: float = 0
    ) -> set[tuple[int, int, int]]:
        """The blocks the Web Mercator tile ``z/x/y`` of ``size`` px needs, read with ``buffer``
        more of the tile's pixels on each side (a hillshade's neighbours)."""
        b = TMS.xy_bounds(x, y, z)
        left, bottom, right, top = transform_bounds("EPSG:3857", self.crs, b.left, b.bottom, b.right, b.top)
        inverse = ~self.transform
        col0, row0 = inverse * (left, top)
        col1, row1 = inverse * (right, bottom)
        decimation = (col1 - col0) / size
        margin = buffer * decimation  # full-resolution pixels
        return self.window_blocks(
            self.level_for(decimation), col0 - margin, row0 - margin, col1 + margin, row1 + margin
        )

    def tile_bytes(self, z: int, x: int, y: int, size: int = 256, buffer: float = 0) -> int:
        """Analytic minimum of bytes for the Web Mercator tile ``z/x/y`` of ``size`` px (with
        ``buffer`` px around it, as :meth:`tile_blocks`)."""
        return self.blocks_bytes(self.tile_blocks(z, x, y, size, buffer))

    def thumbnail_bytes(self, max_size: int) -> int:
        """Analytic minimum for a whole-image thumbnail of longest side ``max_size`` (average resampling)."""
        decimation = max(self.width, self.height) / max_size
        level = self.level_for(decimation, threshold=1.0)
        return self.window_bytes(level, 0, 0, self.width, self.height)

    def inner_tiles(self, zoom: int) -> list[tuple[int, int]]:
        """(x, y) of the zoom's tiles lying wholly inside the image."""
        w, s, e, n = self.lonlat_bounds()
        found = []
        for t in TMS.tiles(w, s, e, n, zoom):
            tb = TMS.bounds(t)
            if tb.left >= w and tb.right <= e and tb.bottom >= s and tb.top <= n:
                found.append((t.x, t.y))
        return found

    def covering_tiles(self, zoom: int) -> list[tuple[int, int]]:
        """(x, y) of the zoom's tiles that show some of the image (its edges' partly transparent)."""
        w, s, e, n = self.lonlat_bounds()
        eps = 1e-9  # a tile that only touches an edge shows nothing
        return [(t.x, t.y) for t in TMS.tiles(w + eps, s + eps, e - eps, n - eps, zoom)]

    def lonlat_bounds(self) -> tuple[float, float, float, float]:
        """The image's (west, south, east, north), EPSG:4326 degrees."""
        left, top = self.transform * (0, 0)
        right, bottom = self.transform * (self.width, self.height)
        return transform_bounds(self.crs, "EPSG:4326", left, bottom, right, top)


def sampled_block_bytes(path: Path, max_size: int) -> int:
    """Stored bytes of the block rows a nearest-neighbour thumbnail of ``max_size`` px samples at
    full resolution (a file without overviews): the strips it needs, header excluded."""
    from oam_preview.tiler.budget import thumbnail_size
    from oam_preview.tiler.decimated import sampled

    with rasterio.open(path) as ds:
        _, rows = thumbnail_size(ds.width, ds.height, max_size)
        block_rows, block_cols = ds.block_shapes[0]
        n_cols = math.ceil(ds.width / block_cols)
        needed = sorted({int(r) // block_rows for r in sampled(ds.height, rows)})
        return sum(ds.block_size(1, r, c) for r in needed for c in range(n_cols))
