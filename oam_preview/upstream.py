"""Protection of upstream hosts: how many reads at once, and when to stop asking a failing one.

:class:`UpstreamGuard` wraps every remote read the :class:`~oam_preview.opener.Opener`
makes. This first version only passes reads through; the reliability work
(circuit breaker per host, per-host concurrency bound) lives here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from .config import Settings


class UpstreamGuard:
    """Admission control for reads of remote GeoTIFFs, per upstream host."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @contextlib.contextmanager
    def request(self, url: str) -> Iterator[None]:
        """Wrap one use of ``url``; an ``UpstreamError``/``UpstreamTimeout`` raised inside counts as a failure."""
        yield

    def status(self) -> dict[str, object]:
        """What ``/healthz`` reports of the upstream hosts."""
        return {}
