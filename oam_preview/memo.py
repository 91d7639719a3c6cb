"""Compute-once memory for the expensive first computation of a key, per worker process.

The first tiles of a map view arrive together: :class:`Memo` lets one thread
compute a key's value (describe an image, read a thumbnail without overviews)
while the others wait for it, and keeps the results in a bounded LRU. A
computation that raises stores nothing, so a transient failure is not
remembered as an answer.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Hashable, Iterator
from typing import Any, Generic, TypeVar

from cachetools import LRUCache

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class KeyedLocks:
    """One lock per key, alive only while some thread holds or waits for it."""

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


class Memo(Generic[K, V]):
    """Values by key, each computed by one thread at a time, at most ``maxsize`` kept
    (counted by ``getsizeof``, 1 a value by default), least recently used dropped first."""

    def __init__(self, maxsize: int, getsizeof: Callable[[V], int] | None = None) -> None:
        self._values: LRUCache[K, V] = LRUCache(maxsize=maxsize, getsizeof=getsizeof)
        self._lock = threading.Lock()
        self._computing = KeyedLocks()

    def peek(self, key: K) -> V | None:
        """The value of ``key`` if it is known, without computing it."""
        with self._lock:
            return self._values.get(key)

    def get(self, key: K, compute: Callable[[], V]) -> V:
        """The value of ``key``, computed by ``compute()`` on the first call (or after eviction)."""
        value = self.peek(key)
        if value is not None:
            return value
        with self._computing(key):
            value = self.peek(key)  # computed while this thread waited
            if value is None:
                value = compute()
                # A value larger than the whole memo is returned, not kept.
                with self._lock, contextlib.suppress(ValueError):
                    self._values[key] = value
        return value
