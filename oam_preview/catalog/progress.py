"""A one-line progress counter for long catalog loads, drawn only on a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """A one-line progress counter on stderr, drawn only when stderr is a terminal.

    Loading OAM's whole API (~180 pages) or the headers of a directory takes
    a while; an operator running ``oam-preview catalog`` wants to see it move.
    Servers and tests (no TTY) get nothing.
    """

    def __init__(self, label: str, total: int | None = None, stream: TextIO | None = None) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self._stream = stream if stream is not None else sys.stderr
        self._enabled = bool(getattr(self._stream, "isatty", lambda: False)())
        self._drawn_at = 0.0

    def update(self, step: int = 1, total: int | None = None) -> None:
        """Count ``step`` more done (and learn ``total`` when it becomes known); redraw at most
        ten times a second."""
        self.done += step
        if total is not None:
            self.total = total
        now = time.monotonic()
        if self._enabled and (now - self._drawn_at > 0.1 or self.done == self.total):
            self._drawn_at = now
            of = f"/{self.total}" if self.total else ""
            self._stream.write(f"\r{self.label}: {self.done}{of}")
            self._stream.flush()

    def close(self) -> None:
        """End the line (when one was drawn)."""
        if self._enabled and self.done:
            self._stream.write("\n")
            self._stream.flush()
