"""Everything gunicorn: one source of the worker settings for ``oam-preview serve`` and ``deploy/``.

``oam-preview serve`` runs :func:`run`; ``deploy/gunicorn.conf.py`` (what the
systemd unit runs) takes its settings from :func:`config_from_environment`.
Both build them with :func:`gunicorn_settings`, so the hooks (malloc tuning in
every worker, the multiprocess metrics), the request limits and the worker
class (:class:`JsonErrorThreadWorker`: gunicorn's own errors as API.md's JSON)
apply whichever way the server starts.

prometheus-client picks its multiprocess storage when it is first imported,
so ``PROMETHEUS_MULTIPROC_DIR`` must be in the environment before any worker
imports it; this module imports it only inside the hooks, after that.
"""

from __future__ import annotations

import http
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from gunicorn.http import errors as http_errors
from gunicorn.http import message as http_message
from gunicorn.workers.gthread import ThreadWorker

from .errors import BadRequest, HeadersTooLarge, OamPreviewError, UriTooLong
from .offline.lifeline import open_lifeline
from .web.metrics import MULTIPROC_ENV, WORKER, worker_started

#: The WSGI app every worker loads.
WSGI_APP = "oam_preview.web.app:create_app()"

#: Longest request line read, bytes (method, target and version): ``ids=`` naming the 1000 OAM
#: ids API.md allows (24 hex characters each, commas percent-encoded as browsers do: 26,997
#: bytes) and room for the other parameters. gunicorn's default is 4094. Past it: 414.
REQUEST_LINE_LIMIT = 32 * 1024
#: Header fields of one request, and the bytes of one field (gunicorn's defaults). Past them: 431.
HEADER_FIELDS_LIMIT = 100
HEADER_FIELD_LIMIT = 8190

#: glibc ``mallopt`` parameters (malloc.h) and the values :func:`tune_malloc` gives them.
MALLOPT = {
    "M_ARENA_MAX": (-8, 2),  # arenas, whatever the thread count
    "M_MMAP_THRESHOLD": (-3, 2 * 1024 * 1024),  # blocks this large are mmapped, returned on free
    "M_TRIM_THRESHOLD": (-1, 8 * 1024 * 1024),  # free heap top kept before it is returned
    "M_TOP_PAD": (-2, 2 * 1024 * 1024),  # heap grown this much at a time
}


def tune_malloc() -> bool:
    """Keep a worker's RSS near the memory it holds (glibc only).

    GDAL's block cache and /vsicurl/ buffers churn through blocks of 0.5-2 MB
    from a dozen threads: glibc gives each thread an arena of its own (8 per
    core) and, once such a block is freed, raises its mmap threshold so the
    next ones come from the arenas' heaps, where freed memory stays resident.
    Two arenas and a fixed threshold took a worker's peak RSS in ``make bench``
    from 777 to about 500 MB. A fixed threshold also fixes the trim threshold
    at 128 kB, and a heap trimmed and regrown for every 200 kB array doubled
    the cost of ``to_pixels``: hence the trim threshold and the top pad. At
    256 kB every decoded block was mmapped and page-faulted in afresh (+45 % CPU
    for a thumbnail decoding 190 MB of strips); 1 MB kept the peak as low, but
    a float32 block of 512 px, OpenAerialMap's elevation files, is 1 MB exactly:
    each decoded one was mmapped and faulted in afresh (+0.5 ms a cold DSM
    tile); 2 MB keeps them in the heap, which the trim thread returns.
    """
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        accepted = [bool(libc.mallopt(param, value)) for param, value in MALLOPT.values()]  # every one
        return all(accepted)
    except (OSError, AttributeError):  # not glibc: its allocator's defaults
        return False


#: Modules that rio-tiler imports whenever they are installed (its ``XarrayReader``) and that
#: oam-preview never uses: with them, pandas, 43 MB of each worker's RSS. Installed beside it
#: they are (TiTiler's ``titiler.xarray``, a notebook's environment), so the workers skip them.
UNUSED_IMPORTS = ("xarray", "rioxarray")


def skip_unused_imports() -> None:
    """In a worker before its app is imported: :data:`UNUSED_IMPORTS` made to fail on import (a
    ``None`` in ``sys.modules``), which rio-tiler takes as "not installed"; one already imported
    is left alone."""
    for name in UNUSED_IMPORTS:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]


#: How often a worker gives the free memory of its heap back to the system, seconds.
TRIM_EVERY_S = 2.0


def trim_malloc_forever(every: float = TRIM_EVERY_S) -> None:
    """Every ``every`` seconds, glibc's ``malloc_trim(0)``: the free pages inside the arenas (not
    only at their tops) given back. GDAL's block cache and the tiles' arrays free blocks of
    0.2-1 MB all over two long-lived heaps; without it a worker's RSS keeps every page it ever
    used. Counted in ``WORKER["malloc_trims"]``; returns at once where there is no glibc."""
    try:
        import ctypes

        trim = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    WORKER["malloc_trims"] = 0
    while True:
        time.sleep(every)
        trim(0)
        WORKER["malloc_trims"] += 1


