"""Protection of upstream hosts: how many reads at once, and when to stop asking a failing one.

:class:`UpstreamGuard` wraps every remote read the :class:`~oam_preview.remote.opener.Opener`
makes (the open, the pixel reads and the diagnosis of a failed open). Per
worker process it keeps, for each upstream host (``host:port``):

- a **bulkhead**: at most ``upstream_host_reads`` reads of the host and
  ``upstream_image_reads`` reads of one GeoTIFF in flight at once. A read that
  finds them full waits up to ``upstream_queue_timeout`` seconds for a slot,
  then answers 504 ``upstream_timeout``; it answers at once when the reads in
  flight are *stalled*: even the youngest has run longer than a third of that
  timeout, so no slot has turned over for that long. A slow host frees no slot soon, and a thread left waiting for one is a thread the
  other images don't get (gunicorn hands requests to threads first come,
  first served). So one slow host, or a flood of requests for one huge file,
  holds about that many of a worker's threads and the other images keep the
  rest.
- a **circuit breaker**: after ``breaker_failures`` consecutive *host*
  failures (timeouts, refused or reset connections, HTTP 5xx/429) the host's
  reads fail at once with 502 ``upstream_error`` for ``breaker_cooldown``
  seconds, sending it nothing; then one read is let through as a probe
  (half-open): success closes the breaker, failure opens it for another
  cool-down (the same length again: a host that is back must be served
  within seconds, API.md says 5). A missing (404/403) or corrupt *file* is the file's fault, not
  the host's: it does not count, or one broken image could take every image
  of a shared bucket offline.

Local paths (a directory catalog) are not guarded.
"""

from __future__ import annotations

import contextlib
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ..config import Settings
from ..errors import HostBusy, HostUnavailable, OamPreviewError, UpstreamError, UpstreamTimeout
from .policy import upstream_kind

#: Called as ``observer(host, outcome, breaker_state)`` after every guarded read (outcome: ``True``
#: the host answered, ``False`` it failed, ``None`` no slot); ``oam_preview.web.metrics`` counts them.
OBSERVERS: list[Callable[[str, bool | None, str], None]] = []

#: Slots full and none turned over for this fraction of ``upstream_queue_timeout``: stalled.
STALL_FRACTION = 1 / 3


def is_host_failure(exc: BaseException) -> bool:
    """Whether ``exc`` says the *host* is failing (vs. the file, or our own admission control).

    Timeouts, unreachable hosts and HTTP 5xx/429 count; 404/403, "not a
    GeoTIFF" and undecodable pixels are properties of one file.
    """
    if isinstance(exc, (HostUnavailable, HostBusy)):
        return False
    if isinstance(exc, UpstreamTimeout):
        return True
    return isinstance(exc, UpstreamError) and exc.host_failure


def host_of(url: str) -> str | None:
    """``host:port`` of an http(s) URL (lower case), ``None`` for local paths."""
    if upstream_kind(url) != "http":
        return None
    parts = urllib.parse.urlsplit(url)
    assert parts.hostname is not None
    try:
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    except ValueError:  # a malformed port: still one "host" for accounting
        port = 0
    return f"{parts.hostname.lower()}:{port}"


@dataclass
class Breaker:
    """Circuit breaker state of one host. Times are ``clock()`` seconds."""

    failures: int = 0  # consecutive host failures
    opened_at: float | None = None
    closed_at: float = float("-inf")  # last close after a success
    probing: bool = False  # a half-open probe is in flight
    trips: int = 0  # times opened, for /healthz
    rejected: int = 0  # reads answered at once while open

    def state(self, now: float, cooldown: float) -> str:
        """``closed``, ``open`` or ``half_open``."""
        if self.opened_at is None:
            return "closed"
        return "open" if now - self.opened_at < cooldown else "half_open"


