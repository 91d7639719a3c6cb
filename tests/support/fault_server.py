"""A Range-capable file server whose faults are switched at run time, in a child process.

``python -m tests.support.fault_server ROOT [--port N]`` serves ``ROOT`` like
:mod:`oam_preview.demo.fileserver` (GDAL must never read from a server thread of
its own process) and prints its base URL. ``POST /__mode__/<mode>`` switches
every later answer to one of:

- ``ok``: serve the files;
- ``status-<code>``: answer that HTTP status (e.g. ``status-503``);
- ``flaky-<n>``: answer 503 to the first ``n`` requests of each path, then serve;
- ``html``: an HTML error page with status 200;
- ``reset``: send headers and half the body, then reset the connection;
- ``trickle-<bytes_per_s>``: send the headers at once, then the body at that rate;
- ``hang``: read the request and never answer (until the client gives up);
- ``redirect-<target>``: 302 to ``target`` (URL-quoted, e.g. ``file%3A%2F%2F%2Fetc%2Fpasswd``).

``GET /__traffic__`` and ``POST /__traffic__/reset`` are the counters of
:mod:`tests.support.fileserver`.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import struct
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from ..support.fileserver import (
    TRAFFIC_PATH,
    FileServer,
    FileServerHTTP,
    RangeRequestHandler,
    ThreadedFileServer,
)

MODE_PATH = "/__mode__/"


class FaultHandler(RangeRequestHandler):
    """:class:`RangeRequestHandler` with the faults of the module doc."""

    def do_POST(self) -> None:
        if self.path.startswith(MODE_PATH):
            state: dict[str, Any] = self.server.state  # type: ignore[attr-defined]
            with state["lock"]:
                state["mode"] = self.path[len(MODE_PATH) :]
                state["seen"] = {}
            self._send_json({"mode": state["mode"]})
            return
        super().do_POST()

    def _serve(self, body: bool) -> None:
        if self.path.startswith(TRAFFIC_PATH):
            super()._serve(body)
            return
        state: dict[str, Any] = self.server.state  # type: ignore[attr-defined]
        with state["lock"]:
            mode = state["mode"]
            seen = state["seen"][self.path] = state["seen"].get(self.path, 0) + 1
        name, _, arg = mode.partition("-")
        if name == "status" or (name == "flaky" and seen <= int(arg)):
            code = int(arg) if name == "status" else 503
            self._send_plain(code, b"upstream trouble\n", body)
        elif name == "html":
            self._send_plain(200, b"<html><body>Please log in</body></html>\n" * 50, body)
        elif name == "redirect":
            self._send_plain(302, b"moved\n", body, {"Location": urllib.parse.unquote(arg)})
        elif name == "reset":
            self._reset_mid_body()
        elif name == "trickle":
            self._trickle(float(arg), body)
        elif name == "hang":
            self._hang()
        else:
            super()._serve(body)

    def _reset_mid_body(self) -> None:
        self.send_response(206)
        self.send_header("Content-Type", "image/tiff")
        self.send_header("Content-Length", "16384")
        self.send_header("Content-Range", "bytes 0-16383/1000000")
        self.end_headers()
        self.wfile.write(b"II*\x00" + bytes(4000))
        self.wfile.flush()
        # SO_LINGER 0: close() sends a TCP RST instead of a FIN.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True
        self.server.traffic.record(self.path, 4004)

    def _hang(self) -> None:
        """Hold the connection open, answering nothing, until the client closes it (at most 5 min)."""
        self.connection.settimeout(1.0)
        for _ in range(300):
            try:
                if not self.connection.recv(1, socket.MSG_PEEK):
                    break  # the client gave up
            except TimeoutError:
                continue
            except OSError:
                break
        self.close_connection = True

    def _trickle(self, rate: float, body: bool) -> None:
        """Serve the answer ``_serve`` would give, ``rate`` bytes per second."""
        real_wfile = self.wfile

        class Slow:
            def write(self, data: bytes) -> int:
                step = max(1, min(256, int(rate)))  # at most a second between writes
                for i in range(0, len(data), step):
                    real_wfile.write(data[i : i + step])
                    real_wfile.flush()
                    time.sleep(step / rate)
                return len(data)

            def flush(self) -> None:
                real_wfile.flush()

        self.wfile = Slow()  # type: ignore[assignment]
        try:
            super()._serve(body)
        finally:
            self.wfile = real_wfile


def set_mode(base_url: str, mode: str) -> None:
    """Switch the fault server at ``base_url`` to ``mode``."""
    request = urllib.request.Request(base_url + MODE_PATH + mode, data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=10):  # loopback test server
        pass


class FaultServer(FileServer):
    """The fault server in a child process; ``port`` 0 picks a free one, a fixed one allows restarts."""

    def __init__(self, root: str | Path, port: int = 0, mode: str = "ok") -> None:
        super().__init__(root, port=port)
        self.initial_mode = mode
        self.cwd = Path(__file__).resolve().parents[2]  # `-m tests.support…` imports from the repository

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "tests.support.fault_server", str(self.root),
            "--port", str(self.port), "--mode", self.initial_mode,
        ]  # fmt: skip

    def mode(self, mode: str) -> None:
        set_mode(self.url, mode)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.support.fault_server")
    parser.add_argument("root")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--mode", default="ok")
    args = parser.parse_args(argv)
    # socketserver listens with a backlog of 5: under the stress tests' load the kernel then
    # refuses connections, which oam-preview rightly reports as an unreachable upstream.
    # A real object store has a deep backlog; so does this one.
    FileServerHTTP.request_queue_size = 256
    server = ThreadedFileServer(args.root, "127.0.0.1", args.port, handler=FaultHandler)
    server._httpd.state = {"lock": threading.Lock(), "mode": args.mode, "seen": {}}  # type: ignore[attr-defined]
    print(server.url, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