def prepare_directory() -> tuple[Path, bool]:
    """Before the workers start: ``PROMETHEUS_MULTIPROC_DIR`` emptied, or a new temporary one set
    in the environment; ``(directory, whether it is ours to remove at exit)``."""
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        directory = Path(given)
        directory.mkdir(parents=True, exist_ok=True)
        for old in directory.glob("*.db"):  # a previous run's values would be summed in
            old.unlink()
        return directory, False
    directory = Path(tempfile.mkdtemp(prefix="oam-preview-metrics-"))
    os.environ[MULTIPROC_ENV] = str(directory)
    return directory, True


#: The setting naming the directory of the response cache shared by a server's workers.
MACHINE_CACHE_ENV = "OAM_PREVIEW_MACHINE_CACHE_DIR"


def prepare_machine_cache() -> Path | None:
    """Before the workers start: unless the operator named one (``OAM_PREVIEW_MACHINE_CACHE_DIR``;
    set but empty: none), a new temporary directory for the workers' shared response cache, set in
    the environment; it is this server's alone (two servers never share one by accident) and is
    the one to remove at exit."""
    if MACHINE_CACHE_ENV in os.environ:
        return None
    directory = Path(tempfile.mkdtemp(prefix="oam-preview-cache-"))
    os.environ[MACHINE_CACHE_ENV] = str(directory)
    return directory


def post_fork(server: Any, worker: Any) -> None:
    """gunicorn hook, in a worker right after the fork, before its threads start and its app
    is imported."""
    WORKER["malloc_tuned"] = tune_malloc()
    skip_unused_imports()


def post_worker_init(worker: Any) -> None:
    """gunicorn hook, in a worker once its app is loaded: count its threads as capacity."""
    threads = int(worker.cfg.threads)
    WORKER.update(threads=threads, worker_class=str(worker.cfg.worker_class_str), timeout=worker.cfg.timeout)
    WORKER["unused_imports_skipped"] = [name for name in UNUSED_IMPORTS if sys.modules.get(name, 0) is None]
    worker_started(threads)
    threading.Thread(target=trim_malloc_forever, name="malloc-trim", daemon=True).start()


def child_exit(server: Any, worker: Any) -> None:
    """gunicorn hook, in the master when a worker exits: drop its live gauges (counters stay)."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def refused_request(exc: BaseException) -> OamPreviewError | None:
    """API.md's error for a request gunicorn refuses before the app sees it (a request line
    or headers past the limits, a malformed request); ``None``: not the client's fault, or
    an answer gunicorn keeps (501, 417), left to gunicorn."""
    if isinstance(exc, http_errors.LimitRequestLine):
        return UriTooLong(f"the request line is longer than {REQUEST_LINE_LIMIT} bytes")
    if isinstance(exc, http_errors.LimitRequestHeaders):
        return HeadersTooLarge(
            f"more than {HEADER_FIELDS_LIMIT} header fields, or one longer than {HEADER_FIELD_LIMIT} bytes"
        )
    # A response header the app sent is the app's fault (gunicorn's 500), not the client's.
    app_fault = tuple(
        getattr(http_errors, name)
        for name in ("InvalidResponseHeader", "InvalidResponseHeaderName")
        if hasattr(http_errors, name)  # gunicorn >= 23
    )
    malformed = (
        http_errors.InvalidRequestLine,
        http_errors.InvalidRequestMethod,
        http_errors.InvalidHTTPVersion,
        http_errors.InvalidHeader,
        http_errors.InvalidHeaderName,
        http_errors.InvalidChunkSize,
        http_errors.ChunkMissingTerminator,
    )
    if isinstance(exc, malformed) and not isinstance(exc, app_fault):
        return BadRequest(f"malformed HTTP request: {str(exc)[:200]}")
    return None


def error_bytes(error: OamPreviewError) -> bytes:
    """``error`` as a whole HTTP/1.1 response that closes its connection: API.md's JSON body,
    :data:`~oam_preview.web.responses.COMMON_HEADERS`, ``no-store``."""
    # Here, not at the top: the master imports this module and never the app (numpy, GDAL,
    # rio-tiler: 100 MB of RSS kept for nothing, counted once more than the workers).
    from .web.responses import COMMON_HEADERS

    body = json.dumps(error.to_dict()).encode()
    headers = {
        "Connection": "close",
        "Content-Type": "application/json",
        "Content-Length": str(len(body)),
        "Cache-Control": "no-store",
        **COMMON_HEADERS,
    }
    head = f"HTTP/1.1 {error.status} {http.HTTPStatus(error.status).phrase}\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return (head + "\r\n").encode("latin-1") + body


class JsonErrorThreadWorker(ThreadWorker):  # type: ignore[misc]
    """gunicorn's threaded worker (``gthread``) whose own answers to a refused request are
    API.md's JSON errors, not its HTML pages, with a request line up to :data:`REQUEST_LINE_LIMIT`."""

    def init_process(self) -> None:
        # gunicorn takes no limit_request_line past 8190 bytes (its MAX_REQUEST_LINE) but 0,
        # which reads a line of any length (all of it in memory, parsed again at each read):
        # this worker's bound is raised to the limit set instead.
        limit = int(self.cfg.limit_request_line)
        http_message.MAX_REQUEST_LINE = max(http_message.MAX_REQUEST_LINE, limit)
        super().init_process()

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        error = refused_request(exc)
        if error is None:
            super().handle_error(req, client, addr, exc)
            return
        self.log.warning("Invalid request from ip=%s: %s", (addr or ("",))[0], exc)
        try:
            client.sendall(error_bytes(error))
        except OSError:
            self.log.debug("Failed to send error message.")


