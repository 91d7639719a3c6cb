"""What reads of one file cost upstream, counted as they are sent: GDAL's and oam-preview's own.

GDAL sends its requests itself (``/vsicurl/``); its network statistics
(``CPL_VSIL_NETWORK_STATS_ENABLED``, GDAL >= 3.2) count them per file: requests (GET
and HEAD) and downloaded bytes. They are process-wide, and turned on once, before the
process's first read (:func:`start_network_statistics`, by the first
:class:`~oam_preview.remote.opener.Opener`), never off: GDAL keeps each thread's place
(file, action) in a stack it pushes and pops only while they are on, so a read in flight
on another thread when they are switched leaves a stale place on its thread (switched
off: every later request of that thread is counted under another file, and a report
counted none of its reads, issue 34) or pops an empty stack (switched on: the process
crashes). A measurement takes differences; the first to start clears them
(:func:`network_statistics`), which is safe while reads run. The requests oam-preview sends
itself (the version check's HEAD, the report's probes) go through the upstream
policy's ``urlopen``: :class:`CountingPolicy` counts those.

In a serving worker, other requests reading the *same* file during a measurement
count too: a measurement of a file that is being served is an upper bound.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from rasterio.env import set_gdal_config

from .gdal_safety import _loaded_gdal
from .policy import UpstreamPolicy


@dataclass(frozen=True)
class Tally:
    """Upstream ``requests`` and body ``bytes`` (as received)."""

    requests: int = 0
    bytes: int = 0

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.requests + other.requests, self.bytes + other.bytes)

    def __sub__(self, other: Tally) -> Tally:
        return Tally(self.requests - other.requests, self.bytes - other.bytes)


class CountingPolicy(UpstreamPolicy):
    """An :class:`UpstreamPolicy` whose :meth:`urlopen` counts the requests it sends (each
    redirect hop too) and the body bytes read through it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._counted = Tally()
        self._count_lock = threading.Lock()

    @property
    def tally(self) -> Tally:
        with self._count_lock:
            return self._counted

    def _add(self, requests: int, nbytes: int) -> None:
        with self._count_lock:
            self._counted = self._counted + Tally(requests, nbytes)

    def urlopen(self, request: urllib.request.Request, timeout: float) -> Any:
        self._add(1, 0)
        response = super().urlopen(request, timeout)
        if response.geturl() != request.full_url:
            self._add(1, 0)  # at least one redirect hop before it
        return _CountedBody(response, self._add)


class _CountedBody:
    """A response whose ``read`` counts the bytes it returns."""

    def __init__(self, response: Any, add: Any) -> None:
        self._response = response
        self._add = add

    def read(self, amount: int = -1) -> bytes:
        data: bytes = self._response.read(amount)
        self._add(0, len(data))
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._response, name)

    def __enter__(self) -> _CountedBody:
        return self

    def __exit__(self, *exc: object) -> None:
        self._response.close()


#: Reads between two clearings of GDAL's statistics while no measurement runs: they keep an
#: entry per file read, so a server that never measures would grow them for ever.
CLEAR_EVERY = 1000

_lock = threading.Lock()
_running = 0
_started = False
_reads_since_clear = 0


def start_network_statistics() -> None:
    """Turn GDAL's network statistics on for the rest of the process (see the module doc): once,
    before this process reads anything remote, so no read is in flight while they switch."""
    global _started
    lib = _loaded_gdal()
    with _lock:
        if _started or lib is None:
            return
        set_gdal_config("CPL_VSIL_NETWORK_STATS_ENABLED", "YES")
        lib.VSINetworkStatsReset()  # GDAL reads the setting again at its next request
        _started = True


@contextlib.contextmanager
def network_statistics() -> Iterator[None]:
    """GDAL's network statistics counting for the block (see the module doc): the first block of
    those running at once clears what they counted before (else they grow with each file read)."""
    global _running
    start_network_statistics()
    lib = _loaded_gdal()
    global _reads_since_clear
    with _lock:
        if _running == 0 and lib is not None:
            lib.VSINetworkStatsReset()  # clears the counts only: the threads' places stay
            _reads_since_clear = 0
        _running += 1
    try:
        yield
    finally:
        with _lock:
            _running -= 1


def note_read() -> None:
    """One more read in this process: every :data:`CLEAR_EVERY` reads, GDAL's statistics are
    cleared when no measurement is running (as the first measurement clears them)."""
    global _reads_since_clear
    with _lock:
        _reads_since_clear += 1
        if _reads_since_clear < CLEAR_EVERY or _running or not _started:
            return
        _reads_since_clear = 0
        lib = _loaded_gdal()
        if lib is not None:
            lib.VSINetworkStatsReset()


def gdal_tally(path: str) -> Tally:
    """What GDAL has sent for the GDAL path ``path`` (``/vsicurl/…``) since the statistics were
    cleared: requests and downloaded bytes; nothing when they are off or GDAL lacks them."""
    lib = _loaded_gdal()
    if lib is None or not hasattr(lib, "VSINetworkStatsGetAsSerializedJSON"):
        return Tally()
    lib.VSINetworkStatsGetAsSerializedJSON.restype = ctypes.c_void_p
    lib.VSINetworkStatsGetAsSerializedJSON.argtypes = [ctypes.c_void_p]
    lib.VSIFree.argtypes = [ctypes.c_void_p]
    pointer = lib.VSINetworkStatsGetAsSerializedJSON(None)
    if not pointer:
        return Tally()
    try:
        doc = json.loads(ctypes.string_at(pointer).decode("utf-8", "replace"))
    finally:
        lib.VSIFree(pointer)
    return _file_tally(doc, path)


def _file_tally(node: Any, path: str) -> Tally:
    """Requests and bytes of ``path`` in GDAL's statistics tree: each context path (file then
    action, or action then file) is counted once, at the file's node nearest the root."""
    if not isinstance(node, dict):
        return Tally()
    total = Tally()
    files = node.get("files")
    if isinstance(files, dict) and isinstance(files.get(path), dict):
        total = total + _methods(files[path].get("methods"))
    for key in ("handlers", "actions"):
        children = node.get(key)
        if isinstance(children, dict):
            for child in children.values():
                total = total + _file_tally(child, path)
    return total


def _methods(methods: Any) -> Tally:
    if not isinstance(methods, dict):
        return Tally()
    requests = sum(int(m.get("count", 0)) for m in methods.values() if isinstance(m, dict))
    nbytes = sum(int(m.get("downloaded_bytes", 0)) for m in methods.values() if isinstance(m, dict))
    return Tally(requests, nbytes)
