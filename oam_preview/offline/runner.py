"""One process runner for the offline jobs: tiles in batches, here or in a pool of spawned processes.

A pool's processes are *spawned*, never forked: GDAL must not be inherited half-initialised.
Each builds its own worker once (``make()``, a picklable callable: a class and its
arguments), then runs the batches it is handed; their results come back in the order they end.
What became of the tiles is an :class:`Outcome`.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

#: Tiles per task handed to a process (and per commit, or per done-marker round trip).
BATCH = 32


@dataclass(frozen=True)
class Outcome:
    """What a run did with its tiles: ``stored`` (answered with pixels: packaged, or cached),
    ``empty`` (nothing there: a 404, done), ``failed`` (anything else: not done, a later run
    asks again), ``skipped`` (done by an earlier run)."""

    stored: int = 0
    empty: int = 0
    failed: int = 0
    skipped: int = 0

    def __add__(self, other: Outcome) -> Outcome:
        return Outcome(
            self.stored + other.stored,
            self.empty + other.empty,
            self.failed + other.failed,
            self.skipped + other.skipped,
        )

    @property
    def total(self) -> int:
        return self.stored + self.empty + self.failed + self.skipped

    @property
    def complete(self) -> bool:
        """Every tile done (this run or an earlier one)."""
        return not self.failed


def batches(items: Iterable[T], size: int = BATCH) -> Iterator[list[T]]:
    """``items`` in lists of ``size`` (the last one shorter)."""
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def batch_size(pending: int, processes: int) -> int:
    """Tiles per batch: :data:`BATCH`, fewer for a small run, spread over the processes (a few
    batches each at least)."""
    return max(1, min(BATCH, -(-pending // (max(1, processes) * 4))))


_WORKER: Callable[[Any], Any] | None = None  # one per pool process


def _init(make: Callable[[], Callable[[Any], Any]]) -> None:
    global _WORKER
    _WORKER = make()


def _task(task: Any) -> Any:
    assert _WORKER is not None
    return _WORKER(task)


def run(
    tasks: Sequence[T],
    processes: int,
    make: Callable[[], Callable[[T], R]],
    here: Callable[[T], R] | None = None,
) -> Iterator[R]:
    """Each task's result: in this process (``here``, else one ``make()`` builds) when
    ``processes`` <= 1 or there is one task, else in a pool of spawned processes."""
    if processes <= 1 or len(tasks) <= 1:
        worker = here or make()
        for task in tasks:
            yield worker(task)
        return
    context = multiprocessing.get_context("spawn")
    with context.Pool(min(processes, len(tasks)), initializer=_init, initargs=(make,)) as pool:
        yield from pool.imap_unordered(_task, tasks)
