"""Caches of rendered responses in tiers: the worker's LRU, the machine's file, Redis.

The in-process :class:`ResponseCache` is always there, and small: the hot set
(``OAM_PREVIEW_CACHE_MAX_MB``). Below it, a
:class:`~oam_preview.cache.machine.MachineCache` (``OAM_PREVIEW_MACHINE_CACHE_DIR``,
made by ``oam-preview serve``) keeps the tiles once for all the workers of one
machine, and a :class:`~oam_preview.cache.shared.SharedCache`
(``OAM_PREVIEW_CACHE_URL=redis://…``) for several machines. :class:`TieredCache`
asks them in that order; a hit below fills the tiers above.

Every one offers one way in, ``fetch(key, produce)``: the cached response, or
the one ``produce()`` renders on a miss. Concurrent misses of one key render it
once: within a process by single flight (:class:`SingleFlight`), across the
machine's workers by the machine cache's file lock, across machines by a short
Redis lock (see ``shared``); each is taken only by the one that won the tier above.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from .entry import CachedResponse, Produce
from .local import ResponseCache
from .machine import MachineCache
from .shared import SharedCache


class LowerTier(Protocol):
    """A cache below the worker's LRU, shared by processes: :class:`MachineCache`, :class:`SharedCache`."""

    def get(self, key: str) -> CachedResponse | None: ...

    def put(self, key: str, entry: CachedResponse) -> None: ...

    def render_once(self, key: str, render: Produce) -> tuple[CachedResponse, bool]: ...

    def stats(self) -> dict[str, Any]: ...


class TieredCache:
    """The worker's own LRU first, then the ``machine`` cache and the ``shared`` one (either may be
    ``None``, not both); a hit in a lower tier fills those above it."""

    def __init__(
        self, local: ResponseCache, shared: SharedCache | None = None, machine: MachineCache | None = None
    ) -> None:
        self.local = local
        self.machine = machine
        self.shared = shared
        self.lower: tuple[LowerTier, ...] = tuple(t for t in (machine, shared) if t is not None)

    def get(self, key: str) -> CachedResponse | None:
        entry = self.local.get(key)
        if entry is not None:
            return entry
        for depth, tier in enumerate(self.lower):
            entry = tier.get(key)
            if entry is not None:
                self._fill_above(depth, key, entry)
                return entry
        return None

    def put(self, key: str, entry: CachedResponse) -> None:
        self.local.put(key, entry)
        for tier in self.lower:
            tier.put(key, entry)

    def _fill_above(self, depth: int, key: str, entry: CachedResponse) -> None:
        """Keep ``entry`` found in tier ``depth`` in the tiers above it."""
        for tier in self.lower[:depth]:
            tier.put(key, entry)
        self.local.put(key, entry)

    def fetch(self, key: str, produce: Produce) -> CachedResponse:
        """Local LRU, then each lower tier, then one render for the machine and the fleet."""
        entry = self.local.get(key)
        if entry is not None:
            return entry
        return self.local.coalesced(key, lambda: self._fill(key, produce))

    def _fill(self, key: str, produce: Produce) -> CachedResponse:
        entry = self.local.peek(key)  # a flight for this key may have just ended
        if entry is None:
            entry = self._below(0, key, produce)
            self.local.put(key, entry)
        return entry

    def _below(self, depth: int, key: str, produce: Produce) -> CachedResponse:
        """The response from tier ``depth`` or those under it; rendered here (once for all who
        share the tier) when none has it, and kept in each tier before its lock is released."""
        if depth == len(self.lower):
            return self.local.render(key, produce)
        tier = self.lower[depth]
        entry = tier.get(key)
        if entry is not None:
            return entry

        def render() -> CachedResponse:
            rendered = self._below(depth + 1, key, produce)
            tier.put(key, rendered)  # before the lock is released: waiters poll for it
            return rendered

        entry, _ = tier.render_once(key, render)
        return entry

    def stats(self) -> dict[str, Any]:
        tiers = {"machine": self.machine, "shared": self.shared}
        return {**self.local.stats(), **{name: t.stats() for name, t in tiers.items() if t is not None}}


def response_cache(
    max_bytes: int,
    url: str = "",
    ttl: float = 86400.0,
    machine_dir: str = "",
    machine_bytes: int = 0,
    **shared: Any,
) -> ResponseCache | TieredCache:
    """The response cache for the settings: the local LRU of ``max_bytes``, then the machine's
    file of ``machine_bytes`` in ``machine_dir`` (when both are given), then Redis at ``url``.

    ``shared`` goes to :class:`~oam_preview.cache.shared.SharedCache` (``lock_ttl``, ``lock_wait``…).
    """
    local = ResponseCache(max_bytes)
    machine = (
        MachineCache(Path(machine_dir), machine_bytes, ttl) if machine_dir and machine_bytes > 0 else None
    )
    remote = SharedCache(url, ttl, **shared) if url else None
    if machine is None and remote is None:
        return local
    return TieredCache(local, remote, machine)
