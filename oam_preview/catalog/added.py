"""When the catalog first saw each image: the "added" date of the feeds (API.md "Feeds").

Not the capture date: an image captured in 2019 and published today is new
today. Each catalog the store makes current is observed
(:meth:`AddedLog.observe`); an id not seen before is recorded with the time
of that observation, and the record is kept across refreshes and restarts:

- :class:`FileAddedLog`: a small JSON state file (``{"added": {id: ISO 8601
  UTC}}``), one per catalog source, under ``OAM_PREVIEW_STATE_DIR`` (default
  the user's cache directory, ``$XDG_CACHE_HOME/oam-preview``); workers of one
  machine share it under an exclusive ``flock``, so the first to see an id
  writes its time and the others read it;
- :class:`RedisAddedLog`: a Redis hash (``HSETNX``: the first writer of the
  fleet wins) when ``OAM_PREVIEW_CACHE_URL`` names Redis.

An id that leaves the catalog keeps its record: if it comes back, it is not new.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import tempfile
import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from .search import Catalog

log = logging.getLogger(__name__)

#: The state file's format version.
STATE_VERSION = 1


def source_key(source: str) -> str:
    """A short name of a catalog source for file names and Redis keys (no credentials shown)."""
    return hashlib.blake2b(source.encode(), digest_size=8).hexdigest()


def default_state_dir() -> Path:
    """The user's cache directory for oam-preview's state (``$XDG_CACHE_HOME`` or ``~/.cache``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "oam-preview"


def parse_time(text: str) -> datetime | None:
    """An ISO 8601 UTC time of the state; ``None`` when it is not one (a damaged entry is forgotten)."""
    try:
        value = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


class AddedLog(Protocol):
    """The first-seen time of every image id of a catalog source."""

    def observe(self, catalog: Catalog, now: datetime | None = None) -> None:
        """Record ``now`` (default: the current UTC time) for the ids of ``catalog`` not yet seen."""

    def added(self) -> Mapping[str, datetime]:
        """Id -> the time it was first seen (aware UTC), as of the last observation."""


class MemoryAddedLog:
    """First-seen times kept in this process only (a catalog that is never refreshed, tests)."""

    def __init__(self) -> None:
        self._added: dict[str, datetime] = {}
        self._lock = threading.Lock()
        self._observed: Catalog | None = None  # the last catalog observed: observed once

    def observe(self, catalog: Catalog, now: datetime | None = None) -> None:
        when = now or datetime.now(UTC)
        with self._lock:
            if catalog is self._observed:
                return
            self._observed = catalog
            for image in catalog.images:
                self._added.setdefault(image.id, when)

    def added(self) -> Mapping[str, datetime]:
        return dict(self._added)


class FileAddedLog:
    """First-seen times in the JSON state file ``path``, shared by the processes of one machine.

    Each observation reads the file under an exclusive lock (``path`` +
    ``.lock``), adds the new ids and, when there are any, writes it anew
    (a temporary file renamed over it: a crash never leaves half a file). A
    file that cannot be read or written is logged and the times are kept in
    memory: feeds go on, less durably.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._added: dict[str, datetime] = {}
        self._lock = threading.Lock()
        self._observed: Catalog | None = None  # the last catalog observed: observed once

    def observe(self, catalog: Catalog, now: datetime | None = None) -> None:
        when = now or datetime.now(UTC)
        with self._lock:
            if catalog is self._observed:
                return
            self._observed = catalog
            try:
                with self._locked():
                    known = self._read()
                    new = {i.id: when for i in catalog.images if i.id not in known}
                    if new:
                        self._write({**known, **new})
                    self._added = {**known, **new}
            except OSError as exc:
                log.warning("added-state file %s: %s; kept in memory", self.path, exc)
                for image in catalog.images:
                    self._added.setdefault(image.id, when)

    def added(self) -> Mapping[str, datetime]:
        return dict(self._added)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(f"{self.path}.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _read(self) -> dict[str, datetime]:
        try:
            doc: Any = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except ValueError:
            log.warning("added-state file %s is not JSON: started again", self.path)
            return {}
        entries = doc.get("added") if isinstance(doc, dict) else None
        if not isinstance(entries, dict):
            return {}
        times = {str(k): parse_time(v) for k, v in entries.items() if isinstance(v, str)}
        return {k: v for k, v in times.items() if v is not None}

    def _write(self, added: Mapping[str, datetime]) -> None:
        doc = {"version": STATE_VERSION, "added": {k: iso(v) for k, v in added.items()}}
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as out:
                json.dump(doc, out, separators=(",", ":"))
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


class RedisAddedLog:
    """First-seen times in the Redis hash ``key`` at ``url``: ``HSETNX`` per new id, so the first
    process of the fleet to see an id sets its time. Redis down: kept in memory, logged."""

    PREFIX = "oam-preview:added:v1:"

    def __init__(self, url: str, key: str, socket_timeout: float = 2.0) -> None:
        from redis import Redis

        self.key = self.PREFIX + key
        self._redis = Redis.from_url(
            url, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout
        )
        self._added: dict[str, datetime] = {}
        self._lock = threading.Lock()
        self._observed: Catalog | None = None  # the last catalog observed: observed once

    def observe(self, catalog: Catalog, now: datetime | None = None) -> None:
        when = now or datetime.now(UTC)
        with self._lock:
            if catalog is self._observed:
                return
            self._observed = catalog
            try:
                new = [i.id for i in catalog.images if i.id not in self._added]
                if new:
                    pipe = self._redis.pipeline(transaction=False)
                    for image_id in new:
                        pipe.hsetnx(self.key, image_id, iso(when))
                    pipe.execute()
                stored: dict[bytes, bytes] = self._redis.hgetall(self.key)  # type: ignore[assignment]
                times = {k.decode(): parse_time(v.decode()) for k, v in stored.items()}
                self._added = {k: v for k, v in times.items() if v is not None}
            except Exception as exc:  # noqa: BLE001 - redis' errors: Redis is never a request's dependency
                log.warning("added-state in Redis %s: %s; kept in memory", self.key, exc)
                for image in catalog.images:
                    self._added.setdefault(image.id, when)

    def added(self) -> Mapping[str, datetime]:
        return dict(self._added)


def added_log(source: str, state_dir: str, redis_url: str) -> AddedLog:
    """The log of catalog ``source``: in Redis when ``redis_url`` names it, else a state file
    under ``state_dir`` (``""``: :func:`default_state_dir`); in memory for a catalog built in
    the process (source ``"memory"``)."""
    if source == "memory":  # a catalog built in the process (CatalogStore.fixed): nothing to keep
        return MemoryAddedLog()
    if redis_url.startswith(("redis://", "rediss://", "unix://")):
        return RedisAddedLog(redis_url, source_key(source))
    directory = Path(state_dir) if state_dir else default_state_dir()
    return FileAddedLog(directory / f"added-{source_key(source)}.json")
