"""A small threaded HTTP file server with byte-range support.

It serves one directory the way S3 or nginx would serve GeoTIFFs to GDAL:
``HEAD``, ``GET`` and single ``Range: bytes=a-b`` requests (206), with
``ETag``/``Last-Modified``. The demo command runs one beside the app so the
demo images are read over HTTP range requests, like production; the tests
and benchmarks run one too, and read its request counters.
"""

from __future__ import annotations

import email.utils
import http.server
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


@dataclass
class Traffic:
    """Counts of what a :class:`FileServer` has answered, per path."""

    requests: int = 0
    bytes_sent: int = 0
    by_path: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

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

    def snapshot(self) -> tuple[int, int]:
        """Return ``(requests, bytes_sent)`` so far."""
        with self.lock:
            return self.requests, self.bytes_sent


class RangeRequestHandler(http.server.BaseHTTPRequestHandler):
    """Answers HEAD/GET for files under ``server.root``, honouring ``Range``."""

    protocol_version = "HTTP/1.1"
    server: FileServerHTTP

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass  # quiet: tests and the demo would drown in range requests

    def do_HEAD(self) -> None:  # noqa: N802
        self._serve(body=False)

    def do_GET(self) -> None:  # noqa: N802
        self._serve(body=True)

    def _resolve(self) -> Path | None:
        rel = self.path.split("?", 1)[0].lstrip("/")
        root = self.server.root
        candidate = (root / rel).resolve()
        if root not in candidate.parents or not candidate.is_file():
            return None
        return candidate

    def _serve(self, body: bool) -> None:
        path = self._resolve()
        if path is None:
            self._send_plain(404, b"not found\n", body)
            return
        size = path.stat().st_size
        start, end = 0, size - 1
        status = 200
        header = self.headers.get("Range")
        if header:
            m = _RANGE.match(header.strip())
            if not m or (not m.group(1) and not m.group(2)):
                self._send_plain(416, b"bad range\n", body, {"Content-Range": f"bytes */{size}"})
                return
            if m.group(1):
                start = int(m.group(1))
                end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
            else:  # suffix range: the last N bytes
                start = max(0, size - int(m.group(2)))
            if start >= size or start > end:
                self._send_plain(416, b"bad range\n", body, {"Content-Range": f"bytes */{size}"})
                return
            status = 206
        length = end - start + 1
        stat = path.stat()
        self.send_response(status)
        self.send_header("Content-Type", "image/tiff")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(length))
        self.send_header("ETag", f'"{stat.st_mtime_ns:x}-{size:x}"')
        self.send_header("Last-Modified", email.utils.formatdate(stat.st_mtime, usegmt=True))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        sent = 0
        if body:
            with open(path, "rb") as f:
                f.seek(start)
                remaining = length
                while remaining > 0:
                    chunk = f.read(min(remaining, 1 << 16))
                    if not chunk:
                        break
                    try:
                        self.wfile.write(chunk)
                    except (BrokenPipeError, ConnectionResetError):
                        break
                    remaining -= len(chunk)
                    sent += len(chunk)
        self.server.traffic.record("/" + str(path.relative_to(self.server.root)), sent)

    def _send_plain(
        self, status: int, text: bytes, body: bool, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(text)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if body:
            self.wfile.write(text)
        self.server.traffic.record(self.path, len(text) if body else 0)


class FileServerHTTP(http.server.ThreadingHTTPServer):
    daemon_threads = True
    root: Path
    traffic: Traffic


class FileServer:
    """Serve ``root`` over HTTP on ``host:port`` (port 0 picks a free one) in a thread.

    Use as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        host: str = "127.0.0.1",
        port: int = 0,
        handler: type[RangeRequestHandler] = RangeRequestHandler,
    ) -> None:
        self._httpd = FileServerHTTP((host, port), handler)
        self._httpd.root = Path(root).resolve()
        self._httpd.traffic = Traffic()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL, without a trailing slash."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def traffic(self) -> Traffic:
        return self._httpd.traffic

    def start(self) -> FileServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="oam-preview-fileserver", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FileServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
