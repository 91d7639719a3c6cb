"""Prometheus metrics of oam-preview, summed over every worker of a server: ``GET /metrics``.

``register(bp)`` adds the request timing hooks and the ``/metrics`` route to a
blueprint. Under ``oam-preview serve`` (or ``deploy/gunicorn.conf.py``; see
:mod:`oam_preview.serve`) the metrics use prometheus-client's multiprocess
mode: ``PROMETHEUS_MULTIPROC_DIR`` is set before the workers start, each
worker writes its values there, any
worker answers ``/metrics`` with the sum, and a worker that exits is marked
dead (its live gauges dropped, its counters kept). Without that variable (the
blueprint mounted in a host app), the metrics are the process's own.

The cache and the upstream guard report their events to observers
(``cache.OBSERVERS``, ``upstream.OBSERVERS``) that ``register`` adds.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from flask import Blueprint, Response, g, request

from ..cache import entry as cache
from ..remote import upstream

#: Where prometheus-client keeps the metrics of every worker (set by ``oam-preview serve``).
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: What this process's gunicorn hooks (:mod:`oam_preview.serve`) did, for ``/healthz``'s ``worker``.
WORKER: dict[str, Any] = {}

_BREAKER_VALUES = {"closed": 0, "half_open": 1, "open": 2}
_UPSTREAM_OUTCOMES = {True: "ok", False: "error", None: "busy"}
_LOCK_EVENTS = {
    ("local", "coalesced"): ("process", "result"),
    ("machine", "lock_wait"): ("machine", "waited"),
    ("machine", "lock_result"): ("machine", "result"),
    ("machine", "lock_timeout"): ("machine", "timeout"),
    ("shared", "lock_wait"): ("fleet", "waited"),
    ("shared", "lock_result"): ("fleet", "result"),
    ("shared", "lock_timeout"): ("fleet", "timeout"),
}


class Metrics:
    """The metric objects. Built on first use, in the worker: prometheus-client chooses its
    multiprocess storage when imported, and ``oam-preview serve`` imports this package before
    it sets ``PROMETHEUS_MULTIPROC_DIR``."""

    def __init__(self) -> None:
        if os.environ.get(MULTIPROC_ENV):
            os.makedirs(os.environ[MULTIPROC_ENV], exist_ok=True)
        from prometheus_client import Counter, Gauge, Histogram

        self.requests = Counter(
            "oam_preview_requests_total",
            "HTTP requests answered by the blueprint, by route (URL rule), method and status",
            ["route", "method", "status"],
        )
        self.latency = Histogram(
            "oam_preview_request_duration_seconds",
            "Time from a request's arrival in the worker to its response, by route (URL rule)",
            ["route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30),
        )
        self.in_flight = Gauge(
            "oam_preview_requests_in_flight",
            "Requests being answered now (compare with oam_preview_worker_threads)",
            multiprocess_mode="livesum",
        )
        self.threads = Gauge(
            "oam_preview_worker_threads",
            "Request threads of the live workers (gunicorn workers x threads)",
            multiprocess_mode="livesum",
        )
        self.cache = Counter(
            "oam_preview_cache_requests_total",
            "Response cache lookups by tier (local LRU, machine file, shared Redis) and result (hit, "
            "miss; error: the file or Redis failed; machine also discarded: an entry failing its "
            "checksum or a corrupt file; shared also skipped: not asked while backing off)",
            ["tier", "result"],
        )
        self.renders = Counter("oam_preview_renders_total", "Responses rendered (misses that did the work)")
        self.lock_waits = Counter(
            "oam_preview_lock_waits_total",
            "Misses that waited for another's render of the same response: scope process (another "
            "thread), machine (another worker, through the machine cache's file lock) or fleet "
            "(another instance, through the Redis lock), by outcome",
            ["scope", "outcome"],
        )
        self.upstream = Counter(
            "oam_preview_upstream_reads_total",
            "Guarded reads of remote GeoTIFFs (a dataset open or a pixel read; each may be several "
            "HTTP range requests) by host and outcome (ok, error: the host failed, busy: no read slot)",
            ["host", "outcome"],
        )
        self.breaker = Gauge(
            "oam_preview_breaker_state",
            "Circuit breaker of an upstream host after its last read: 0 closed, 1 half-open, 2 open "
            "(the highest over live workers)",
            ["host"],
            multiprocess_mode="livemax",
        )

    def on_cache_event(self, tier: str, event: str) -> None:
        if event in ("hit", "miss", "error", "skipped", "discarded"):
            self.cache.labels(tier, event).inc()
        elif event == "render":
            self.renders.inc()
        elif (tier, event) in _LOCK_EVENTS:
            self.lock_waits.labels(*_LOCK_EVENTS[tier, event]).inc()

    def on_upstream_read(self, host: str, outcome: bool | None, breaker: str) -> None:
        self.upstream.labels(host, _UPSTREAM_OUTCOMES[outcome]).inc()
        self.breaker.labels(host).set(_BREAKER_VALUES.get(breaker, 0))


_made: list[Metrics] = []
_making = threading.Lock()


def metrics() -> Metrics:
    """This process's metric objects (one set per process, like prometheus-client's registry):
    made by the first thread that asks, once (a second set would not register)."""
    if not _made:
        with _making:
            if not _made:
                _made.append(Metrics())
    return _made[0]


def _on_cache_event(tier: str, event: str) -> None:
    metrics().on_cache_event(tier, event)


def _on_upstream_read(host: str, outcome: bool | None, breaker: str) -> None:
    metrics().on_upstream_read(host, outcome, breaker)


def observe() -> None:
    """Count the cache's and the upstream guard's events (idempotent)."""
    if _on_cache_event not in cache.OBSERVERS:
        cache.OBSERVERS.append(_on_cache_event)
    if _on_upstream_read not in upstream.OBSERVERS:
        upstream.OBSERVERS.append(_on_upstream_read)


def exposition() -> bytes:
    """The metrics as Prometheus text: every worker's, summed, in multiprocess mode."""
    metrics()  # every metric is in the answer, counted or not
    from prometheus_client import REGISTRY, CollectorRegistry, generate_latest

    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def register(bp: Blueprint) -> None:
    """Time and count every request of ``bp`` (its ``GET /metrics`` is :func:`view`)."""
    observe()

    @bp.before_request
    def _metrics_start() -> None:
        g.oam_preview_metrics_started = time.perf_counter()
        metrics().in_flight.inc()

    @bp.after_request
    def _metrics_count(response: Response) -> Response:
        started = g.get("oam_preview_metrics_started")
        if started is not None:
            route = request.url_rule.rule if request.url_rule is not None else "unmatched"
            m = metrics()
            m.latency.labels(route).observe(time.perf_counter() - started)
            m.requests.labels(route, request.method, str(response.status_code)).inc()
        return response

    @bp.teardown_request
    def _metrics_end(exc: BaseException | None) -> None:
        if g.pop("oam_preview_metrics_started", None) is not None:
            metrics().in_flight.dec()


def view() -> Response:
    """``GET /metrics``: Prometheus' text format, summed over the server's workers."""
    from prometheus_client import CONTENT_TYPE_LATEST

    response = Response(exposition(), content_type=CONTENT_TYPE_LATEST)
    response.headers["Cache-Control"] = "no-store"
    return response


def worker_started(threads: int) -> None:
    """In a worker, once it serves: its request threads count towards the server's capacity."""
    metrics().threads.set(threads)
