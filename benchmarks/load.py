"""A load generator: N clients, each a thread with one keep-alive HTTP connection, like browsers.

Clients take URLs from one shared list in order, so the same list gives the
same requests whatever the server; latencies are wall-clock milliseconds per
request (send to last body byte).
"""

from __future__ import annotations

import http.client
import statistics
import threading
import time
import urllib.parse
from dataclasses import dataclass, field


@dataclass
class LoadResult:
    """What one run of :func:`run` saw."""

    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    body_bytes: int = 0
    wall_s: float = 0.0

    @property
    def count(self) -> int:
        return len(self.latencies_ms)

    @property
    def throughput(self) -> float:
        """Responses per second of wall time."""
        return self.count / self.wall_s if self.wall_s else 0.0

    def percentile(self, q: float) -> float:
        """The ``q``-th percentile latency (0-100), ms; nearest rank."""
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies_ms) if self.latencies_ms else float("nan")

    @property
    def p95(self) -> float:
        return self.percentile(95)

    @property
    def errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status != 200)


class Client:
    """One keep-alive connection to a host; reconnects when the server closes it."""

    def __init__(self, base: str, timeout: float = 120) -> None:
        parts = urllib.parse.urlsplit(base)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.timeout = timeout
        self.conn: http.client.HTTPConnection | None = None

    def get(self, url: str) -> tuple[int, bytes]:
        """GET ``url`` (absolute); return (status, body)."""
        parts = urllib.parse.urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self.conn.request("GET", path)
                response = self.conn.getresponse()
                return response.status, response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # A keep-alive connection the server closed between requests: retry once, fresh.
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def run(urls: list[str], clients: int, base: str) -> LoadResult:
    """Fetch every URL of ``urls`` with ``clients`` concurrent keep-alive clients."""
    result = LoadResult()
    lock = threading.Lock()
    position = [0]

    def worker() -> None:
        client = Client(base)
        try:
            while True:
                with lock:
                    if position[0] >= len(urls):
                        return
                    url = urls[position[0]]
                    position[0] += 1
                started = time.perf_counter()
                try:
                    status, body = client.get(url)
                except OSError:
                    status, body = 599, b""
                elapsed = (time.perf_counter() - started) * 1000
                with lock:
                    result.latencies_ms.append(elapsed)
                    result.statuses[status] = result.statuses.get(status, 0) + 1
                    result.body_bytes += len(body)
        finally:
            client.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.wall_s = time.perf_counter() - started
    return result
