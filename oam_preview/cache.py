"""Caches of rendered responses: a bytes-bounded LRU per worker, optionally backed by Redis.

The in-process :class:`ResponseCache` is always there; :class:`SharedCache`
(``OAM_PREVIEW_CACHE_URL=redis://…``) lets the workers of one machine, or
several machines, share what each rendered. :class:`TieredCache` asks the
local one first.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
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


log = logging.getLogger(__name__)


class SharedCache:
    """Rendered responses in Redis, expiring after ``ttl`` seconds.

    Redis is an optimisation, never a dependency of a request: when it is
    down or slow (half a second), reads miss and writes are dropped.
    """

    PREFIX = "oam-preview:v1:"

    def __init__(self, url: str, ttl: float) -> None:
        import redis  # optional: pip install 'oam-preview[redis]'

        self._errors = (redis.RedisError, OSError)
        self._client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self.ttl = max(1, round(ttl))
        self.hits = self.misses = self.errors = 0

    def _key(self, key: str) -> str:
        return self.PREFIX + hashlib.blake2b(key.encode(), digest_size=16).hexdigest()

    def get(self, key: str) -> CachedResponse | None:
        try:
            raw = self._client.get(self._key(key))
        except self._errors as exc:
            self._failed(exc)
            return None
        if not isinstance(raw, bytes):
            self.misses += 1
            return None
        self.hits += 1
        media_type, etag, body = raw.split(b"\n", 2)
        return CachedResponse(body, media_type.decode(), etag.decode())

    def put(self, key: str, entry: CachedResponse) -> None:
        raw = b"\n".join((entry.media_type.encode(), entry.etag.encode(), entry.body))
        try:
            self._client.set(self._key(key), raw, ex=self.ttl)
        except self._errors as exc:
            self._failed(exc)

    def _failed(self, exc: Exception) -> None:
        self.errors += 1
        if self.errors == 1 or self.errors % 1000 == 0:
            log.warning("shared cache unavailable (%d errors so far): %s", self.errors, exc)

    def stats(self) -> dict[str, int]:
        return {"hits": self.hits, "misses": self.misses, "errors": self.errors}


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

    def stats(self) -> dict[str, Any]:
        return {**self.local.stats(), "shared": self.shared.stats()}


def response_cache(max_bytes: int, url: str = "", ttl: float = 86400.0) -> ResponseCache | TieredCache:
    """The response cache for the settings: local only, or local then Redis at ``url``."""
    local = ResponseCache(max_bytes)
    return TieredCache(local, SharedCache(url, ttl)) if url else local
