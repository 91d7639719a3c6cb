"""The idle datasets an :class:`~oam_preview.remote.opener.Opener` keeps for reuse."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

#: A pooled dataset's key: its URL, and whether it was opened with its sidecars.
Key = tuple[str, bool]


class DatasetPool:
    """At most ``size`` idle datasets, by :data:`Key`; the least recently given back is closed first.

    A dataset is lent to one thread at a time (rasterio datasets are not
    thread-safe): :meth:`take` removes it, :meth:`give` returns it.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._idle: OrderedDict[Key, list[Any]] = OrderedDict()
        self._count = 0
        self._lock = threading.Lock()

    def take(self, key: Key) -> Any | None:
        """An idle dataset for ``key``, now the caller's; ``None`` if there is none."""
        with self._lock:
            idle = self._idle.get(key)
            if not idle:
                return None
            dataset = idle.pop()
            self._count -= 1
            if not idle:
                del self._idle[key]
            return dataset

    def give(self, key: Key, dataset: Any) -> None:
        """Keep ``dataset`` for ``key``, closing the oldest idle ones beyond :attr:`size`."""
        evicted = []
        with self._lock:
            self._idle.setdefault(key, []).append(dataset)
            self._idle.move_to_end(key)
            self._count += 1
            while self._count > self.size:
                old_key, old = next(iter(self._idle.items()))
                evicted.append(old.pop(0))
                self._count -= 1
                if not old:
                    del self._idle[old_key]
        for old_dataset in evicted:
            old_dataset.close()

    def drop(self, url: str) -> None:
        """Close every idle dataset of ``url``, with or without sidecars."""
        with self._lock:
            stale = [d for key in [(url, False), (url, True)] for d in self._idle.pop(key, [])]
            self._count -= len(stale)
        for dataset in stale:
            dataset.close()

    def clear(self) -> None:
        """Close every idle dataset."""
        with self._lock:
            stale = [d for idle in self._idle.values() for d in idle]
            self._idle.clear()
            self._count = 0
        for dataset in stale:
            dataset.close()