def gunicorn_settings(
    bind: str, workers: int, threads: int, max_requests: int = 0, remove_at_exit: tuple[Path, ...] = ()
) -> dict[str, Any]:
    """The gunicorn settings of one oam-preview server (threaded workers), hooks included.

    Call it in the master before the workers start: it points the workers'
    metrics at one directory (:func:`prepare_directory`) and, for the
    standalone server, keeps GDAL to the drivers a remote GeoTIFF needs. It tells
    the workers how many of them share the machine (``OAM_PREVIEW_WORKERS``):
    each takes its share of the machine's GDAL caches.
    """
    os.environ["OAM_PREVIEW_WORKERS"] = str(workers)

    def on_exit(server: Any) -> None:
        for directory in remove_at_exit:
            shutil.rmtree(directory, ignore_errors=True)

    return {
        "wsgi_app": WSGI_APP,
        "bind": bind,
        "workers": workers,
        "threads": threads,
        "worker_class": f"{__name__}.{JsonErrorThreadWorker.__name__}",
        "limit_request_line": REQUEST_LINE_LIMIT,
        "limit_request_fields": HEADER_FIELDS_LIMIT,
        "limit_request_field_size": HEADER_FIELD_LIMIT,
        "timeout": 60,
        "graceful_timeout": 30,
        "keepalive": 5,
        "accesslog": "-",
        "max_requests": max_requests,
        # Spread restarts so the workers don't all restart at once.
        "max_requests_jitter": max_requests // 10,
        "post_fork": post_fork,
        "post_worker_init": post_worker_init,
        "child_exit": child_exit,
        "on_exit": on_exit,
    }


def prepare_process() -> tuple[Path, ...]:
    """The master's environment for its workers: GDAL drivers, the metrics directory, the
    machine's response cache directory and the lifeline the export jobs they start end with
    (:mod:`oam_preview.offline.lifeline`). The directories to remove at exit: those made here."""
    open_lifeline()
    if "OAM_PREVIEW_GDAL_DRIVERS" not in os.environ:
        from .config import SERVER_DRIVERS

        os.environ["OAM_PREVIEW_GDAL_DRIVERS"] = SERVER_DRIVERS  # the server owns its processes' GDAL
    directory, own = prepare_directory()
    machine_cache = prepare_machine_cache()
    return tuple(d for d in (directory if own else None, machine_cache) if d is not None)


def config_from_environment(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The settings of ``deploy/gunicorn.conf.py``: :func:`gunicorn_settings` from
    ``OAM_PREVIEW_BIND``, ``_WORKERS``, ``_THREADS`` and ``_MAX_REQUESTS``."""
    env = os.environ if environ is None else environ
    remove_at_exit = prepare_process()
    return gunicorn_settings(
        bind=env.get("OAM_PREVIEW_BIND", "127.0.0.1:8000"),
        workers=int(env.get("OAM_PREVIEW_WORKERS", os.cpu_count() or 1)),
        threads=int(env.get("OAM_PREVIEW_THREADS", 8)),
        max_requests=int(env.get("OAM_PREVIEW_MAX_REQUESTS", 0)),
        remove_at_exit=remove_at_exit,
    )


def run(settings: dict[str, Any], load: Callable[[], Any] | None = None) -> None:
    """Run gunicorn in this process with ``settings`` (see :func:`gunicorn_settings`)."""
    from gunicorn.app.base import BaseApplication

    class Application(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for key, value in settings.items():
                if key != "wsgi_app":
                    self.cfg.set(key, value)

        def load(self) -> Any:
            from .web.app import create_app

            return (load or create_app)()

    Application().run()
