"""A small threaded HTTP file server with byte-range support.

It serves one directory the way S3 or nginx would serve GeoTIFFs to GDAL:
``HEAD``, ``GET`` and single ``Range: bytes=a-b`` requests (206), with
``ETag``/``Last-Modified``. The demo runs one beside the app so its images
are read over HTTP range requests, like production; ``oam-preview check``
serves a local file with one; the tests and benchmarks run one too (with
request counters: ``tests/support/fileserver.py``).

:class:`FileServer` runs the server in a child process (``python -m
oam_preview.demo.fileserver``): GDAL holds the GIL during parts of a dataset
open, so a server thread in the same process as the reader can stall it.
"""

from __future__ import annotations

import argparse
import contextlib
import email.utils
import http.server
import os
import re
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class RangeRequestHandler(http.server.BaseHTTPRequestHandler):
    """Answers HEAD/GET for files under ``server.root``, honouring ``Range``."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without TCP_NODELAY each small answer waits
    # ~40 ms for the client's delayed ACK (Nagle), as no production server (nginx, S3) does.
    disable_nagle_algorithm = True
    server: FileServerHTTP

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet: tests and the demo would drown in range requests

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def do_GET(self) -> None:
        self._serve(body=True)

    def answered(self, path: str, nbytes: int) -> None:
        """Called as each answer is about to go out: the path asked for and the body bytes sent
        (0 for a HEAD). Nothing here; the tests' counted server counts them."""

    def _resolve(self) -> Path | None:
        rel = urllib.parse.unquote(self.path.split("?", 1)[0]).lstrip("/")
        root = self.server.root
        candidate = (root / rel).resolve()
        if root not in candidate.parents or not candidate.is_file():
            return None
        return candidate

    def _serve(self, body: bool) -> None:
        self._serve_file(body)

    def _serve_file(self, body: bool) -> None:
        if self.server.delay:
            time.sleep(self.server.delay)  # mimic a distant object store
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
        # Counted before answering, so a client that has its answer always finds it counted.
        self.answered("/" + str(path.relative_to(self.server.root)), length if body else 0)
        self.send_response(status)
        self.send_header("Content-Type", "image/tiff")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(length))
        self.send_header("ETag", f'"{stat.st_mtime_ns:x}-{size:x}"')
        self.send_header("Last-Modified", email.utils.formatdate(stat.st_mtime, usegmt=True))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
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

    def _send_plain(
        self, status: int, text: bytes, body: bool, headers: dict[str, str] | None = None
    ) -> None:
        self.answered(self.path, len(text) if body else 0)
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(text)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if body:
            self.wfile.write(text)


class FileServerHTTP(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default 5 refuses connections under a map's burst of tiles
    root: Path
    delay: float = 0.0  # seconds added before each answer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-body (GDAL does, once it has its bytes) is normal.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class ThreadedFileServer:
    """Serve ``root`` from a thread of this process (for processes that don't read it with GDAL)."""

    def __init__(
        self,
        root: str | os.PathLike[str],
        host: str = "127.0.0.1",
        port: int = 0,
        handler: type[RangeRequestHandler] = RangeRequestHandler,
        delay: float = 0.0,
    ) -> None:
        self._httpd = FileServerHTTP((host, port), handler)
        self._httpd.root = Path(root).resolve()
        self._httpd.delay = delay
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL, without a trailing slash."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def serve_forever(self) -> None:
        self._httpd.serve_forever()

    def start(self) -> ThreadedFileServer:
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


class FileServer:
    """Serve ``root`` over HTTP from a child process; ``port`` 0 picks a free one.

    Use as a context manager, or call :meth:`start` and :meth:`stop`; after
    the first start, a restart keeps the port.
    """

    #: The module the child process runs (``python -m``): it prints its base URL first.
    module = "oam_preview.demo.fileserver"

    def __init__(
        self, root: str | os.PathLike[str], host: str = "127.0.0.1", port: int = 0, delay: float = 0.0
    ) -> None:
        self.root = Path(root).resolve()
        self.host = host
        self.port = port
        self.delay = delay
        self._process: subprocess.Popen[str] | None = None
        self.url = ""
        self.cwd: Path | None = None  # the child's working directory (default: ours)

    def command(self) -> list[str]:
        """The child process's argv; it prints its base URL on its first line."""
        return [
            sys.executable, "-m", self.module, str(self.root),
            "--host", self.host, "--port", str(self.port), "--delay", str(self.delay),
        ]  # fmt: skip

    def start(self) -> FileServer:
        self._process = subprocess.Popen(self.command(), stdout=subprocess.PIPE, text=True, cwd=self.cwd)
        assert self._process.stdout is not None
        line = self._process.stdout.readline().strip()
        if not line.startswith("http://"):
            self.stop()
            raise RuntimeError(f"file server did not start: {line!r}")
        self.url = line
        self.port = int(line.rsplit(":", 1)[1])
        return self

    def stop(self, kill: bool = False) -> None:
        """Stop the server; ``kill`` sends SIGKILL, the way a crashed upstream goes."""
        if self._process is None:
            return
        if kill:
            self._process.kill()
        else:
            self._process.terminate()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()
        self._process = None

    def __enter__(self) -> FileServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(
    argv: list[str] | None = None,
    server_class: type[ThreadedFileServer] = ThreadedFileServer,
    prog: str = "python -m oam_preview.demo.fileserver",
) -> None:
    """Serve a directory with byte ranges; print the base URL on the first line of stdout.
    ``server_class``: the server to run (the tests' counts its traffic)."""
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("root")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    args = parser.parse_args(argv)
    server = server_class(args.root, args.host, args.port, delay=args.delay)
    print(server.url, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
