"""A GET sent as written: a request line or headers no HTTP library would let through."""

from __future__ import annotations

import http.client
from collections.abc import Sequence


def raw_get(
    port: int,
    path: str,
    headers: Sequence[tuple[str, str]] = (),
    source_address: tuple[str, int] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """GET ``path`` from 127.0.0.1:``port`` (from ``source_address`` when given): the status,
    the headers (lower-cased names) and the body."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=source_address)
    try:
        conn.putrequest("GET", path)
        for name, value in headers:
            conn.putheader(name, value)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()
