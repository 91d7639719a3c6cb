"""The optional Redis cache shared by workers: a tile rendered by one is free for the others."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
import uuid

import pytest

from oam_preview import create_app
from oam_preview.cache.entry import CachedResponse
from oam_preview.cache.tiered import TieredCache, response_cache
from oam_preview.errors import UpstreamTimeout

from .support.processes import free_port
from .support.redis_server import RedisServer
from .support.system import need_module

redis = need_module("redis")


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    with RedisServer(free_port(), tmp_path_factory.mktemp("redis")) as server:
        yield server.url


@pytest.fixture()
def own_redis(tmp_path):
    """A redis-server of the test's own, to stop and restart."""
    with RedisServer(free_port(), tmp_path) as server:
        yield server


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


# -- render once ---------------------------------------------------------------------------


class Producer:
    """A ``produce`` for ``cache.fetch`` that counts its calls and takes ``seconds`` to render."""

    def __init__(self, seconds: float = 0.3, body: bytes = b"tile") -> None:
        self.seconds = seconds
        self.body = body
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self) -> CachedResponse:
        with self._lock:
            self.calls += 1
        time.sleep(self.seconds)
        return CachedResponse(self.body, "image/png", "etag-" + self.body.decode())


def fetch_together(cache, key: str, produce, threads: int = 16) -> list[CachedResponse]:
    """``threads`` threads calling ``cache.fetch(key, produce)`` at once; their results."""
    barrier = threading.Barrier(threads)
    results: list[CachedResponse] = []

    def one() -> None:
        barrier.wait(timeout=10)
        results.append(cache.fetch(key, produce))

    pool = [threading.Thread(target=one) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=30)
    assert len(results) == threads
    return results


def tiered(url: str, **shared) -> TieredCache:
    cache = response_cache(10_000_000, url, 60, **shared)
    assert isinstance(cache, TieredCache)
    return cache


def test_threads_of_one_process_render_a_cold_key_once_without_redis():
    cache = response_cache(10_000_000)
    produce = Producer()
    results = fetch_together(cache, "k", produce)
    assert produce.calls == 1
    assert {r.body for r in results} == {b"tile"}
    stats = cache.stats()
    assert stats["renders"] == 1 and stats["coalesced"] + stats["hits"] == 15


def test_threads_of_one_process_render_a_cold_key_once_with_redis(redis_url):
    cache = tiered(redis_url)
    produce = Producer()
    fetch_together(cache, f"k-{uuid.uuid4()}", produce)
    assert produce.calls == 1
    shared = cache.stats()["shared"]
    assert shared["lock_acquired"] == 1 and shared["lock_wait"] == 0


def test_a_miss_waits_for_another_process_and_takes_its_result(redis_url):
    first, second = tiered(redis_url), tiered(redis_url)  # two processes: own LRU and flights
    key = f"k-{uuid.uuid4()}"
    rendering = threading.Event()
    release = threading.Event()

    def slow() -> CachedResponse:
        rendering.set()
        release.wait(10)
        return CachedResponse(b"first", "image/png", "e1")

    owner = threading.Thread(target=first.fetch, args=(key, slow))
    owner.start()
    assert rendering.wait(10)
    threading.Timer(0.3, release.set).start()
    produce = Producer(0, b"second")
    assert second.fetch(key, produce).body == b"first"
    owner.join(10)
    assert produce.calls == 0
    shared = second.stats()["shared"]
    assert shared["lock_wait"] == 1 and shared["lock_result"] == 1 and shared["lock_timeout"] == 0


def _process_fetches(url: str, key: str, marks: str, barrier, threads: int) -> None:
    """One process of the two-process test: ``threads`` threads fetch ``key``; renders append to ``marks``."""

    def produce() -> CachedResponse:
        with open(marks, "a") as f:
            f.write(f"{os.getpid()}\n")
        time.sleep(0.5)
        return CachedResponse(b"tile", "image/png", "e")

    cache = tiered(url)
    barrier.wait(timeout=60)
    fetch_together(cache, key, produce, threads)


def test_two_processes_render_a_cold_key_once(redis_url, tmp_path):
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    marks = tmp_path / "renders"
    marks.touch()
    key = f"k-{uuid.uuid4()}"
    processes = [
        context.Process(target=_process_fetches, args=(redis_url, key, str(marks), barrier, 8))
        for _ in range(2)
    ]
    for p in processes:
        p.start()
    for p in processes:
        p.join(timeout=90)
        assert p.exitcode == 0
    assert len(marks.read_text().split()) == 1


def test_workers_asking_one_cold_tile_render_it_once(catalog, redis_url):
    apps = [create_app({"OAM_PREVIEW_CACHE_URL": redis_url}, catalog=catalog) for _ in range(2)]
    path = "/api/images/synthetic_cog/tiles/16/48299/27517.png"
    for app in apps:  # the version check and the open, not part of the race
        assert app.test_client().get("/api/images/synthetic_cog/tilejson.json").status_code == 200
    barrier = threading.Barrier(12)
    statuses: list[int] = []

    def ask(app) -> None:
        barrier.wait(timeout=10)
        statuses.append(app.test_client().get(path).status_code)

    pool = [threading.Thread(target=ask, args=(apps[n % 2],)) for n in range(12)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=60)
    assert statuses == [200] * 12
    renders = [app.test_client().get("/healthz").get_json()["cache"]["renders"] for app in apps]
    assert sum(renders) == 1


