"""The response cache shared by the workers of one machine (oam_preview/cache/machine.py): bounded
in bytes, render once across processes, and a broken file discarded, never served. Counts only."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from oam_preview.cache.entry import CachedResponse
from oam_preview.cache.local import ResponseCache
from oam_preview.cache.machine import EVICT_BATCH, TOUCH_EVERY, MachineCache
from oam_preview.cache.tiered import TieredCache, response_cache


def response(body: bytes, etag: str = "e") -> CachedResponse:
    return CachedResponse(body, "image/png", etag, (("X-Mosaic-Images", "a,b"),))


def body_of(i: int, size: int = 10_000) -> bytes:
    """A body that occurs once in the file: its index, repeated."""
    return (f"<{i:06d}>".encode() * (size // 8 + 1))[:size]


class Clock:
    """Seconds since the epoch, moved by the test."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class Produce:
    def __init__(self, body: bytes = b"rendered") -> None:
        self.body = body
        self.calls = 0

    def __call__(self) -> CachedResponse:
        self.calls += 1
        return response(self.body)


def file_bytes(cache: MachineCache) -> int:
    """The sum of the bodies in the file, counted from the rows themselves (not the usage row)."""
    assert cache.path is not None
    import sqlite3

    with sqlite3.connect(cache.path) as db:
        (total,) = db.execute("SELECT coalesce(sum(length(body)), 0) FROM responses").fetchone()
    return int(total)


# -- bounded in bytes --------------------------------------------------------------------------


def test_the_byte_bound_holds_after_every_write_and_the_least_recently_used_go_first(tmp_path):
    clock = Clock()
    cache = MachineCache(tmp_path, 100_000, clock=clock)
    for i in range(10):
        cache.put(f"k{i}", response(body_of(i)))
        clock.now += 1
    assert file_bytes(cache) == 100_000 and cache.stats()["entries"] == 10
    clock.now += TOUCH_EVERY + 1
    assert cache.get("k0") is not None  # k0 used again: k1 is now the least recently used
    for i in range(10, 40):
        cache.put(f"k{i}", response(body_of(i, 7_000 + 500 * (i % 5))))
        clock.now += 1
        assert file_bytes(cache) <= 100_000, i
        assert cache.stats()["bytes"] == file_bytes(cache)
    assert cache.get("k1") is None
    assert cache.get("k39") is not None
    # One entry past a quarter of the bound is not kept (it would flush the cache).
    cache.put("huge", response(b"x" * 25_001))
    assert cache.get("huge") is None


def test_a_write_does_bounded_work_and_is_dropped_when_that_cannot_make_room(tmp_path):
    clock = Clock()
    cache = MachineCache(tmp_path, 1_000_000, clock=clock)
    for i in range(EVICT_BATCH + 8):  # many small entries, the oldest
        cache.put(f"small{i}", response(b"s" * 100))
        clock.now += 1
    cache.put("filler", response(b"f" * 240_000))
    for i in range(3):
        cache.put(f"big{i}", response(b"b" * 240_000))
    before = cache.stats()
    # Room for it needs more than EVICT_BATCH deletions of small entries: not stored.
    cache.put("one more", response(b"m" * 240_000))
    after = cache.stats()
    assert cache.get("one more") is None
    assert after["entries"] == before["entries"] and file_bytes(cache) <= 1_000_000


# -- one render across processes ---------------------------------------------------------------


def test_two_workers_tiers_render_a_key_once_and_the_second_serves_the_first_ones(tmp_path):
    first = response_cache(1_000_000, machine_dir=str(tmp_path), machine_bytes=10_000_000)
    second = response_cache(1_000_000, machine_dir=str(tmp_path), machine_bytes=10_000_000)
    assert isinstance(first, TieredCache) and isinstance(second, TieredCache)
    produce = Produce()
    a = first.fetch("tile", produce)
    b = second.fetch("tile", produce)
    assert produce.calls == 1 and a == b
    assert second.stats()["machine"]["hits"] == 1 and second.stats()["renders"] == 0
    assert second.fetch("tile", produce) == a and second.stats()["hits"] == 1  # now in its own LRU


HOLDER = """
import sys, time
from oam_preview.cache.entry import CachedResponse
from oam_preview.cache.local import ResponseCache
from oam_preview.cache.machine import MachineCache

cache = MachineCache(sys.argv[1], 10_000_000)

def render():
    print("holding", flush=True)
    time.sleep(600)
    return CachedResponse(b"never", "image/png", "e")

cache.render_once("tile", render)
"""


