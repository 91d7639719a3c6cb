"""The worker's own cache of rendered responses: a bytes-bounded LRU (:class:`ResponseCache`)."""

from __future__ import annotations

import threading
from collections import OrderedDict

from .entry import CachedResponse, Produce, SingleFlight, Tally, too_big_to_keep


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
        if too_big_to_keep(size, self.max_bytes):
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
        return self.coalesced(key, lambda: self.peek(key) or self.render(key, produce))

    def coalesced(self, key: str, fill: Produce) -> CachedResponse:
        """``fill()`` run once for concurrent callers of ``key`` in this process (the others share
        its outcome, counted ``coalesced``): how this cache and the tiers under it render once."""
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
