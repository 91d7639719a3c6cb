"""A small threaded HTTP server on 127.0.0.1 for tests that need a peer of their own (catalogs, STAC APIs)."""

from __future__ import annotations

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
