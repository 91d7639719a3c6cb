"""Processes and load for the stress tests: ``oam-preview serve`` under gunicorn, clients, figures.

Everything runs on loopback. Every loop here is bounded both in count and in
time, and every client request has a timeout, so a hung server fails a test
instead of hanging it.
"""

from __future__ import annotations

import contextlib
import os
import random
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .processes import serve_command, stop_process, wait_for_healthz

REPO = Path(__file__).resolve().parents[2]


#: The first error messages of 5xx answers seen by :func:`get`, counted, for the figures.
SERVER_ERRORS: Counter[str] = Counter()


def get(url: str, timeout: float = 30.0) -> tuple[int, float]:
    """GET ``url``; ``(status, seconds)``. Status 0: no HTTP answer (refused, reset, client timeout)."""
    started = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # loopback
            response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        body = exc.read()
        status = exc.code
        if status >= 500:
            SERVER_ERRORS[f"{status} {body[:160].decode(errors='replace')}"] += 1
    except (OSError, urllib.error.URLError) as exc:
        status = 0
        SERVER_ERRORS[f"no answer: {exc}"[:160]] += 1
    return status, time.monotonic() - started


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command may hold spaces or parentheses: the fields start after the last ')'.
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid``, MB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class Server:
    """``python -m oam_preview.cli serve`` in a child process, with its figures."""

    def __init__(
        self,
        catalog: Path,
        port: int,
        workers: int = 2,
        threads: int = 8,
        env: dict[str, str] | None = None,
        max_requests: int = 0,
    ) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.command = serve_command(str(catalog), port, workers, threads, max_requests)
        self.env = {**os.environ, "OAM_PREVIEW_BASEMAP_URL": "", **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None
        self.peak_rss_mb = 0.0  # master + workers, the largest sum sampled
        self.peak_worker_rss_mb = 0.0
        self.worker_pids: set[int] = set()
        self._sampling = threading.Event()

    def start(self, timeout: float = 60.0) -> Server:
        # gunicorn's error log (tracebacks of 500s) goes to stderr: kept for a failing test to show.
        self.log = tempfile.NamedTemporaryFile("w+", prefix="oam-preview-serve-", suffix=".log")  # noqa: SIM115
        self.process = subprocess.Popen(
            self.command, env=self.env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=self.log
        )
        try:
            wait_for_healthz(self.url, self.process, timeout)
        except RuntimeError:
            self.stop()
            raise
        threading.Thread(target=self._sample, daemon=True).start()
        return self

    def _sample(self) -> None:
        """Every 0.25 s until stopped: memory of the master and its workers, and the workers' pids."""
        while not self._sampling.wait(0.25) and self.process is not None:
            pid = self.process.pid
            workers = children(pid)
            self.worker_pids.update(workers)
            sizes = [rss_mb(w) for w in workers]
            self.peak_worker_rss_mb = max([self.peak_worker_rss_mb, *sizes])
            self.peak_rss_mb = max(self.peak_rss_mb, rss_mb(pid) + sum(sizes))

    def errors(self) -> str:
        """The lines of the server's log that tell of an error (tracebacks included)."""
        self.log.seek(0)
        lines = self.log.read().splitlines()
        return "\n".join(
            line
            for line in lines
            if "[ERROR]" in line or line.startswith((" ", "Traceback")) or "Error" in line
        )

    def stop(self) -> None:
        self._sampling.set()
        if self.process is not None:
            stop_process(self.process, timeout=30)
            self.process = None

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class Result:
    """One client request: what it asked, when, and what came back."""

    kind: str
    url: str
    started: float  # time.monotonic()
    status: int
    seconds: float


@dataclass
class Results:
    items: list[Result] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, result: Result) -> None:
        with self.lock:
            self.items.append(result)

    def statuses(self, kind: str | None = None) -> Counter[int]:
        return Counter(r.status for r in self.items if kind is None or r.kind == kind)

    def latencies(self, kind: str | None = None) -> list[float]:
        return sorted(r.seconds for r in self.items if kind is None or r.kind == kind)

    def between(self, start: float, end: float) -> Results:
        return Results([r for r in self.items if start <= r.started < end])

    def done_before(self, end: float) -> Results:
        """The requests answered before ``end`` (time.monotonic())."""
        return Results([r for r in self.items if r.started + r.seconds < end])


def percentile(values: list[float], p: float) -> float:
    """The ``p``-th percentile (0-100) of sorted ``values``; 0 when empty."""
    if not values:
        return 0.0
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def summary(label: str, results: Results, kind: str | None = None) -> str:
    lat = results.latencies(kind)
    statuses = dict(sorted(results.statuses(kind).items()))
    return (
        f"{label}: {len(lat)} requests, status {statuses}, "
        f"p50 {percentile(lat, 50) * 1000:.0f} ms, p99 {percentile(lat, 99) * 1000:.0f} ms, "
        f"max {max(lat, default=0) * 1000:.0f} ms"
    )


def run_clients(
    clients: int,
    seconds: float,
    pick: Callable[[random.Random], tuple[str, str]],
    results: Results,
    max_requests: int = 100_000,
    timeout: float = 30.0,
    seed: int = 0,
) -> None:
    """``clients`` threads asking ``pick(rng) -> (kind, url)`` for ``seconds`` (and at most
    ``max_requests`` in all); returns when every thread is done."""
    deadline = time.monotonic() + seconds
    budget = iter(range(max_requests))
    budget_lock = threading.Lock()

    def client(n: int) -> None:
        rng = random.Random(seed * 1000 + n)
        while time.monotonic() < deadline:
            with budget_lock:
                if next(budget, None) is None:
                    return
            kind, url = pick(rng)
            started = time.monotonic()
            status, took = get(url, timeout)
            results.add(Result(kind, url, started, status, took))

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + timeout + 30)
        assert not t.is_alive(), "a client thread hung"


@contextlib.contextmanager
def background(
    clients: int,
    seconds: float,
    pick: Callable[[random.Random], tuple[str, str]],
    results: Results,
    **kw: float,
) -> Iterator[None]:
    """Run :func:`run_clients` in the background while the ``with`` block runs (use with contextlib)."""
    thread = threading.Thread(target=run_clients, args=(clients, seconds, pick, results), kwargs=kw)
    thread.start()
    try:
        yield
    finally:
        thread.join(seconds + 120)
