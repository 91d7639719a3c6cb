"""The front from deploy/'s template with its documented limits: TLS, HTTP/2, per-client rates.

Clients are told apart by their address: the tests send from 127.0.0.2,
127.0.0.3… (all of 127/8 is loopback), so one client's flood can be seen not
to slow another.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import shutil
import ssl
import subprocess
import time
import urllib.request
from collections import Counter

import pytest

from ..support.fleet import CLIENT_LIMITS, front, nginx_binary
from ..support.raw_http import raw_get as send_raw_get
from ..support.system import missing

pytestmark = pytest.mark.slow

#: 16 tiles of the cogeo fixture at z18 (the front caches them after the first request).
TILES = [f"/api/images/cogeo/tiles/18/{224756 + dx}/{101421 + dy}.png" for dx in range(4) for dy in range(4)]


@pytest.fixture(scope="module")
def limited(live_server: str, tmp_path_factory: pytest.TempPathFactory):
    if nginx_binary() is None:
        missing("nginx")
    backend = live_server.removeprefix("http://")
    nginx = front(tmp_path_factory.mktemp("front"), _free_port(), [backend], limits=CLIENT_LIMITS).start()
    try:
        yield nginx
    finally:
        nginx.stop()


def _free_port() -> int:
    from ..support.processes import free_port

    return free_port()


def statuses(port: int, paths: list[str], client: str, connections: int) -> Counter:
    """GET every path from source address ``client`` over ``connections`` keep-alive connections."""

    def run(share: list[str]) -> list[int]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(client, 0))
        got = []
        try:
            for path in share:
                conn.request("GET", path)
                response = conn.getresponse()
                response.read()
                got.append(response.status)
        finally:
            conn.close()
        return got

    shares = [paths[i::connections] for i in range(connections)]
    with concurrent.futures.ThreadPoolExecutor(connections) as pool:
        return Counter(s for got in pool.map(run, shares) for s in got)


def test_a_map_like_load_never_meets_the_limits(limited):
    """A first screenful (80 tiles), then 10 pans of 30 new tiles, 2 a second, on 6 connections."""
    assert set(statuses(limited.port, TILES, "127.0.0.2", 6)) <= {
        200,
        404,
    }  # warm the front's cache (404: outside)
    time.sleep(8)  # let the bucket drain: the warm-up was this client's too
    seen = statuses(limited.port, [TILES[i % 16] for i in range(80)], "127.0.0.2", 6)
    for _ in range(10):
        time.sleep(0.5)
        seen += statuses(limited.port, [TILES[i % 16] for i in range(30)], "127.0.0.2", 6)
    assert seen.total() == 380 and set(seen) <= {200, 404}  # not one 429


def test_a_flood_gets_429s_while_another_client_is_served(limited):
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        flood = pool.submit(statuses, limited.port, [TILES[i % 16] for i in range(1500)], "127.0.0.3", 16)
        time.sleep(0.3)
        other = statuses(limited.port, TILES, "127.0.0.4", 2)
        flooded = flood.result(timeout=120)
    assert flooded[429] > 500 and flooded.total() - flooded[429] >= 400  # the burst, then the rate
    assert set(flooded) <= {200, 404, 429}
    assert other.total() == 16 and set(other) <= {200, 404}  # served: not one 429


def test_tls_and_http2_at_the_front(limited):
    context = ssl.create_default_context(cafile=str(limited.cert))
    url = f"https://127.0.0.1:{limited.tls_port}/api/images/cogeo/tilejson.json"
    with urllib.request.urlopen(url, context=context, timeout=20) as response:
        assert response.status == 200 and response.headers["Content-Type"].startswith("application/json")
    if shutil.which("curl") is None:
        missing("curl")
    version = subprocess.run(
        ["curl", "-s", "--http2", "--cacert", str(limited.cert), "-o", "/dev/null", "-w", "%{http_version}",
         f"https://127.0.0.1:{limited.tls_port}/healthz"],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout  # fmt: skip
    assert version == "2"


def raw_get(port: int, path: str, headers: list[tuple[str, str]] = ()) -> tuple[int, dict, bytes]:
    """A GET to the front from 127.0.0.5 (another client than the tests' other requests)."""
    return send_raw_get(port, path, headers, source_address=("127.0.0.5", 0))


def test_the_front_takes_what_the_instances_take_and_refuses_the_rest_in_json(limited):
    ids = "%2C".join(f"5a1f2b3c4d5e6f7a8b9c{i:04x}" for i in range(1000))
    status, _, body = raw_get(limited.port, f"/api/images?ids={ids}&limit=1000")
    assert status == 200 and json.loads(body)["numberMatched"] == 0  # 27 kB: the instance's answer
    for path, headers, want, code in [
        ("/api/images?ids=" + "x" * 40_000, [], 414, "uri_too_long"),  # nginx's own
        ("/healthz", [("X-Padding", "x" * 40_000)], 431, "headers_too_large"),  # nginx's own
        ("/healthz", [("X-Padding", "x" * 9000)], 431, "headers_too_large"),  # the instance's
        ("/healthz", [(f"X-Padding-{i}", "x") for i in range(120)], 431, "headers_too_large"),
    ]:
        status, got, body = raw_get(limited.port, path, headers)
        assert status == want and got["content-type"].startswith("application/json"), (status, body[:200])
        assert json.loads(body)["error"]["code"] == code and got["cache-control"] == "no-store"


def test_a_body_over_the_cap_and_a_flood_are_json_at_the_front(limited):
    conn = http.client.HTTPConnection("127.0.0.1", limited.port, timeout=30, source_address=("127.0.0.6", 0))
    try:
        conn.request(
            "POST", "/api/exports", body=b"x" * (300 * 1024), headers={"Content-Type": "application/json"}
        )
        response = conn.getresponse()
        assert response.status == 413 and json.loads(response.read())["error"]["code"] == "body_too_large"
        refused = []
        for _ in range(600):  # past the burst of 400: the rest are 429
            conn.request("GET", "/healthz")
            response = conn.getresponse()
            body = response.read()
            if response.status == 429:
                refused.append((response.headers["Content-Type"], json.loads(body)["error"]["code"]))
    finally:
        conn.close()
    assert refused and set(refused) == {("application/json", "too_many_requests")}
