"""What the caches hold and count: a rendered response, its producer, per-tier event tallies, and
single flight (concurrent misses of one key in one process render it once)."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class CachedResponse:
    """A rendered response as the caches keep it: body, media type, ETag and the headers that
    belong to this body (a mosaic tile's ``X-Mosaic-Images``), as (name, value) pairs."""

    body: bytes
    media_type: str
    etag: str
    headers: tuple[tuple[str, str], ...] = ()


Produce = Callable[[], CachedResponse]


def etag_of(body: bytes) -> str:
    """The ETag of a response body: a digest of its bytes."""
    return hashlib.blake2b(body, digest_size=12).hexdigest()


def too_big_to_keep(size: int, max_bytes: int) -> bool:
    """Whether a body of ``size`` bytes stays out of a cache of ``max_bytes``: over a quarter of
    it, so one huge body never flushes the cache (every bytes-bounded tier's rule)."""
    return size > max_bytes // 4


class Uncacheable(Exception):
    """Raised by a render whose response must not be cached (a part of it failed)."""

    def __init__(self, entry: CachedResponse) -> None:
        super().__init__("uncacheable response")
        self.entry = entry


#: Called as ``observer(tier, event)`` on every cache event (``oam_preview.web.metrics`` counts them).
#: Tiers: ``local``, ``machine``, ``shared``. Events: ``hit``, ``miss``, ``render``, ``coalesced``
#: (waited for a render by another thread of the process); for ``machine`` and ``shared`` also
#: ``error`` (the file or Redis failed), ``lock_acquired``, ``lock_wait`` (another process holds
#: the key's lock), ``lock_result`` (its render arrived while waiting) and ``lock_timeout`` (none
#: arrived in time: rendered here); for ``machine`` ``discarded`` (an entry failing its checksum,
#: or a corrupt file); for ``shared`` ``skipped`` (Redis not asked: backing off after a failure).
OBSERVERS: list[Callable[[str, str], None]] = []


class Tally:
    """Thread-safe counts of one tier's events, each also reported to :data:`OBSERVERS`."""

    def __init__(self, tier: str) -> None:
        self.tier = tier
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def __call__(self, event: str) -> None:
        with self._lock:
            self._counts[event] = self._counts.get(event, 0) + 1
        for observer in OBSERVERS:
            observer(self.tier, event)

    def __getitem__(self, event: str) -> int:
        with self._lock:
            return self._counts.get(event, 0)


@dataclass
class _Call(Generic[T]):
    done: threading.Event = field(default_factory=threading.Event)
    result: T | None = None
    error: BaseException | None = None


class SingleFlight:
    """Concurrent calls for one key in one process: the first runs, the others share its outcome.

    A follower waits at most ``timeout`` seconds (a render is bounded by the
    upstream timeout; this only guards against a hung leader), then runs the
    call itself.
    """

    def __init__(self, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self._calls: dict[Hashable, _Call[Any]] = {}
        self._lock = threading.Lock()

    def run(self, key: Hashable, fn: Callable[[], T]) -> tuple[T, bool]:
        """``(fn()'s result, whether this thread ran it)``; a leader's exception is raised in all."""
        with self._lock:
            call = self._calls.get(key)
            leader = call is None
            if call is None:
                call = self._calls[key] = _Call()
        if not leader:
            if not call.done.wait(self.timeout):
                return fn(), True
            if call.error is not None:
                raise call.error
            return call.result, False  # type: ignore[return-value]  # set before done
        try:
            call.result = fn()
        except BaseException as exc:
            call.error = exc
            raise
        finally:
            with self._lock:
                del self._calls[key]
            call.done.set()
        return call.result, True  # type: ignore[return-value]
