"""A fleet on loopback: origin nginx of COGs, two ``oam-preview serve``, redis, the front nginx.

One fleet for the module (starting it is most of the time). The front runs
the config rendered from ``deploy/nginx/oam-preview.conf.template``. The load
is bounded in requests and time; nothing asserts on wall-clock speed.
"""

from __future__ import annotations

import json
import os
import random
import re
import threading
import time
import urllib.error
import urllib.request
from collections import Counter

import pytest

from oam_preview.geo.tiles import TMS
from oam_preview.web.responses import IMMUTABLE

from ..support.fleet import Fleet, fleet, kill_instance, log_size, metric_sum, nginx_binary, origin_requests
from ..support.geotiffs import write_cog
from ..support.load_harness import SERVER_ERRORS, Results, background
from ..support.system import missing, need_module

pytestmark = pytest.mark.slow

#: Seconds between the instances' checks that a file is unchanged (short: a test replaces one).
RECHECK = 1.0
#: Tiles of the synthetic 4096² COG (0.6 m pixels over Kathmandu) that the mixed load asks for.
LOAD_TILES = [(17, 96599 + dx, 55035 + dy) for dx in range(-1, 3) for dy in range(-1, 3)] + [
    (16, 48299 + dx, 27517 + dy) for dx in range(2) for dy in range(2)
]


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory):
    if nginx_binary() is None:
        missing("nginx")
    need_module("redis")
    with fleet(
        tmp_path_factory.mktemp("fleet"),
        instances=2,
        workers=2,
        threads=4,
        cogs=("synthetic_cog", "replaced_cog"),  # replaced_cog: replaced upstream by a test
        settings={"OAM_PREVIEW_UPSTREAM_RECHECK": str(RECHECK)},
    ) as f:
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
    # The tile's file only: the instances read other headers in the background meanwhile (the
    # catalog has no footprints; they come from the headers).
    reads = [
        r
        for r in origin_requests(running.origin_log, mark)
        if r.method == "GET" and r.path.split("?")[0] == "/synthetic_cog.tif"
    ]
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


def token_of(url: str) -> str | None:
    found = re.search(r"\?v=([0-9a-f]{12})$", url)
    return found.group(1) if found else None


def test_a_cog_replaced_upstream_gets_new_urls_and_new_pixels_through_the_front(running: Fleet):
    front = running.front.url
    feature = json.loads(get(front + "/api/images/replaced_cog")[1])
    first = token_of(feature["properties"]["tilejson"])
    assert first and token_of(feature["properties"]["tiles"]) == first
    status, body, headers = get(feature["properties"]["tilejson"])
    assert status == 200 and headers["Cache-Control"] == IMMUTABLE
    doc = json.loads(body)
    assert token_of(doc["tiles"][0]) == first
    lon, lat, _ = doc["center"]
    t = TMS.tile(lon, lat, 17)
    old_url = doc["tiles"][0].format(z=t.z, x=t.x, y=t.y)
    before = get(old_url)
    assert before[0] == 200 and before[2]["Cache-Control"] == IMMUTABLE
    assert get(old_url)[2]["X-Cache-Status"] == "HIT"

    # A new upload over the file at the origin (same place, other pixels), as an object store does.
    served = running.tiffs / "replaced_cog.tif"
    write_cog(served.with_name("replaced_cog.next.tif"), 4096, 4096, seed=99)
    stamp = time.time() + 10  # Last-Modified has one-second resolution
    os.utime(served.with_name("replaced_cog.next.tif"), (stamp, stamp))
    os.replace(served.with_name("replaced_cog.next.tif"), served)
    time.sleep(RECHECK + 0.5)  # every worker's next use of the file rechecks it

    feature = json.loads(get(front + "/api/images/replaced_cog")[1])  # the listing's Feature: not cached
    second = token_of(feature["properties"]["tilejson"])
    assert second and second != first
    status, body, headers = get(feature["properties"]["tilejson"])
    assert status == 200 and headers["Cache-Control"] == IMMUTABLE
    new_url = json.loads(body)["tiles"][0].format(z=t.z, x=t.x, y=t.y)
    assert token_of(new_url) == second
    after = get(new_url)
    assert after[0] == 200, after
    assert after[2]["Cache-Control"] == IMMUTABLE and after[2]["X-Cache-Status"] == "MISS"
    assert after[1] != before[1]
    # Every instance agrees on the new version's pixels (the shared cache keys on the version).
    path = new_url.removeprefix(front)
    for server in running.live():
        direct = get(server.url + path)
        assert direct[0] == 200 and direct[1] == after[1] and direct[2]["Cache-Control"] == IMMUTABLE
    # The old URL names the old version: the front keeps it as it was (immutable); from the
    # instances it is the file as it is now, cached the default time only.
    assert get(old_url)[1] == before[1]
    stale = get(running.live()[0].url + old_url.removeprefix(front))
    assert stale[1] == after[1] and stale[2]["Cache-Control"] != IMMUTABLE
    print(f"\nreplaced upstream: v={first} -> v={second}, new pixels through the front")
