"""Caches of rendered responses: a bytes-bounded LRU per worker, optionally backed by Redis.

The in-process :class:`ResponseCache` is always there; a
:class:`~oam_preview.cache.shared.SharedCache` (``OAM_PREVIEW_CACHE_URL=redis://…``)
lets the workers of one machine, or several machines, share what each
rendered. :class:`TieredCache` asks the local one first.

Both offer one way in, ``fetch(key, produce)``: the cached response, or the
one ``produce()`` renders on a miss. Concurrent misses of one key render it
once: within a process by single flight (:class:`SingleFlight`), across
processes and machines by a short Redis lock (see ``shared_cache``).
"""

from __future__ import annotations

from typing import Any

from .entry import CachedResponse, Produce
from .local import ResponseCache
from .shared import SharedCache


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

    ``shared`` goes to :class:`~oam_preview.cache.shared.SharedCache` (``lock_ttl``, ``lock_wait``…).
    """
    local = ResponseCache(max_bytes)
    if not url:
        return local
    return TieredCache(local, SharedCache(url, ttl, **shared))
