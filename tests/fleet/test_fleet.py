"""A fleet on loopback: origin nginx of COGs, two ``oam-preview serve``, redis, the front nginx.

One fleet for the module (starting it is most of the time). The front runs
the config rendered from ``deploy/nginx/oam-preview.conf.template``. The load
is bounded in requests and time; nothing asserts on wall-clock speed.
"""

from __future__ import annotations

import os
import random
import threading
import time
import urllib.error
import urllib.request
from collections import Counter

import pytest

from ..stress.harness import SERVER_ERRORS, Results, background
from .parts import Fleet, fleet, kill_instance, log_size, metric_sum, nginx_binary, origin_requests

pytestmark = pytest.mark.slow

#: Tiles of the synthetic 4096² COG (0.6 m pixels over Kathmandu) that the mixed load asks for.
LOAD_TILES = [(17, 96599 + dx, 55035 + dy) for dx in range(-1, 3) for dy in range(-1, 3)] + [
    (16, 48299 + dx, 27517 + dy) for dx in range(2) for dy in range(2)
]


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory):
    if nginx_binary() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("nginx is missing in CI (.ci/run installs it)")
        pytest.skip("nginx is not installed")
    pytest.importorskip("redis")
    with fleet(tmp_path_factory.mktemp("fleet"), instances=2, workers=2, threads=4) as f:
        yield f


def get(url: str) -> tuple[int, bytes, dict[str, str]]:
    try:
        with urllib.request.urlopen(url, timeout=30) as r:  # noqa: S310 (loopback)
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


def mixed(base: str):
    """A pick for ``run_clients``: tiles in several formats, thumbnails of many sizes, TileJSON."""

    def pick(rng: random.Random) -> tuple[str, str]:
        roll = rng.random()
        if roll < 0.6:
            z, x, y = rng.choice(LOAD_TILES)
            fmt = rng.choice(("png", "jpg", "webp"))
            return "tile", f"{base}/api/images/synthetic_cog/tiles/{z}/{x}/{y}.{fmt}"
        if roll < 0.85:
            image = rng.choice(("cogeo", "cog_rgba", "synthetic_cog"))
            return "thumbnail", f"{base}/api/images/{image}/thumbnail.png?max_size={rng.randint(16, 400)}"
        return "tilejson", f"{base}/api/images/{rng.choice(('cogeo', 'synthetic_cog'))}/tilejson.json"

    return pick


def burst(urls: list[str]) -> list[tuple[int, bytes, dict[str, str]]]:
    """Every URL asked at once (one thread each, released together)."""
    barrier = threading.Barrier(len(urls))
    answers: list[tuple[int, bytes, dict[str, str]]] = []
    lock = threading.Lock()

    def ask(url: str) -> None:
        barrier.wait(timeout=30)
        answer = get(url)
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=ask, args=(u,)) for u in urls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    assert len(answers) == len(urls)
    return answers


def test_the_front_serves_and_caches(running: Fleet):
    url = running.front.url + "/api/images/synthetic_cog/tiles/17/96599/55035.png"
    first, second = get(url), get(url)
    assert first[0] == second[0] == 200 and first[1] == second[1]
    assert first[2]["X-Cache-Status"] in ("MISS", "EXPIRED") and second[2]["X-Cache-Status"] == "HIT"
    status, body, _ = get(running.front.url + "/api/images/cogeo/tilejson.json")
    assert status == 200 and running.front.url.encode() in body  # URLs of the front (X-Forwarded-*)
    assert get(running.front.url + "/metrics")[0] == 404  # scraped on the instances only


def test_50_requests_of_one_cold_tile_across_the_fleet_render_it_once(running: Fleet):
    tile = "/api/images/synthetic_cog/tiles/18/193199/110071.png"
    for server in running.servers:  # each instance knows the file (its version check, its open)
        assert get(server.url + "/api/images/synthetic_cog/tilejson.json")[0] == 200
    renders = running.renders()
    mark = log_size(running.origin_log)
    # Straight to the instances, 25 each: nginx's own proxy_cache_lock would coalesce them first.
    answers = burst([running.servers[n % 2].url + tile for n in range(50)])
    assert [a[0] for a in answers] == [200] * 50
    assert len({a[1] for a in answers}) == 1
    assert running.renders() - renders == 1
    time.sleep(0.2)  # nginx writes its access log line after the answer
    reads = [r for r in origin_requests(running.origin_log, mark) if r.method == "GET"]
    # One render's reads, each once: a second render anywhere would ask for the same ranges again.
    ranges = Counter((r.path, r.range) for r in reads)
    assert reads and max(ranges.values()) == 1, ranges
    print(f"\n50 concurrent requests of one cold tile: 1 render, {len(reads)} upstream GETs")


def test_the_fronts_cache_lock_sends_one_request_for_a_cold_url(running: Fleet):
    renders = running.renders()
    answers = burst([running.front.url + "/api/images/synthetic_cog/tiles/18/193200/110071.png"] * 30)
    assert [a[0] for a in answers] == [200] * 30
    assert running.renders() - renders == 1


def fresh(base: str, share: float = 0.7):
    """Like :func:`mixed`, but ``share`` of the URLs new (an ignored query), so that the
    instances answer them rather than the front's cache."""
    pick = mixed(base)

    def fresh_pick(rng: random.Random) -> tuple[str, str]:
        kind, url = pick(rng)
        if rng.random() < share:
            url += ("&" if "?" in url else "?") + f"n={rng.randint(0, 10**9)}"
        return kind, url

    return fresh_pick


def test_kill_9_of_one_instance_costs_no_client_a_5xx(running: Fleet):
    results = Results()
    SERVER_ERRORS.clear()
    victim = running.servers[1]
    try:
        with background(8, 7.0, fresh(running.front.url), results, max_requests=5000, timeout=30):
            time.sleep(2.0)
            killed = time.monotonic()
            kill_instance(victim)
        statuses = results.statuses()
        after = results.between(killed, float("inf"))
        assert len(after.items) >= 50  # the load went on past the kill
        assert statuses and set(statuses) == {200}, (statuses, dict(SERVER_ERRORS))
        print(
            f"\nkill -9 under load: {len(results.items)} requests, {len(after.items)} after the kill, {dict(statuses)}"
        )
    finally:
        victim.start()  # back for the next tests, pass or fail; nginx takes it back after fail_timeout


def test_redis_stopped_under_load_still_answers_200(running: Fleet):
    results = Results()
    SERVER_ERRORS.clear()
    try:
        with background(8, 6.0, fresh(running.front.url, 1.0), results, max_requests=5000, timeout=30):
            time.sleep(2.0)
            stopped = time.monotonic()
            running.redis.stop()
        statuses = results.statuses()
        after = results.between(stopped, float("inf"))
        assert len(after.items) >= 50
        assert statuses and set(statuses) == {200}, (statuses, dict(SERVER_ERRORS))
        errors = sum(metric_sum(s.url + "/metrics", "oam_preview_cache_requests_total", result="error")
                     for s in running.servers)  # fmt: skip
        assert errors >= 1  # the instances did notice
        print(
            f"\nredis stopped under load: {len(results.items)} requests, {len(after.items)} after, {dict(statuses)}"
        )
    finally:
        running.redis.start()
