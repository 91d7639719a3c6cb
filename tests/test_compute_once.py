"""The compute-once primitives under real threads: ``SingleFlight``, ``KeyedLocks`` and ``Memo``.

Every test releases its threads together with a ``threading.Barrier`` and then holds the
first computation open until the other threads have asked for the same key, so the race
they guard against actually happens; what is asserted is a count (computations, threads
inside at once, locks left), never a duration. The waits are bounded: a broken primitive
fails a test, it never hangs it.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from oam_preview.cache.entry import SingleFlight
from oam_preview.memo import KeyedLocks, Memo

THREADS = 8
PATIENCE = 20.0  # s: only a broken primitive (or a stalled machine) waits this long


class CountedKey:
    """A key that counts how often it is hashed: a dict hashes a key once per look-up, so the
    count says how many threads have looked the key up in a primitive's table (under its lock)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._hashes = itertools.count(1)
        self.hashes = 0

    def __hash__(self) -> int:
        self.hashes = next(self._hashes)
        return hash(self.name)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CountedKey) and other.name == self.name


class Tally:
    """A count that threads add to."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.value = 0

    def add(self) -> None:
        with self._lock:
            self.value += 1


def wait_until(condition: Callable[[], bool]) -> bool:
    """Poll ``condition`` until it holds or PATIENCE runs out; whether it held."""
    deadline = time.monotonic() + PATIENCE
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.001)
    return True


def together(task: Callable[[int], Any], threads: int = THREADS) -> list[Any]:
    """``task(i)`` in ``threads`` threads released at once by a barrier; their results in order."""
    start = threading.Barrier(threads, timeout=PATIENCE)

    def run(i: int) -> Any:
        start.wait()
        return task(i)

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(run, range(threads)))


# -- SingleFlight -----------------------------------------------------------------------------


def test_single_flight_runs_a_key_once_for_threads_that_ask_together():
    flight = SingleFlight()
    key = CountedKey("tile")
    rendered = Tally()

    def render() -> str:
        rendered.add()
        # Open until every other thread has found this call (one look-up each; the leader's
        # own look-up and insertion make two).
        wait_until(lambda: key.hashes >= THREADS + 1)
        return "pixels"

    answers = together(lambda _: flight.run(key, render))
    assert rendered.value == 1
    assert [result for result, _ in answers] == ["pixels"] * THREADS
    assert sum(ran for _, ran in answers) == 1  # one leader; the others shared its outcome


def test_single_flight_gives_the_leaders_exception_to_every_follower_and_forgets_the_key():
    flight = SingleFlight()
    key = CountedKey("tile")
    calls = Tally()

    def fail() -> str:
        calls.add()
        wait_until(lambda: key.hashes >= THREADS + 1)
        raise OSError("upstream reset")

    def ask(_: int) -> str:
        try:
            flight.run(key, fail)
        except OSError as exc:
            return str(exc)
        return "no error"

    assert together(ask) == ["upstream reset"] * THREADS
    assert calls.value == 1
    assert flight.run(key, lambda: "later") == ("later", True)  # a failure is not remembered


# -- KeyedLocks -------------------------------------------------------------------------------


def test_keyed_locks_let_one_thread_in_per_key_and_keep_no_lock_after():
    locks = KeyedLocks()
    key = CountedKey("image")
    inside = 0
    most_inside = 0
    count_lock = threading.Lock()

    def hold(_: int) -> None:
        nonlocal inside, most_inside
        with locks(key):
            with count_lock:
                inside += 1
                most_inside = max(most_inside, inside)
            wait_until(lambda: key.hashes >= THREADS)  # every thread asked for this key
            with count_lock:
                most_inside = max(most_inside, inside)
                inside -= 1

    together(hold)
    assert most_inside == 1
    assert len(locks) == 0


def test_keyed_locks_of_different_keys_do_not_wait_for_each_other():
    locks = KeyedLocks()
    all_inside = threading.Barrier(THREADS, timeout=PATIENCE)

    def hold(i: int) -> int:
        with locks(("image", i)):
            return all_inside.wait()  # passes only with every thread inside its own key's lock

    assert sorted(together(hold)) == list(range(THREADS))
    assert len(locks) == 0


# -- Memo -------------------------------------------------------------------------------------


def test_memo_computes_a_key_once_for_threads_that_ask_together():
    memo: Memo[str, str] = Memo(maxsize=4)
    asking = Tally()
    computed = Tally()

    def describe() -> str:
        computed.add()
        wait_until(lambda: asking.value >= THREADS)  # every thread has asked before the value exists
        return "info"

    def ask(_: int) -> str:
        asking.add()
        return memo.get("image", describe)

    assert together(ask) == ["info"] * THREADS
    assert computed.value == 1
    assert memo.peek("image") == "info"


def test_memo_keeps_no_failure_and_the_next_caller_computes_again():
    memo: Memo[str, str] = Memo(maxsize=4)
    asking = Tally()
    attempts: list[int] = []

    def flaky() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            wait_until(lambda: asking.value >= THREADS)  # the others wait for this key meanwhile
            raise OSError("transient")
        return "info"

    def ask(_: int) -> str:
        asking.add()
        try:
            return memo.get("image", flaky)
        except OSError:
            return "failed"

    answers = together(ask)
    assert sorted(answers) == ["failed"] + ["info"] * (THREADS - 1)
    assert len(attempts) == 2  # the failure, then one success shared by the rest


def test_memo_computes_different_keys_side_by_side():
    threads = THREADS
    memo: Memo[int, int] = Memo(maxsize=threads)
    all_computing = threading.Barrier(threads, timeout=PATIENCE)

    def compute(i: int) -> Callable[[], int]:
        def value() -> int:
            all_computing.wait()  # passes only with every key computing at once
            return i * i

        return value

    assert together(lambda i: memo.get(i, compute(i)), threads) == [i * i for i in range(threads)]
