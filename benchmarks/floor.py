"""The in-process floor: the same tiles decoded, warped and encoded with no HTTP and no server.

Each tile is what oam-preview's tile path does minus everything around it:
rio-tiler's ``Reader.tile`` on the local file (only the blocks under the tile
decoded, with the same block cache), :func:`~oam_preview.tiler.render.to_pixels`,
and the PNG encoder. CPU is this process's ``time.process_time()``, one tile
after another; the server's CPU per tile divided by it is what HTTP, GDAL's
curl client, gunicorn, Flask and the hand-offs cost.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import rasterio
from rio_tiler.io import Reader

from oam_preview.config import Settings
from oam_preview.geo.tiles import TMS
from oam_preview.remote.gdal_settings import set_block_cache, worker_cache_bytes
from oam_preview.tiler.description import describe
from oam_preview.tiler.render import encode, to_pixels


def floor(path: Path, tiles: list[tuple[int, int, int]], fmt: str = "png") -> dict[str, Any]:
    """CPU ms per tile (and its parts) of ``tiles`` of the local file ``path``, in this process."""
    set_block_cache(worker_cache_bytes(Settings()))  # a worker's, as the server's default
    read_s = pixels_s = encode_s = 0.0
    body = 0
    with rasterio.open(path) as dataset:
        info = describe(dataset, float("inf"))
        started = time.process_time()
        with Reader(None, dataset=dataset, tms=TMS) as reader:
            for z, x, y in tiles:
                t0 = time.process_time()
                img = reader.tile(x, y, z, tilesize=256, indexes=info.bands)
                t1 = time.process_time()
                pixels = to_pixels(img, info)
                t2 = time.process_time()
                data, _ = encode(pixels, fmt)
                t3 = time.process_time()
                read_s, pixels_s, encode_s = read_s + t1 - t0, pixels_s + t2 - t1, encode_s + t3 - t2
                body += len(data)
        total = time.process_time() - started
    n = max(1, len(tiles))
    return {
        "tiles": len(tiles),
        "cpu_ms": total * 1000 / n,
        "read_ms": read_s * 1000 / n,
        "pixels_ms": pixels_s * 1000 / n,
        "encode_ms": encode_s * 1000 / n,
        "body_kb": body / 1000 / n,
    }
