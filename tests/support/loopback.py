"""A small threaded HTTP server on 127.0.0.1 for tests that need a peer of their own (catalogs, STAC
APIs), and the two halves of a reverse proxy in front of another (the cloud stores' fronts)."""

from __future__ import annotations

import http.client
import http.server
import threading
from typing import Any

#: ``OAM_PREVIEW_UPSTREAM_ALLOW`` of the tests: they serve their GeoTIFFs themselves, on loopback.
LOOPBACK_ALLOW = "127.0.0.0/8 ::1/128 localhost"


class LoopbackServer:
    """``handler`` (a ``BaseHTTPRequestHandler`` class) served on a free port from a daemon thread."""

    def __init__(self, handler: type[http.server.BaseHTTPRequestHandler]) -> None:
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


#: Headers of an upstream answer a front does not pass on: the front sets its own length.
HOP_BY_HOP = ("transfer-encoding", "connection", "content-length")


def request_body(handler: http.server.BaseHTTPRequestHandler) -> bytes | None:
    """The body of ``handler``'s request (by its ``Content-Length``), ``None`` when it has none."""
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length else None


def forwarded(
    port: int, method: str, path: str, body: bytes | None, headers: dict[str, str]
) -> tuple[int, list[tuple[str, str]], bytes]:
    """A request passed unchanged to 127.0.0.1:``port``: its answer's status, headers and body."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers)
        answer = connection.getresponse()
        return answer.status, answer.getheaders(), answer.read()
    finally:
        connection.close()


def send_answer(
    handler: http.server.BaseHTTPRequestHandler, status: int, headers: list[tuple[str, str]], payload: bytes
) -> None:
    """``payload`` answered by ``handler`` with ``status`` and ``headers`` (no body to a HEAD)."""
    handler.send_response(status)
    for name, value in headers:
        if name.lower() not in HOP_BY_HOP:
            handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(payload)))
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(payload)