def holder(directory: Path) -> subprocess.Popen:
    """Another process that takes the claim of key ``tile`` and renders for ever."""
    process = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(HOLDER), str(directory)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "holding"
    return process


def test_a_dead_claimants_lock_is_freed_and_the_waiter_renders_without_timing_out(tmp_path):
    process = holder(tmp_path)
    cache = MachineCache(tmp_path, 10_000_000, lock_wait=120)
    produce = Produce()
    result: list[tuple[CachedResponse, bool]] = []

    def render() -> CachedResponse:
        entry = produce()
        cache.put("tile", entry)
        return entry

    waiter = threading.Thread(target=lambda: result.append(cache.render_once("tile", render)))
    waiter.start()
    try:
        deadline = time.monotonic() + 60
        while cache.tally["lock_wait"] == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert cache.tally["lock_wait"] == 1 and produce.calls == 0  # the other process holds it
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    waiter.join(150)
    assert not waiter.is_alive()
    assert produce.calls == 1 and result[0][1] is False
    assert cache.tally["lock_timeout"] == 0 and cache.tally["lock_acquired"] == 1


def test_a_hung_claimant_holds_a_waiter_only_for_lock_wait(tmp_path):
    process = holder(tmp_path)
    try:
        cache = MachineCache(tmp_path, 10_000_000, lock_wait=0.3)
        produce = Produce()
        entry, from_other = cache.render_once("tile", produce)
        assert produce.calls == 1 and from_other is False and entry.body == b"rendered"
        assert cache.tally["lock_wait"] == 1 and cache.tally["lock_timeout"] == 1
    finally:
        process.kill()
        process.wait()


# -- a broken file is discarded, never served ---------------------------------------------------


def filled(directory: Path, count: int = 20) -> Path:
    """A cache file holding ``count`` entries, every connection to it closed; its path."""
    cache = MachineCache(directory, 10_000_000)
    for i in range(count):
        cache.put(f"k{i}", response(body_of(i), etag=f"e{i}"))
    path = cache.path
    assert path is not None
    cache.close()
    assert not Path(f"{path}-wal").exists()  # checkpointed: every entry is in the file
    return path


def test_an_entry_whose_bytes_changed_is_discarded_and_rendered_again(tmp_path):
    path = filled(tmp_path)
    data = bytearray(path.read_bytes())
    at = data.index(body_of(7)[:64])
    data[at + 8 : at + 16] = b"XXXXXXXX"  # the body of k7, as a stray write would leave it
    path.write_bytes(bytes(data))
    cache = MachineCache(tmp_path, 10_000_000)
    assert cache.get("k7") is None and cache.tally["discarded"] == 1
    assert cache.get("k6") == response(body_of(6), etag="e6")  # the others are sound
    tiered = TieredCache(ResponseCache(1_000_000), machine=cache)
    produce = Produce(body_of(7))
    assert tiered.fetch("k7", produce).body == body_of(7) and produce.calls == 1


@pytest.mark.parametrize(
    "damage", ["truncated", "tail truncated", "tail overwritten", "overwritten", "header"]
)
def test_a_corrupt_or_truncated_file_is_discarded_and_started_afresh(tmp_path, damage):
    path = filled(tmp_path, 40)
    data = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(data[: len(data) // 3])
    elif damage == "tail truncated":  # the last bodies' pages: found only when they are read
        path.write_bytes(data[: len(data) * 9 // 10])
    elif damage == "tail overwritten":
        path.write_bytes(data[: len(data) * 9 // 10] + os.urandom(len(data) - len(data) * 9 // 10))
    elif damage == "overwritten":  # the table's pages after the header: garbage
        path.write_bytes(data[:4096] + os.urandom(len(data) - 4096))
    else:
        path.write_bytes(b"not a database" + data[14:])
    cache = MachineCache(tmp_path, 10_000_000)
    served = {i: cache.get(f"k{i}") for i in range(40)}
    for i, entry in served.items():
        assert entry is None or entry == response(body_of(i), etag=f"e{i}"), i  # never wrong bytes
    assert cache.tally["discarded"] >= 1 and cache.path != path and not path.exists()
    # Afresh: empty, and working.
    assert all(cache.get(f"k{i}") is None for i in range(40))
    assert cache.stats()["entries"] == 0
    cache.put("new", response(b"new"))
    assert cache.get("new") == response(b"new")
    # Another worker (another object, as another process opens it) uses the new file too.
    assert MachineCache(tmp_path, 10_000_000).get("new") == response(b"new")
