"""The optional Redis cache shared by workers: a tile rendered by one is free for the others."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest

from oam_preview import create_app

from .conftest import free_port

pytest.importorskip("redis")


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("redis-server is missing in CI (.ci/run installs it)")
        pytest.skip("redis-server is not installed")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=tmp_path_factory.mktemp("redis"),
        stdout=subprocess.DEVNULL,
    )
    import redis

    client = redis.Redis(port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                process.kill()
                raise
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    process.terminate()
    process.wait(timeout=10)


def worker(catalog, url):
    """An app as one gunicorn worker would build it: its own pool and LRU, the shared Redis."""
    return create_app({"OAM_PREVIEW_CACHE_URL": url}, catalog=catalog).test_client()


def test_a_tile_rendered_by_one_worker_is_free_for_another(catalog, tiff_server, redis_url):
    first, second = worker(catalog, redis_url), worker(catalog, redis_url)
    path = "/api/images/cogeo/tiles/18/224757/101422.png"
    rendered = first.get(path)
    assert rendered.status_code == 200
    second.get("/api/images/cogeo/tilejson.json")  # the second worker's own version check
    tiff_server.traffic.reset()
    shared = second.get(path)
    assert shared.status_code == 200 and shared.data == rendered.data
    assert shared.headers["ETag"] == rendered.headers["ETag"]
    assert tiff_server.traffic.snapshot() == (0, 0)
    assert second.get("/healthz").get_json()["cache"]["shared"]["hits"] >= 1


def test_redis_down_is_only_a_miss(catalog):
    client = worker(catalog, f"redis://127.0.0.1:{free_port()}/0")
    r = client.get("/api/images/cogeo/thumbnail.png?max_size=40")
    assert r.status_code == 200
    assert client.get("/healthz").get_json()["cache"]["shared"]["errors"] >= 1
