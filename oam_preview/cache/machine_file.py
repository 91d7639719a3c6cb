"""The machine cache's file format: its SQLite schema, the entries' key hash and checksum, and
which SQLite errors mean the file itself is broken (:mod:`oam_preview.cache.machine` uses them)."""

from __future__ import annotations

import hashlib
import sqlite3

SCHEMA_VERSION = 1  # PRAGMA user_version of the file; another: discarded
SQLITE_CORRUPT, SQLITE_NOTADB = 11, 26  # result codes that mean the file is not a sound cache
TOUCH_EVERY = 10.0  # seconds: a hit refreshes an entry's `used` at most this often

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS responses (
    key BLOB NOT NULL UNIQUE,   -- BLAKE2b-16 of the cache key
    meta TEXT NOT NULL,         -- JSON [media type, ETag, [[header, value], ...]]
    body BLOB NOT NULL,
    size INTEGER NOT NULL,      -- bytes of body
    checksum BLOB NOT NULL,     -- BLAKE2b-16 of key, meta and body
    stored REAL NOT NULL,       -- seconds since the epoch
    used REAL NOT NULL          -- seconds since the epoch, refreshed at most every {TOUCH_EVERY} s
);
CREATE INDEX IF NOT EXISTS responses_used ON responses (used);
CREATE TABLE IF NOT EXISTS usage (
    id INTEGER PRIMARY KEY CHECK (id = 0), entries INTEGER NOT NULL, bytes INTEGER NOT NULL
);
INSERT OR IGNORE INTO usage VALUES (0, 0, 0);
CREATE TRIGGER IF NOT EXISTS responses_added AFTER INSERT ON responses
    BEGIN UPDATE usage SET entries = entries + 1, bytes = bytes + new.size; END;
CREATE TRIGGER IF NOT EXISTS responses_removed AFTER DELETE ON responses
    BEGIN UPDATE usage SET entries = entries - 1, bytes = bytes - old.size; END;
CREATE TRIGGER IF NOT EXISTS responses_replaced AFTER UPDATE OF size ON responses
    BEGIN UPDATE usage SET bytes = bytes - old.size + new.size; END;
PRAGMA user_version = {SCHEMA_VERSION};
"""


class CacheFileCorrupt(Exception):
    """The cache file is not a sound SQLite database of this schema: discard it."""


def key_hash(key: str) -> bytes:
    return hashlib.blake2b(key.encode(), digest_size=16).digest()


def checksum(hashed: bytes, meta: str, body: bytes) -> bytes:
    """BLAKE2b-16 of an entry's key hash, metadata and body (one home for what is checked)."""
    digest = hashlib.blake2b(hashed, digest_size=16)
    digest.update(meta.encode())
    digest.update(b"\0")
    digest.update(body)
    return digest.digest()


def corrupt(exc: sqlite3.Error) -> bool:
    """Whether ``exc`` says the file itself is broken (not busy, not a full disk)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (SQLITE_CORRUPT, SQLITE_NOTADB)
    return isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError)
