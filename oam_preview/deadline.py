"""Each request's deadline: the moment by which everything it asks of upstream must have answered.

API.md promises a 504 ``upstream_timeout`` within ``OAM_PREVIEW_UPSTREAM_TIMEOUT``
(+ 2 s) of a request's arrival, whatever the upstream does: several reads,
GDAL's retries, a server that never answers or trickles bytes. The blueprint
starts the clock before each request (:func:`start`) and stops it in teardown
(:func:`clear`); the Opener and the HEAD recheck ask :func:`remaining`. Times
are ``time.monotonic()`` seconds. Work handed to another thread takes the
request's deadline along with :func:`current` and :func:`resume`.
"""

from __future__ import annotations

import time
from contextvars import ContextVar

_deadline: ContextVar[float | None] = ContextVar("oam_preview_deadline", default=None)


def start(seconds: float) -> None:
    """Give the current request ``seconds`` from now."""
    _deadline.set(time.monotonic() + seconds)


def clear() -> None:
    """No deadline (the request is over)."""
    _deadline.set(None)


def current() -> float | None:
    """The current deadline (``time.monotonic()`` seconds), or ``None``."""
    return _deadline.get()


def resume(at: float | None) -> None:
    """Work on behalf of a request whose deadline is ``at`` (from :func:`current`)."""
    _deadline.set(at)


def remaining(default: float) -> float:
    """Seconds left before the current deadline, at most ``default``; ``default`` outside a request.
    Zero or less: the deadline has passed."""
    at = _deadline.get()
    return default if at is None else min(default, at - time.monotonic())
