"""GDAL's configuration for reading remote GeoTIFFs: HTTP and cache settings, warnings, paths.

Per thread (:func:`gdal_options`, applied by the Opener around each read) and
once per process (:func:`set_block_cache`, :func:`quiet_reader_warnings`).
"""

from __future__ import annotations

import warnings
from typing import Any

from rasterio.env import set_gdal_config
from rasterio.errors import NodataShadowWarning, NotGeoreferencedWarning
from rio_tiler.errors import AlphaBandWarning, NoOverviewWarning

from ..config import Settings
from . import cloud
from .policy import upstream_kind


def quiet_reader_warnings() -> None:
    """Silence, process-wide and once, the warnings rasterio and rio-tiler give for files we serve
    on purpose (no CRS, no overviews, an alpha band, nodata beside an alpha band): not per request, because
    ``warnings.catch_warnings()`` swaps process-global state and is not thread-safe."""
    for category in (NotGeoreferencedWarning, NoOverviewWarning, AlphaBandWarning, NodataShadowWarning):
        warnings.filterwarnings("ignore", category=category)


def gdal_options(settings: Settings) -> dict[str, Any]:
    """GDAL configuration for reading remote COGs with ``settings``' limits.

    - No directory listing or sidecar probing on open (``EMPTY_DIR``): opening
      costs a ``HEAD`` (the file's size) and the header ranges.
    - Merged consecutive ranges and a process-wide cache of downloaded ranges,
      so a tile's blocks come in as few requests as GDAL can manage. (The
      decoded-block cache is set once per process: :func:`set_block_cache`.)
    - The upstream timeout applies to each HTTP request, retried twice on
      429/502/503/504 with a short backoff. GDAL fixes these when a dataset is
      opened, so a pooled dataset keeps them: the request's deadline is kept by
      :meth:`Opener.read` instead, whatever GDAL does.
    - ``CPL_VSIL_CURL_ALLOWED_EXTENSIONS`` is deliberately unset: it breaks
      signed URLs with query strings.
    """
    timeout = max(1, round(settings.upstream_timeout))
    return {
        "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
        "GDAL_INGESTED_BYTES_AT_OPEN": 32768,
        "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
        "GDAL_HTTP_MULTIPLEX": "YES",
        "GDAL_HTTP_TIMEOUT": timeout,
        "GDAL_HTTP_CONNECTTIMEOUT": min(timeout, 5),
        "GDAL_HTTP_MAX_RETRY": 2,
        "GDAL_HTTP_RETRY_DELAY": 0.2,
        "GDAL_HTTP_USERAGENT": "oam-preview",
        "CPL_VSIL_CURL_CACHE_SIZE": worker_cache_bytes(settings),
        "VSI_CACHE": "TRUE",
        # Per open dataset (up to OAM_PREVIEW_DATASET_POOL_SIZE of them a worker): the header and
        # small reads around it. The downloaded ranges are kept once per process above, so a
        # larger one kept them a second time, per dataset (8 MB x 64 datasets, issue 37).
        "VSI_CACHE_SIZE": 1024 * 1024,
        "GTIFF_REPORT_COMPD_CS": "NO",
    }


#: The least of each of GDAL's two caches (decoded blocks, downloaded ranges) in one worker,
#: bytes, however many workers share the machine's budget: sixteen 512 px float32 blocks and the
#: ranges of a few tiles, so neighbouring tiles still share what they read.
MIN_WORKER_CACHE_BYTES = 16 * 1024 * 1024


def worker_cache_bytes(settings: Settings) -> int:
    """Bytes of each of GDAL's caches in one worker process: the machine's
    ``OAM_PREVIEW_GDAL_CACHE_MB`` split between its ``OAM_PREVIEW_WORKERS``, half for
    decoded blocks and half for downloaded ranges (64 MB each at 2 workers, 32 at 4), and
    :data:`MIN_WORKER_CACHE_BYTES` at least.

    A machine budget, not a worker's: neighbouring tiles share blocks (a 512 px JPEG
    block decodes in ~3 ms), but the rendered tiles are in the machine's response
    cache, once for all the workers, so each worker's blocks are mostly a copy of
    another's; a larger cache per worker bought memory, not hits (issue 37).
    """
    share = settings.gdal_cache_mb * 1024 * 1024 / settings.workers / 2
    return max(MIN_WORKER_CACHE_BYTES, int(share))


def set_block_cache(nbytes: int) -> None:
    """Size GDAL's process-wide block cache once (``nbytes`` bytes).

    Not in the per-thread :func:`gdal_options`: rasterio applies
    ``GDAL_CACHEMAX`` with ``GDALSetCacheMax64`` (global, in bytes, so ``128``
    meant 128 *bytes* and every tile re-decoded its JPEG blocks row by row,
    ~1.4 s of CPU), and resets it when each ``rasterio.Env`` exits, so threads
    entering and leaving would keep shrinking and flushing it.
    """
    set_gdal_config("GDAL_CACHEMAX", int(nbytes))


def vsi_path(url: str) -> str:
    """The path GDAL opens for ``url``: an http(s) URL through ``/vsicurl/``, a cloud object
    through ``/vsis3/``, ``/vsigs/`` or ``/vsiaz/`` (with its profile's path-specific options),
    anything else as it is (a local path; any other URL gets this far only when the policy allows any)."""
    kind = upstream_kind(url)
    if kind == "http":
        return "/vsicurl/" + url
    if kind == "cloud":
        path = cloud.parse(url)
        assert path is not None
        return path.gdal_path
    return url