class UpstreamGuard:
    """Admission control for reads of remote GeoTIFFs, per upstream host (see the module doc)."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.clock = clock
        # One condition guards every counter: contention is a few dozen threads at most.
        self._cond = threading.Condition()
        self._breakers: dict[str, Breaker] = {}
        self._host_reads: dict[str, list[float]] = {}  # start times of the reads in flight
        self._image_reads: dict[str, list[float]] = {}
        self._waiting: dict[str, int] = {}
        self._busy_rejections = 0

    @contextlib.contextmanager
    def request(self, url: str) -> Iterator[None]:
        """Wrap one use of ``url``; an ``UpstreamError``/``UpstreamTimeout`` raised inside counts as a failure.

        Raises :class:`HostUnavailable` while the host's breaker is open and
        :class:`HostBusy` when no read slot frees up in time.
        """
        host = host_of(url)
        if host is None:
            yield
            return
        admitted = self.clock()
        probe = self._admit(host)
        outcome: bool | None = None  # True: host answered, False: host failed
        try:
            started = self._acquire(host, url)
            try:
                yield
                outcome = True
            except HostBusy:
                raise  # a nested read found no slot: says nothing of the host
            except OamPreviewError as exc:
                outcome = not is_host_failure(exc)
                raise
            except BaseException:
                # Not an upstream error (a bug, a client gone): the host is not to blame.
                outcome = True
                raise
            finally:
                self._release(host, url, started)
        finally:
            self._record(host, probe, outcome, admitted)
            for observer in OBSERVERS:
                observer(
                    host, outcome, self._breakers[host].state(self.clock(), self.settings.breaker_cooldown)
                )

    # -- circuit breaker -----------------------------------------------------------------

    def _admit(self, host: str) -> bool:
        """Let a read of ``host`` through the breaker; ``True`` when it is the half-open probe."""
        cooldown = self.settings.breaker_cooldown
        with self._cond:
            breaker = self._breakers.setdefault(host, Breaker())
            now = self.clock()
            state = breaker.state(now, cooldown)
            if state == "closed":
                return False
            if state == "half_open" and not breaker.probing:
                breaker.probing = True
                return True
            breaker.rejected += 1
            assert breaker.opened_at is not None
            wait = max(0.0, cooldown - (now - breaker.opened_at))
        raise HostUnavailable(
            f"the server holding the GeoTIFF ({host}) keeps failing; not asking it again for {wait:.0f} s",
            retry_after=wait or 1.0,
        )

    def _record(self, host: str, probe: bool, outcome: bool | None, admitted: float) -> None:
        """Count the outcome of a read admitted at ``admitted``: ``None`` (not decided, e.g. no
        slot) changes nothing but the probe."""
        with self._cond:
            breaker = self._breakers.setdefault(host, Breaker())
            if probe:
                breaker.probing = False
            if outcome is None:
                return
            if outcome:
                if breaker.opened_at is not None or breaker.failures:
                    breaker.closed_at = self.clock()
                breaker.failures = 0
                breaker.opened_at = None
                return
            if admitted < breaker.closed_at:
                return  # a read from the outage, ending after a success proved the host back
            breaker.failures += 1
            if probe or breaker.failures >= self.settings.breaker_failures:
                if breaker.opened_at is None or probe:
                    breaker.trips += 1
                breaker.opened_at = self.clock()

    # -- bulkhead ------------------------------------------------------------------------

    def _acquire(self, host: str, url: str) -> float:
        """Take a read slot of ``host`` and of ``url``; returns the read's start time.

        Waits up to ``upstream_queue_timeout`` for a full one to free, unless the
        reads holding it are stalled (see the module doc): then :class:`HostBusy` at once.
        """
        deadline = self.clock() + self.settings.upstream_queue_timeout
        # Shorter than the wait itself, or a stalled host would keep its waiters the whole time.
        stall_after = self.settings.upstream_queue_timeout * STALL_FRACTION
        with self._cond:
            self._waiting[host] = self._waiting.get(host, 0) + 1
            try:
                timed_out = False
                while full := self._full(host, url):
                    now = self.clock()
                    stalled = any(now - max(started) > stall_after for started in full)
                    if stalled or timed_out or now >= deadline:
                        self._busy_rejections += 1
                        slow = ", and it is slow" if stalled else ""
                        raise HostBusy(
                            f"too many reads of the server holding the GeoTIFF ({host}) are in progress"
                            f"{slow}; try again shortly"
                        )
                    # Woken by a release, or not: then the wait is over whatever the clock says.
                    timed_out = not self._cond.wait(deadline - now)
            finally:
                self._waiting[host] -= 1
                if not self._waiting[host]:
                    del self._waiting[host]
            now = self.clock()
            self._host_reads.setdefault(host, []).append(now)
            self._image_reads.setdefault(url, []).append(now)
            return now

    def _full(self, host: str, url: str) -> list[list[float]]:
        """Start times of the reads holding whichever of ``host``'s and ``url``'s slots are full."""
        pairs = (
            (self._host_reads.get(host, []), self.settings.upstream_host_reads),
            (self._image_reads.get(url, []), self.settings.upstream_image_reads),
        )
        return [started for started, limit in pairs if len(started) >= limit]

    def _release(self, host: str, url: str, started: float) -> None:
        with self._cond:
            for reads, key in ((self._host_reads, host), (self._image_reads, url)):
                reads[key].remove(started)
                if not reads[key]:
                    del reads[key]  # keeps the maps as small as the reads in flight
            self._cond.notify_all()

    # -- reporting -----------------------------------------------------------------------

    def status(self) -> dict[str, object]:
        """What ``/healthz`` reports: limits, and per host its breaker and reads in flight."""
        cooldown = self.settings.breaker_cooldown
        with self._cond:
            now = self.clock()
            hosts = {
                host: {
                    "state": b.state(now, cooldown),
                    "consecutive_failures": b.failures,
                    "trips": b.trips,
                    "rejected": b.rejected,
                    "reads": len(self._host_reads.get(host, [])),
                    "waiting": self._waiting.get(host, 0),
                }
                for host, b in sorted(self._breakers.items())
            }
            return {
                "host_reads": self.settings.upstream_host_reads,
                "image_reads": self.settings.upstream_image_reads,
                "busy_rejections": self._busy_rejections,
                "open_hosts": sorted(h for h, v in hosts.items() if v["state"] == "open"),
                "hosts": hosts,
            }
