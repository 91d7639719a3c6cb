"""Rendered responses in one SQLite file shared by the workers of one machine, with render-once claims.

The file (``responses-v1-….sqlite`` in ``OAM_PREVIEW_MACHINE_CACHE_DIR``, named by the
symbolic link ``current``) is in WAL mode: readers never wait for the writer, and a write is a short
transaction. It is a cache: ``synchronous=OFF`` (no fsync), and what a crash
or a stray write may leave is never served:

- every entry carries a checksum (BLAKE2b of its key, its metadata and its
  body), checked at each read; an entry that fails it is deleted and missed;
- SQLite's own corruption errors (a truncated or overwritten file: "file is not
  a database", "database disk image is malformed") discard the whole file: it
  is removed and created afresh (under a file lock, once for all the workers;
  the others see a new inode at their next use and reopen).

Bounded in bytes: triggers keep the sum of the bodies in one row; a write
that takes it past ``max_bytes`` deletes the least recently used entries (``used``
is refreshed at most every :data:`TOUCH_EVERY` seconds, so a hit is a read, not a
write), at most :data:`EVICT_BATCH` of them, and is dropped if that is not enough:
the bound holds after every write, and no write does unbounded work.

Render once across the workers: a miss takes an exclusive ``flock`` on one of
:data:`LOCK_STRIPES` lock files (chosen by the key's hash), looks again, renders
and stores, then unlocks. A miss that finds the lock taken polls the file for the
result (10 ms doubling to 200 ms), taking the lock itself when it is free (the
kernel frees a dead worker's lock at once), and renders without it once
``lock_wait`` seconds have passed, or half the time its request has left (a hung
worker's lock does not hold it for ever).

Like Redis, the file is an optimisation, never a dependency of a request: an
error (a full disk, a lock held too long) is counted and means a miss, or a write
dropped.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from .. import deadline as request_deadline
from .entry import CachedResponse, Produce, Tally, too_big_to_keep
from .machine_file import SCHEMA, SCHEMA_VERSION, TOUCH_EVERY, CacheFileCorrupt, checksum, corrupt, key_hash

log = logging.getLogger(__name__)

CURRENT = "current"  # the symbolic link naming the file in use
FILE_PREFIX = "responses-v1-"  # then a random name: see MachineCache._new_file
LOCK_STRIPES = 256  # lock files: two keys sharing one only wait for each other, then look again
EVICT_BATCH = 32  # entries deleted by one write at most
BUSY_TIMEOUT_MS = 2000  # a write waits this long for another process's write transaction
POLL_FIRST, POLL_MAX = 0.01, 0.2  # seconds between polls for another worker's render


class _Connection:
    """One thread's connection, and the name of the file it opened (a discarded file's successor
    has another)."""

    def __init__(self, path: Path) -> None:
        self.name = path.name
        self.db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)


class MachineCache:
    """Responses in ``directory``'s SQLite file, at most ``max_bytes`` of bodies, for ``ttl`` s."""

    def __init__(
        self,
        directory: str | Path,
        max_bytes: int,
        ttl: float = 86400.0,
        lock_wait: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.ttl = ttl
        self.lock_wait = lock_wait
        self.clock = clock
        self.tally = Tally("machine")
        self._threads = threading.local()
        (self.directory / "locks").mkdir(parents=True, exist_ok=True)
        self._connection()  # a file that cannot be opened is discarded now, not at the first request

    # -- the file --------------------------------------------------------------------------
    #
    # The file in use is the one the symbolic link ``current`` names. A discarded file is
    # replaced by a new name, never re-created under its own: SQLite removes a WAL by its
    # name when the last connection to a database closes, and the workers still holding the
    # old file would remove the new file's.

    @property
    def path(self) -> Path | None:
        """The file in use now (``None`` before the first is made)."""
        name = self._current()
        return None if name is None else self.directory / name

    def _current(self) -> str | None:
        try:
            return os.readlink(self.directory / CURRENT)
        except FileNotFoundError:
            return None

    @contextmanager
    def _file_lock(self) -> Iterator[None]:
        """Exclusive, across processes: making, opening and discarding files."""
        fd = os.open(self.directory / "file.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _new_file(self) -> str:
        """Point ``current`` at a new file name (under the file lock); the name."""
        name = f"{FILE_PREFIX}{secrets.token_hex(6)}.sqlite"
        link = self.directory / f"{CURRENT}.{name}"
        os.symlink(name, link)
        os.replace(link, self.directory / CURRENT)
        return name

    def _open(self, name: str) -> _Connection:
        connection = _Connection(self.directory / name)
        db = connection.db
        try:
            db.execute("PRAGMA journal_mode = WAL")
            db.execute(
                "PRAGMA synchronous = OFF"
            )  # a cache: a crash may lose writes, checksums catch the rest
            db.execute("PRAGMA cache_size = -1024")  # KiB per connection: the OS page cache is shared
            db.execute("PRAGMA journal_size_limit = 8388608")  # the WAL truncated past 8 MB once checkpointed
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, SCHEMA_VERSION):
                raise CacheFileCorrupt(f"schema version {version}")
            db.executescript(SCHEMA)
            return connection
        except sqlite3.Error as exc:
            db.close()
            if not corrupt(exc):
                raise
            raise CacheFileCorrupt(str(exc)) from exc
        except CacheFileCorrupt:
            db.close()
            raise

    def _connection(self) -> _Connection:
        """This thread's connection to the file in use (reopened when it was replaced)."""
        connection: _Connection | None = getattr(self._threads, "connection", None)
        if connection is not None and connection.name == self._current():
            return connection
        if connection is not None:
            self._threads.connection = None
            connection.db.close()
        with self._file_lock():
            name = self._current() or self._new_file()
            try:
                connection = self._open(name)
            except CacheFileCorrupt as exc:
                self._replace(name, exc)
                connection = self._open(self._new_file())
        self._threads.connection = connection
        return connection

    def _replace(self, name: str, exc: BaseException) -> None:
        """Remove file ``name`` (under the file lock); a new one is made at the next use."""
        log.warning("machine cache %s is corrupt, discarded: %s", self.directory / name, exc)
        self.tally("discarded")
        (self.directory / CURRENT).unlink(missing_ok=True)
        for suffix in ("", "-wal", "-shm"):
            (self.directory / f"{name}{suffix}").unlink(missing_ok=True)

    def _discard(self, name: str, exc: BaseException) -> None:
        """Discard file ``name`` unless another process already did; every worker opens the new
        one at its next use."""
        with self._file_lock():
            if self._current() == name:
                self._replace(name, exc)

    def close(self) -> None:
        """Close this thread's connection (the others close with their threads)."""
        connection: _Connection | None = getattr(self._threads, "connection", None)
        if connection is not None:
            self._threads.connection = None
            connection.db.close()

    def _run(self, work: Callable[[sqlite3.Connection], Any], failed: Any = None) -> Any:
        """``work(db)`` on this thread's connection; ``failed`` when SQLite fails (counted, and a
        corrupt file discarded)."""
        connection = None
        try:
            connection = self._connection()
            return work(connection.db)
        except (sqlite3.Error, CacheFileCorrupt, OSError) as exc:
            if connection is not None and connection.db.in_transaction:
                with suppress(sqlite3.Error):
                    connection.db.rollback()
            if isinstance(exc, sqlite3.Error) and corrupt(exc) and connection is not None:
                self._discard(connection.name, exc)
            else:
                self.tally("error")
                log.warning("machine cache in %s failed: %s", self.directory, exc)
            return failed

    # -- responses -----------------------------------------------------------------------

    def _read(self, key: str) -> CachedResponse | None:
        """The sound, unexpired entry for ``key``; nothing is counted but a discarded entry."""
        hashed = key_hash(key)

        def read(db: sqlite3.Connection) -> CachedResponse | None:
            row = db.execute(
                "SELECT rowid, meta, body, checksum, stored, used FROM responses WHERE key = ?", (hashed,)
            ).fetchall()  # all: the statement ends before a write below
            if not row:
                return None
            ((rowid, meta, body, check, stored, used),) = row
            now = self.clock()
            if checksum(hashed, meta, body) != check:
                self.tally("discarded")
                log.warning("machine cache entry failed its checksum, deleted")
                db.execute("DELETE FROM responses WHERE rowid = ?", (rowid,))
                return None
            if now - stored > self.ttl:
                return None  # left to eviction
            if now - used > TOUCH_EVERY:
                db.execute("UPDATE responses SET used = ? WHERE rowid = ?", (now, rowid))
            media_type, etag, headers = json.loads(meta)
            return CachedResponse(body, media_type, etag, tuple((str(k), str(v)) for k, v in headers))

        entry: CachedResponse | None = self._run(read)
        return entry

    def get(self, key: str) -> CachedResponse | None:
        entry = self._read(key)
        self.tally("miss" if entry is None else "hit")
        return entry

    def put(self, key: str, entry: CachedResponse) -> None:
        """Keep ``entry``, evicting the least recently used; dropped if it cannot fit (see the module doc)."""
        size = len(entry.body)
        if too_big_to_keep(size, self.max_bytes):
            return
        hashed = key_hash(key)
        meta = json.dumps([entry.media_type, entry.etag, entry.headers])
        row = (hashed, meta, entry.body, size, checksum(hashed, meta, entry.body), self.clock())

        def write(db: sqlite3.Connection) -> None:
            db.execute("BEGIN IMMEDIATE")
            db.execute(
                "INSERT INTO responses (key, meta, body, size, checksum, stored, used)"
                " VALUES (?, ?, ?, ?, ?, ?, ?6) ON CONFLICT (key) DO UPDATE SET meta = excluded.meta,"
                " body = excluded.body, size = excluded.size, checksum = excluded.checksum,"
                " stored = excluded.stored, used = excluded.used",
                row,
            )
            if self._evict(db, hashed):
                db.execute("COMMIT")
            else:
                db.execute("ROLLBACK")

        self._run(write)

    def _evict(self, db: sqlite3.Connection, keep: bytes) -> bool:
        """Delete least recently used entries (not ``keep``) until the bodies fit, at most
        :data:`EVICT_BATCH`; whether they fit."""
        (total,) = db.execute("SELECT bytes FROM usage").fetchone()
        excess = total - self.max_bytes
        if excess <= 0:
            return True
        victims: list[int] = []
        for rowid, size in db.execute(
            "SELECT rowid, size FROM responses WHERE key != ? ORDER BY used LIMIT ?", (keep, EVICT_BATCH)
        ):
            victims.append(rowid)
            excess -= size
            if excess <= 0:
                break
        if excess > 0:
            return False
        db.executemany("DELETE FROM responses WHERE rowid = ?", [(rowid,) for rowid in victims])
        return True

    # -- render once ---------------------------------------------------------------------

    def render_once(self, key: str, render: Produce) -> tuple[CachedResponse, bool]:
        """``(response, whether it came from another worker's render)`` for a missed ``key``.

        ``render`` must store its result here before returning (waiters poll for it).
        """
        stripe = key_hash(key)[0] % LOCK_STRIPES
        try:
            fd = os.open(self.directory / "locks" / f"{stripe:03d}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:  # the directory went (a server stopping removes its own): render here
            self.tally("error")
            log.warning("machine cache in %s failed: %s", self.directory, exc)
            return render(), False
        try:
            deadline = time.monotonic() + min(self.lock_wait, request_deadline.remaining(self.lock_wait) / 2)
            delay, waiting = POLL_FIRST, False
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    pass
                else:
                    self.tally("lock_acquired")
                    try:
                        entry = self._read(key)  # stored by the worker whose lock this was
                        if entry is not None:
                            self.tally("lock_result")
                            return entry, True
                        return render(), False
                    finally:
                        fcntl.flock(fd, fcntl.LOCK_UN)
                if not waiting:
                    waiting = True
                    self.tally("lock_wait")
                now = time.monotonic()
                if now >= deadline:
                    self.tally("lock_timeout")
                    break
                time.sleep(min(delay, deadline - now))
                delay = min(delay * 2, POLL_MAX)
                entry = self._read(key)
                if entry is not None:
                    self.tally("lock_result")
                    return entry, True
        finally:
            os.close(fd)
        return render(), False

    def stats(self) -> dict[str, Any]:
        def usage(db: sqlite3.Connection) -> tuple[int, int]:
            row: tuple[int, int] = db.execute("SELECT entries, bytes FROM usage").fetchone()
            return row

        entries, size = self._run(usage, (0, 0))
        return {
            "directory": str(self.directory),
            "entries": entries,
            "bytes": size,
            "max_bytes": self.max_bytes,
            "hits": self.tally["hit"],
            "misses": self.tally["miss"],
            **{
                name: self.tally[name]
                for name in (
                    "error",
                    "discarded",
                    "lock_acquired",
                    "lock_wait",
                    "lock_result",
                    "lock_timeout",
                )
            },
        }
