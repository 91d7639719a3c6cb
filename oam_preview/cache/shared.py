"""Rendered responses in Redis, shared by every worker and instance, with render-once locks.

Redis is an optimisation, never a dependency of a request. Every command has
a short socket timeout and is not retried by the client; after a failure
Redis is not asked again for a back-off period (0.5 s, doubling up to 30 s,
reset by the first success), during which reads miss, writes are dropped and
renders are local. One probe at a time tries Redis again when a period ends.

Render once across the fleet: a miss takes the key's lock, ``SET lock token
NX PX lock_ttl`` with a random token, renders, stores the result, then
releases the lock with a compare-and-delete script (so an owner whose lock
expired cannot delete another's). A miss that finds the lock taken polls for
the result with back-off (10 ms doubling to 200 ms), taking the lock itself
if it disappears without a result (the owner failed, or died and its lock
expired), and renders without the lock once ``lock_wait`` seconds have passed, or half
the time the request has left before its deadline, whichever comes first.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

from .. import deadline as request_deadline
from .entry import CachedResponse, Produce, Tally

log = logging.getLogger(__name__)

#: Delete the lock only if it still holds our token (KEYS[1] lock, ARGV[1] token).
RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""

POLL_FIRST, POLL_MAX = 0.01, 0.2  # seconds between polls for another process's render


class SharedCache:
    """Responses in Redis at ``url`` for ``ttl`` seconds; see the module doc."""

    PREFIX = "oam-preview:v2:"
    LOCK_PREFIX = "oam-preview:lock:v1:"

    def __init__(
        self,
        url: str,
        ttl: float,
        lock_ttl: float = 10.0,
        lock_wait: float = 10.0,
        socket_timeout: float = 0.5,
        backoff_min: float = 0.5,
        backoff_max: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        import redis  # optional: pip install 'oam-preview[redis]'
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        self._errors = (redis.RedisError, OSError)
        # No retries inside the client: a failure is handled once, by backing off.
        self._client = redis.Redis.from_url(
            url,
            socket_timeout=socket_timeout,
            socket_connect_timeout=socket_timeout,
            retry=Retry(NoBackoff(), 0),
        )
        self._release = self._client.register_script(RELEASE)
        self.ttl = max(1, round(ttl))
        self.lock_ttl_ms = max(1, round(lock_ttl * 1000))
        self.lock_wait = lock_wait
        self.backoff_min, self.backoff_max = backoff_min, backoff_max
        self.clock = clock
        self.tally = Tally("shared")
        self._state_lock = threading.Lock()
        self._backoff = 0.0  # 0: up; else the current back-off period, seconds
        self._down_until = 0.0  # clock() before which Redis is not asked

    def _key(self, key: str) -> str:
        return self.PREFIX + hashlib.blake2b(key.encode(), digest_size=16).hexdigest()

    def _lock_key(self, key: str) -> str:
        return self.LOCK_PREFIX + hashlib.blake2b(key.encode(), digest_size=16).hexdigest()

    # -- one Redis command, or none while backing off --------------------------------------

    def _call(self, command: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[bool, Any]:
        """``(True, result)`` of ``command``, or ``(False, None)`` when Redis failed or is backed off."""
        with self._state_lock:
            now = self.clock()
            if now < self._down_until:
                skipped = True
            else:
                skipped = False
                if self._backoff:  # down: this call is the one probe of this period
                    self._down_until = now + self._backoff
        if skipped:
            self.tally("skipped")
            return False, None
        try:
            result = command(*args, **kwargs)
        except self._errors as exc:
            self._failed(exc)
            return False, None
        if self._backoff:
            with self._state_lock:
                self._backoff, self._down_until = 0.0, 0.0
            log.warning("shared cache reachable again")
        return True, result

    def _failed(self, exc: Exception) -> None:
        self.tally("error")
        with self._state_lock:
            self._backoff = min(self.backoff_max, self._backoff * 2 or self.backoff_min)
            self._down_until = self.clock() + self._backoff
            backoff = self._backoff
        log.warning("shared cache unavailable, local only for %.1f s: %s", backoff, exc)

    @property
    def available(self) -> bool:
        """Whether Redis is asked at all now (not backing off after a failure)."""
        with self._state_lock:
            return self.clock() >= self._down_until

    # -- responses -----------------------------------------------------------------------

    def _read(self, key: str) -> tuple[bool, CachedResponse | None]:
        """``(whether Redis answered, the entry)``; nothing is counted."""
        ok, raw = self._call(self._client.get, self._key(key))
        if not ok or not isinstance(raw, bytes):
            return ok, None
        media_type, etag, headers, body = raw.split(b"\n", 3)
        pairs = tuple((str(k), str(v)) for k, v in json.loads(headers))
        return True, CachedResponse(body, media_type.decode(), etag.decode(), pairs)

    def get(self, key: str) -> CachedResponse | None:
        ok, entry = self._read(key)
        if ok:
            self.tally("miss" if entry is None else "hit")
        return entry

    def put(self, key: str, entry: CachedResponse) -> None:
        headers = json.dumps(entry.headers).encode()  # JSON escapes newlines: one line
        raw = b"\n".join((entry.media_type.encode(), entry.etag.encode(), headers, entry.body))
        self._call(self._client.set, self._key(key), raw, ex=self.ttl)

    # -- render once ---------------------------------------------------------------------

    def render_once(self, key: str, render: Produce) -> tuple[CachedResponse, bool]:
        """``(response, whether it came from another process's render)`` for a missed ``key``.

        ``render`` must store its result here before returning (waiters poll for it).
        """
        lock, token = self._lock_key(key), secrets.token_hex(16)
        # Never wait out the request's own deadline: half of what it has left stays for the
        # render itself (a lock whose owner died holds for lock_ttl; waiting that long made 504s).
        deadline = self.clock() + min(self.lock_wait, request_deadline.remaining(self.lock_wait) / 2)
        delay, waiting = POLL_FIRST, False
        while True:
            ok, acquired = self._call(self._client.set, lock, token, nx=True, px=self.lock_ttl_ms)
            if not ok:
                break  # Redis down: local only
            if acquired:
                self.tally("lock_acquired")
                try:
                    return render(), False
                finally:
                    self._call(self._release, keys=[lock], args=[token])
            if not waiting:
                waiting = True
                self.tally("lock_wait")
            now = self.clock()
            if now >= deadline:
                self.tally("lock_timeout")
                break
            time.sleep(min(delay, deadline - now))
            delay = min(delay * 2, POLL_MAX)
            ok, entry = self._read(key)
            if not ok:
                break
            if entry is not None:
                self.tally("lock_result")
                return entry, True
        return render(), False

    def stats(self) -> dict[str, Any]:
        with self._state_lock:
            backoff, down = self._backoff, self.clock() < self._down_until
        counts = {
            name: self.tally[name]
            for name in (
                "hit", "miss", "error", "skipped", "lock_acquired", "lock_wait", "lock_result", "lock_timeout",
            )
        }  # fmt: skip
        return {
            "hits": counts.pop("hit"),
            "misses": counts.pop("miss"),
            "errors": counts.pop("error"),
            **counts,
            "state": "backing_off" if down else ("probing" if backoff else "up"),
            "backoff_seconds": backoff,
        }