# -- Redis failing -------------------------------------------------------------------------


def test_redis_stopped_mid_way_answers_locally_then_comes_back(own_redis):
    cache = tiered(own_redis.url, backoff_min=0.2, backoff_max=0.4)
    produce = Producer(0)
    assert cache.fetch("a", produce).body == b"tile"
    own_redis.stop()
    assert cache.fetch("b", produce).body == b"tile"  # the failure: rendered here
    assert cache.fetch("c", produce).body == b"tile"  # backing off: Redis not asked
    shared = cache.stats()["shared"]
    assert shared["errors"] >= 1 and shared["skipped"] >= 1
    assert produce.calls == 3
    own_redis.start()
    deadline = time.monotonic() + 10
    while cache.stats()["shared"]["state"] != "up" and time.monotonic() < deadline:
        cache.fetch(f"probe-{uuid.uuid4()}", produce)
        time.sleep(0.1)
    assert cache.stats()["shared"]["state"] == "up"
    cache.fetch("d", produce)
    assert tiered(own_redis.url).shared.get("d") is not None  # written to Redis again


def test_redis_slow_is_local_only(own_redis):
    cache = tiered(own_redis.url, socket_timeout=0.2, backoff_min=5)
    sleeper = threading.Thread(target=lambda: own_redis.client().execute_command("DEBUG", "SLEEP", "1.5"))
    sleeper.start()
    time.sleep(0.2)
    produce = Producer(0)
    assert cache.fetch("slow", produce).body == b"tile"
    assert produce.calls == 1 and cache.stats()["shared"]["errors"] == 1
    assert cache.fetch("slow-2", produce).body == b"tile"  # not waiting on Redis again
    assert cache.stats()["shared"]["skipped"] >= 1
    sleeper.join(10)


def test_a_dead_lock_owner_delays_the_others_only_the_bounded_wait(redis_url):
    cache = tiered(redis_url, lock_wait=0.5)
    key = f"k-{uuid.uuid4()}"
    # An owner that took the lock and died: the lock stays until its ttl.
    redis.Redis.from_url(redis_url).set(cache.shared._lock_key(key), "dead", px=60_000)
    produce = Producer(0)
    results = fetch_together(cache, key, produce, threads=4)
    assert produce.calls == 1 and {r.body for r in results} == {b"tile"}
    shared = cache.stats()["shared"]
    assert shared["lock_wait"] == 1 and shared["lock_timeout"] == 1


def test_an_expired_lock_is_taken_over(redis_url):
    cache = tiered(redis_url, lock_wait=10)
    key = f"k-{uuid.uuid4()}"
    redis.Redis.from_url(redis_url).set(cache.shared._lock_key(key), "dead", px=300)
    produce = Producer(0)
    assert cache.fetch(key, produce).body == b"tile"
    shared = cache.stats()["shared"]
    assert produce.calls == 1 and shared["lock_acquired"] == 1 and shared["lock_timeout"] == 0


def test_only_the_owner_releases_a_lock(redis_url):
    cache = tiered(redis_url, lock_ttl=0.2)
    key = f"k-{uuid.uuid4()}"
    client = redis.Redis.from_url(redis_url)
    lock = cache.shared._lock_key(key)

    def slow() -> CachedResponse:
        time.sleep(0.4)  # our lock expires meanwhile and another process takes it
        client.set(lock, "other", px=10_000)
        return CachedResponse(b"x", "image/png", "e")

    cache.fetch(key, slow)
    assert client.get(lock) == b"other"


def _render_forever(url: str, key: str) -> None:
    """A process that takes ``key``'s lock and hangs in its render (until it is killed)."""
    tiered(url).fetch(key, lambda: time.sleep(120) or CachedResponse(b"", "image/png", ""))


def test_a_lock_owner_killed_mid_render_delays_the_others_only_the_bounded_wait(redis_url):
    key = f"k-{uuid.uuid4()}"
    cache = tiered(redis_url, lock_wait=1.0)
    owner = multiprocessing.get_context("spawn").Process(target=_render_forever, args=(redis_url, key))
    owner.start()
    client = redis.Redis.from_url(redis_url)
    deadline = time.monotonic() + 60
    while not client.exists(cache.shared._lock_key(key)):
        assert owner.is_alive() and time.monotonic() < deadline
        time.sleep(0.05)
    os.kill(owner.pid, signal.SIGKILL)
    owner.join(10)
    produce = Producer(0)
    assert cache.fetch(key, produce).body == b"tile"
    shared = cache.stats()["shared"]
    assert produce.calls == 1 and shared["lock_wait"] == 1 and shared["lock_timeout"] == 1


def test_a_failed_render_fails_every_waiter_once_and_releases_the_lock(redis_url):
    cache = tiered(redis_url)
    key = f"k-{uuid.uuid4()}"
    calls = []

    def failing() -> CachedResponse:
        calls.append(1)
        time.sleep(0.2)
        raise UpstreamTimeout("the GeoTIFF's server is too slow")

    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def one() -> None:
        barrier.wait(10)
        try:
            cache.fetch(key, failing)
        except UpstreamTimeout as exc:
            errors.append(exc)

    pool = [threading.Thread(target=one) for _ in range(8)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(30)
    assert len(calls) == 1 and len(errors) == 8
    assert not redis.Redis.from_url(redis_url).exists(cache.shared._lock_key(key))
    assert cache.fetch(key, Producer(0)).body == b"tile"  # the next request renders anew
