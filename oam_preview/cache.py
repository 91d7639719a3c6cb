"""A bounded in-process cache of rendered responses (bytes-bounded LRU)."""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CachedResponse:
    body: bytes
    media_type: str
    etag: str


class ResponseCache:
    """Least-recently-used responses, at most ``max_bytes`` of bodies in all."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, CachedResponse] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> CachedResponse | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
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

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {
                "entries": len(self._entries),
                "bytes": self._size,
                "hits": self.hits,
                "misses": self.misses,
            }


class KeyedLocks:
    """One lock per key, alive only while some thread holds or waits for it.

    ``with locks(key):`` lets one thread at a time do the expensive first
    computation for ``key`` (opening a file, reading a thumbnail without
    overviews) while the others wait and then find its result cached.
    """

    def __init__(self) -> None:
        self._locks: dict[Hashable, list[Any]] = {}  # key -> [lock, holders and waiters]
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def __call__(self, key: Hashable) -> Iterator[None]:
        with self._lock:
            entry = self._locks.setdefault(key, [threading.Lock(), 0])
            entry[1] += 1
        try:
            with entry[0]:
                yield
        finally:
            with self._lock:
                entry[1] -= 1
                if entry[1] == 0:
                    del self._locks[key]

    def __len__(self) -> int:
        with self._lock:
            return len(self._locks)
