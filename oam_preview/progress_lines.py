"""Progress of a long command read from a log file or a pipe: a line at each tenth done, with units.

On a terminal the commands draw click's bar (redrawn in place); anywhere else a
bar is silent until it ends, so an export piped to a log printed nothing for
its first 30 s. These lines are what such a reader gets instead.
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import TextIO


class ProgressLines:
    """``label: done/total unit (p %)`` on ``stream`` (default stderr): once at the start, then
    each time another of ``steps`` equal parts is done; a job of 1000 tiles writes 11 lines."""

    def __init__(
        self, label: str, total: int, unit: str, stream: TextIO | None = None, steps: int = 10
    ) -> None:
        self.label = label
        self.total = max(0, total)
        self.unit = unit
        self.steps = steps
        self.done = 0
        self._stream = stream if stream is not None else sys.stderr

    def __enter__(self) -> ProgressLines:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    def start(self) -> None:
        """The first line: nothing done yet, and how much there is to do."""
        self._write()

    def update(self, n: int = 1) -> None:
        """Count ``n`` more done; a line when that completes another step."""
        before = self._step()
        self.done = min(self.total, self.done + n)
        if self._step() > before:
            self._write()

    def line(self) -> str:
        percent = 100 * self.done // self.total if self.total else 100
        return f"{self.label}: {self.done}/{self.total} {self.unit} ({percent} %)"

    def _step(self) -> int:
        return self.steps * self.done // self.total if self.total else self.steps

    def _write(self) -> None:
        self._stream.write(self.line() + "\n")
        self._stream.flush()
