"""The HTTP limits of a real ``oam-preview serve``: what the contract promises passes, what is
beyond is answered with API.md's JSON error (gunicorn's own 414/431 included), and a body is
never read past its cap, whether it is sized or chunked."""

from __future__ import annotations

import http.client
import json
import socket
import threading
from urllib.parse import urlsplit

import pytest

from oam_preview.serve import REQUEST_LINE_LIMIT

from .support.raw_http import raw_get

#: An OAM image id: 24 hex characters (a MongoDB ObjectId).
OAM_ID = "5a1f2b3c4d5e6f7a8b9c0d1e"


def port_of(url: str) -> int:
    return int(urlsplit(url).port or 80)


def request(url: str, path: str, headers: list[tuple[str, str]] = ()) -> tuple[int, dict, bytes]:
    """GET ``path``: status, headers (lower-cased names) and body."""
    return raw_get(port_of(url), path, headers)


def assert_json_error(status: int, headers: dict, body: bytes, want: int, code: str) -> None:
    assert status == want, body[:300]
    assert headers["content-type"].startswith("application/json"), body[:300]
    assert json.loads(body)["error"]["code"] == code
    assert headers["access-control-allow-origin"] == "*" and headers["cache-control"] == "no-store"


def thousand_ids() -> str:
    """``ids=`` naming 1000 OAM ids, commas percent-encoded as a browser's URLSearchParams does."""
    return "%2C".join(f"{OAM_ID[:-4]}{i:04x}" for i in range(1000))


def test_the_listing_takes_the_1000_ids_the_contract_promises(live_server):
    path = f"/api/images?ids={thousand_ids()}&bbox=-180,-90,180,90&limit=1000&q=x&order=newest"
    assert len(path) > 26_000  # far past gunicorn's default of 4094 bytes
    status, _, body = request(live_server, path)
    assert status == 200, body[:300]
    assert json.loads(body)["numberMatched"] == 0


def test_a_request_line_past_the_limit_is_a_json_414(live_server):
    path = "/api/images/cogeo/tiles/0/0/0.png?expression=" + "b1%2B" * (REQUEST_LINE_LIMIT // 5)
    assert_json_error(*request(live_server, path), 414, "uri_too_long")
    assert request(live_server, "/healthz")[0] == 200


def test_too_many_headers_are_a_json_431(live_server):
    headers = [(f"X-Padding-{i}", "x") for i in range(120)]
    assert_json_error(*request(live_server, "/healthz", headers), 431, "headers_too_large")


def test_a_header_past_the_limit_is_a_json_431(live_server):
    headers = [("X-Padding", "x" * 9000)]
    assert_json_error(*request(live_server, "/healthz", headers), 431, "headers_too_large")


def test_a_malformed_request_is_a_json_400(live_server):
    with socket.create_connection(("127.0.0.1", port_of(live_server)), timeout=30) as sock:
        sock.sendall(b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n")
        response = http.client.HTTPResponse(sock)
        response.begin()
        headers = {k.lower(): v for k, v in response.getheaders()}
        assert_json_error(response.status, headers, response.read(), 400, "bad_request")


def post_chunked(url: str, total: int, chunk: int = 64 * 1024) -> tuple[int, dict, int]:
    """POST a JSON body of ``total`` bytes to ``/api/exports`` in chunks: the answer's status and
    error, and how many body bytes the server let the client send before it answered and closed."""
    sock = socket.create_connection(("127.0.0.1", port_of(url)), timeout=30)
    sock.sendall(
        b"POST /api/exports HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    sent = 0
    answered = threading.Event()

    def send() -> None:
        nonlocal sent
        head, tail = b'{"ids": ["', b'"]}'
        try:
            sock.sendall(b"%x\r\n%s\r\n" % (len(head), head))
            while sent < total and not answered.is_set():
                size = min(chunk, total - sent)
                sock.sendall(b"%x\r\n%s\r\n" % (size, b"a" * size))
                sent += size
            sock.sendall(b"%x\r\n%s\r\n0\r\n\r\n" % (len(tail), tail))
        except OSError:  # the server answered and closed: the rest is not read
            pass

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    try:
        response = http.client.HTTPResponse(sock)
        response.begin()
        answered.set()
        doc = json.loads(response.read())
    finally:
        answered.set()
        sender.join(30)
        sock.close()
    return response.status, doc, sent


def test_a_chunked_export_body_is_capped_like_a_sized_one(live_server):
    total = 40 * 1024 * 1024
    status, doc, sent = post_chunked(live_server, total)
    assert status == 413 and doc["error"]["code"] == "body_too_large", doc
    # The socket buffers of loopback hold a few MB; the server read 256 kB and stopped.
    assert sent < total // 2
    assert request(live_server, "/healthz")[0] == 200


def test_a_sized_export_body_over_the_cap_is_a_413(live_server):
    body = b'{"ids": ["' + b"a" * (256 * 1024) + b'"]}'
    conn = http.client.HTTPConnection("127.0.0.1", port_of(live_server), timeout=30)
    try:
        conn.request("POST", "/api/exports", body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        assert response.status == 413
        assert json.loads(response.read())["error"]["code"] == "body_too_large"
    except (BrokenPipeError, ConnectionResetError):
        pytest.fail("the server closed before it answered")
    finally:
        conn.close()


def test_a_malformed_chunked_body_is_a_json_400(live_server):
    with socket.create_connection(("127.0.0.1", port_of(live_server)), timeout=30) as sock:
        sock.sendall(
            b"POST /api/exports HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\nzz\r\n"
        )
        response = http.client.HTTPResponse(sock)
        response.begin()
        headers = {k.lower(): v for k, v in response.getheaders()}
        assert_json_error(response.status, headers, response.read(), 400, "bad_request")
