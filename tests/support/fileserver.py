"""The demo's Range file server (:mod:`oam_preview.demo.fileserver`) with its traffic counted,
as the tests and benchmarks read it: requests, bytes, per path, parallelism and round trips.

The classes have the package's names and take its arguments: :class:`FileServer` runs
``python -m tests.support.fileserver`` in a child process (GDAL must never read from a server
thread of its own process), whose ``GET /__traffic__`` answers the counters as JSON and
``POST /__traffic__/reset`` zeroes them; ``FileServer.traffic`` reads them over HTTP.
"""

from __future__ import annotations

import json
import os
import threading
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oam_preview.demo import fileserver as plain
from oam_preview.demo.fileserver import FileServerHTTP

__all__ = [
    "FileServer",
    "FileServerHTTP",
    "RangeRequestHandler",
    "RemoteTraffic",
    "ThreadedFileServer",
    "Traffic",
]

TRAFFIC_PATH = "/__traffic__"
#: The repository, the working directory of the child process (``-m tests.…`` imports from it).
REPOSITORY = Path(__file__).resolve().parents[2]


@dataclass
class Traffic:
    """Counts of what a file server has answered, per path.

    ``bytes_sent`` adds up the body bytes of the answers (their Content-Length);
    ``peak_in_flight`` is the most file requests being answered at once (how parallel a
    client's reads were); ``rounds`` the longest chain of requests each begun after the one
    before it was answered: the round trips a client's reads cost one after the other.
    """

    requests: int = 0
    bytes_sent: int = 0
    by_path: dict[str, int] = field(default_factory=dict)
    in_flight: int = 0
    peak_in_flight: int = 0
    rounds: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def begin(self) -> int:
        """A request begins: its place in the longest chain of requests answered before it."""
        with self.lock:
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            # Every request answered so far ended before this one began.
            return self.rounds + 1

    def end(self, chain: int) -> None:
        with self.lock:
            self.in_flight -= 1
            self.rounds = max(self.rounds, chain)

    def record(self, path: str, nbytes: int) -> None:
        with self.lock:
            self.requests += 1
            self.bytes_sent += nbytes
            self.by_path[path] = self.by_path.get(path, 0) + 1

    def reset(self) -> None:
        with self.lock:
            self.requests = 0
            self.bytes_sent = 0
            self.by_path.clear()
            self.peak_in_flight = self.in_flight
            self.rounds = 0

    def snapshot(self) -> tuple[int, int]:
        """Return ``(requests, bytes_sent)`` so far."""
        with self.lock:
            return self.requests, self.bytes_sent

    def to_dict(self) -> dict[str, Any]:
        with self.lock:
            return {
                "requests": self.requests,
                "bytes_sent": self.bytes_sent,
                "by_path": dict(self.by_path),
                "peak_in_flight": self.peak_in_flight,
                "rounds": self.rounds,
            }


class RangeRequestHandler(plain.RangeRequestHandler):
    """The package's handler, each answer counted in ``server.traffic``; the counters at
    :data:`TRAFFIC_PATH`."""

    def do_GET(self) -> None:
        if self.path == TRAFFIC_PATH:
            self._send_json(self.server.traffic.to_dict())  # type: ignore[attr-defined]
            return
        super().do_GET()

    def do_POST(self) -> None:
        if self.path == TRAFFIC_PATH + "/reset":
            self.server.traffic.reset()  # type: ignore[attr-defined]
            self._send_json({"reset": True})
            return
        self._send_plain(405, b"method not allowed\n", True)

    def _serve(self, body: bool) -> None:
        traffic = self.server.traffic  # type: ignore[attr-defined]
        chain = traffic.begin()
        try:
            super()._serve(body)
        finally:
            traffic.end(chain)

    def answered(self, path: str, nbytes: int) -> None:
        # Counted before answering, so a client that has its answer always finds it counted.
        self.server.traffic.record(path, nbytes)  # type: ignore[attr-defined]

    def _send_json(self, doc: object) -> None:
        data = json.dumps(doc).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class ThreadedFileServer(plain.ThreadedFileServer):
    """The package's in-thread server, counted (``traffic``)."""

    def __init__(
        self,
        root: str | os.PathLike[str],
        host: str = "127.0.0.1",
        port: int = 0,
        handler: type[plain.RangeRequestHandler] = RangeRequestHandler,
        delay: float = 0.0,
    ) -> None:
        super().__init__(root, host, port, handler, delay)
        self._httpd.traffic = Traffic()  # type: ignore[attr-defined]

    @property
    def traffic(self) -> Traffic:
        return self._httpd.traffic  # type: ignore[attr-defined, no-any-return]


class RemoteTraffic:
    """The counters of a :class:`FileServer` child process, read over HTTP."""

    def __init__(self, base_url: str) -> None:
        self._url = base_url + TRAFFIC_PATH

    def snapshot(self) -> tuple[int, int]:
        """Return ``(requests, bytes_sent)`` so far."""
        doc = self.read()
        return doc["requests"], doc["bytes_sent"]

    def read(self) -> dict:
        with urllib.request.urlopen(self._url, timeout=10) as response:
            return json.load(response)

    @property
    def requests(self) -> int:
        return self.snapshot()[0]

    @property
    def bytes_sent(self) -> int:
        return self.snapshot()[1]

    @property
    def by_path(self) -> dict[str, int]:
        return self.read()["by_path"]

    @property
    def peak_in_flight(self) -> int:
        """The most file requests answered at once since the last reset."""
        return self.read()["peak_in_flight"]

    def reset(self) -> None:
        request = urllib.request.Request(self._url + "/reset", data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass


class FileServer(plain.FileServer):
    """The package's child-process server, counted: ``traffic`` reads its counters."""

    module = "tests.support.fileserver"

    def __init__(
        self, root: str | os.PathLike[str], host: str = "127.0.0.1", port: int = 0, delay: float = 0.0
    ) -> None:
        super().__init__(root, host, port, delay)
        self.cwd = REPOSITORY

    @property
    def traffic(self) -> RemoteTraffic:
        return RemoteTraffic(self.url)


def main(argv: list[str] | None = None) -> None:
    """Serve a directory with byte ranges, counted; print the base URL on the first line."""
    plain.main(argv, ThreadedFileServer, prog="python -m tests.support.fileserver")


if __name__ == "__main__":
    main()
