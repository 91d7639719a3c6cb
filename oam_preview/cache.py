"""Caches of rendered responses: a bytes-bounded LRU per worker, optionally backed by Redis.

The in-process :class:`ResponseCache` is always there; a
:class:`~oam_preview.shared_cache.SharedCache` (``OAM_PREVIEW_CACHE_URL=redis://…``)
lets the workers of one machine, or several machines, share what each
rendered. :class:`TieredCache` asks the local one first.

Both offer one way in, ``fetch(key, produce)``: the cached response, or the
one ``produce()`` renders on a miss. Concurrent misses of one key render it
once: within a process by single flight (:class:`SingleFlight`), across
processes and machines by a short Redis lock (see ``shared_cache``).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from .shared_cache import SharedCache

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

#: Called as ``observer(tier, event)`` on every cache event (``oam_preview.metrics`` counts them).
#: Tiers: ``local``, ``shared``. Events: ``hit``, ``miss``, ``render``, ``coalesced`` (waited for
#: a render by another thread of the process), and for ``shared`` also ``error`` (Redis failed),
#: ``skipped`` (Redis not asked: backing off after a failure), ``lock_acquired``, ``lock_wait``
#: (another process holds the key's lock), ``lock_result`` (its render arrived while waiting) and
#: ``lock_timeout`` (none arrived in time: rendered here).
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


class ResponseCache:
    """Least-recently-used responses, at most ``max_bytes`` of bodies in all."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, CachedResponse] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self.tally = Tally("local")
        self.flight = SingleFlight()

    def peek(self, key: str) -> CachedResponse | None:
        """The entry for ``key`` if any, without counting a hit or a miss."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def get(self, key: str) -> CachedResponse | None:
        entry = self.peek(key)
        self.tally("miss" if entry is None else "hit")
        return entry

    def put(self, key: str, entry: CachedResponse) -> None:
        size = len(entry.body)
        if size > self.max_bytes // 4:  # one huge body must not flush the cache
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._size -= len(old.body)
            self._entries[key] = entry
            self._size += size
            while self._size > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self._size -= len(evicted.body)

    def render(self, key: str, produce: Produce) -> CachedResponse:
        """``produce()``, counted as a render and kept."""
        entry = produce()
        self.tally("render")
        self.put(key, entry)
        return entry

    def fetch(self, key: str, produce: Produce) -> CachedResponse:
        """The cached response for ``key``, else ``produce()``'s, rendered once for concurrent misses."""
        entry = self.get(key)
        if entry is not None:
            return entry
        return self._coalesced(key, lambda: self.peek(key) or self.render(key, produce))

    def _coalesced(self, key: str, fill: Produce) -> CachedResponse:
        entry, ran = self.flight.run(key, fill)
        if not ran:
            self.tally("coalesced")
        return entry

    @property
    def hits(self) -> int:
        return self.tally["hit"]

    @property
    def misses(self) -> int:
        return self.tally["miss"]

    def stats(self) -> dict[str, int]:
        with self._lock:
            entries, size = len(self._entries), self._size
        return {
            "entries": entries,
            "bytes": size,
            "hits": self.tally["hit"],
            "misses": self.tally["miss"],
            "renders": self.tally["render"],
            "coalesced": self.tally["coalesced"],
        }


class TieredCache:
    """The worker's own LRU first, then the shared cache (whose hits fill the LRU)."""

    def __init__(self, local: ResponseCache, shared: SharedCache) -> None:
        self.local = local
        self.shared = shared

    def get(self, key: str) -> CachedResponse | None:
        entry = self.local.get(key)
        if entry is None:
            entry = self.shared.get(key)
            if entry is not None:
                self.local.put(key, entry)
        return entry

    def put(self, key: str, entry: CachedResponse) -> None:
        self.local.put(key, entry)
        self.shared.put(key, entry)

    def fetch(self, key: str, produce: Produce) -> CachedResponse:
        """Local LRU, then Redis, then one render for the fleet (see ``SharedCache.render_once``)."""
        entry = self.local.get(key)
        if entry is not None:
            return entry
        return self.local._coalesced(key, lambda: self._fill(key, produce))

    def _fill(self, key: str, produce: Produce) -> CachedResponse:
        entry = self.local.peek(key)  # a flight for this key may have just ended
        if entry is None:
            entry = self.shared.get(key)
        if entry is not None:
            self.local.put(key, entry)
            return entry

        def render() -> CachedResponse:
            rendered = self.local.render(key, produce)
            self.shared.put(key, rendered)  # before the lock is released: waiters poll for it
            return rendered

        entry, from_shared = self.shared.render_once(key, render)
        if from_shared:
            self.local.put(key, entry)
        return entry

    def stats(self) -> dict[str, Any]:
        return {**self.local.stats(), "shared": self.shared.stats()}


def response_cache(
    max_bytes: int, url: str = "", ttl: float = 86400.0, **shared: Any
) -> ResponseCache | TieredCache:
    """The response cache for the settings: local only, or local then Redis at ``url``.

    ``shared`` goes to :class:`~oam_preview.shared_cache.SharedCache` (``lock_ttl``, ``lock_wait``…).
    """
    local = ResponseCache(max_bytes)
    if not url:
        return local
    from .shared_cache import SharedCache

    return TieredCache(local, SharedCache(url, ttl, **shared))
