"""``oam-preview seed``: warm the shared cache with the tiles of chosen images, resumably.

Every tile is asked of the app itself (a Flask test client in each seeding
process), so it goes through the same route, render path, cache keys and
render-once lock as a request to the server, and lands in the Redis cache
that the server's workers read. A tile answered 200 or 404 (nothing there)
is marked done in Redis: a set per image, format and size, expiring with the
cache; a seed run again skips what is done (``--force``: not).

More than one process: a pool of *spawned* processes (never forked: GDAL
must not be inherited half-initialised), each with its own app.
"""

from __future__ import annotations

import hashlib
import multiprocessing
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from .config import Settings
from .geo.tiles import TMS
from .local_app import LocalApp

DONE_PREFIX = "oam-preview:seed:v1:"
BATCH = 32  # tiles per task handed to a process, and per done-marker round trip


@dataclass(frozen=True)
class Job:
    """Tiles of one image, or of the mosaic of a query (``mosaic``: its query string, the
    listing's filters and ``order``), to seed: ``fmt`` (png, jpg, webp, auto), ``size`` 256 or 512 px."""

    image_id: str
    fmt: str = "png"
    size: int = 256
    mosaic: str | None = None

    @property
    def base(self) -> str:
        return "/api/mosaic" if self.mosaic is not None else f"/api/images/{self.image_id}"

    def path(self, z: int, x: int, y: int) -> str:
        """The tile's URL path, relative to the blueprint's root."""
        suffix = "@2x" if self.size == 512 else ""
        query = f"?{self.mosaic}" if self.mosaic else ""
        return f"{self.base}/tiles/{z}/{x}/{y}{suffix}.{self.fmt}{query}"


@dataclass(frozen=True)
class Outcome:
    rendered: int = 0  # 200: now in the cache
    empty: int = 0  # 404: outside the image, nothing to cache
    failed: int = 0  # anything else: not marked done, a later run tries again

    def __add__(self, other: Outcome) -> Outcome:
        return Outcome(self.rendered + other.rendered, self.empty + other.empty, self.failed + other.failed)


def tiles(bounds: tuple[float, float, float, float], zooms: Iterable[int]) -> Iterator[tuple[int, int, int]]:
    """XYZ tiles covering ``bounds`` (west, south, east, north in EPSG:4326 degrees) at ``zooms``."""
    w, s, e, n = bounds
    for tile in TMS.tiles(w, s, e, n, list(zooms)):
        yield tile.z, tile.x, tile.y


def intersect(a: tuple[float, ...], b: tuple[float, ...] | None) -> tuple[float, float, float, float] | None:
    """The overlap of two west, south, east, north boxes (``b`` None: ``a``); None when disjoint."""
    if b is None:
        return (a[0], a[1], a[2], a[3])
    w, s, e, n = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    return (w, s, e, n) if w < e and s < n else None


def done_key(job: Job, source_url: str) -> str:
    digest = hashlib.blake2b(f"{job.image_id}|{source_url}|{job.fmt}|{job.size}".encode(), digest_size=16)
    return DONE_PREFIX + digest.hexdigest()


class Seeder(LocalApp):
    """The app and the Redis client of one seeding process."""

    def __init__(self, settings: Settings) -> None:
        import redis

        super().__init__(settings)
        self.redis = redis.Redis.from_url(settings.cache_url, socket_timeout=5)

    def describe(self, job: Job) -> dict[str, Any]:
        """The job's TileJSON (bounds, zooms) and ``source_url``, what its done markers are
        keyed by (the mosaic's: its canonical tile URL); ``LookupError`` when unusable."""
        query = f"?{job.mosaic}" if job.mosaic else ""
        if job.mosaic is not None:
            self.wait_for_footprints()
        answer = self.client.get(f"{job.base}/tilejson.json{query}")
        if answer.status_code != 200:
            raise LookupError(f"{job.base}: {answer.status_code} {answer.get_data(as_text=True)[:200]}")
        doc = answer.get_json()
        if job.mosaic is not None:
            return {**doc, "source_url": doc["tiles"][0]}
        feature = self.client.get(job.base).get_json()
        return {**doc, "source_url": feature["properties"]["source_url"]}

    def pending(self, key: str, batch: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
        """The tiles of ``batch`` not marked done under ``key``."""
        members = [f"{z}/{x}/{y}" for z, x, y in batch]
        done = self.redis.smismember(key, members)
        return [t for t, is_done in zip(batch, done, strict=True) if not is_done]

    def run(self, job: Job, key: str, batch: list[tuple[int, int, int]]) -> Outcome:
        """Ask for every tile of ``batch``; mark the ones answered 200 or 404 done."""
        outcome, done = Outcome(), []
        for z, x, y in batch:
            status = self.client.get(job.path(z, x, y)).status_code
            if status == 200:
                outcome += Outcome(rendered=1)
            elif status == 404:
                outcome += Outcome(empty=1)
            else:
                outcome += Outcome(failed=1)
                continue
            done.append(f"{z}/{x}/{y}")
        if done:
            pipe = self.redis.pipeline()
            pipe.sadd(key, *done)
            pipe.expire(key, max(1, round(self.settings.cache_ttl)))
            pipe.execute()
        return outcome


_SEEDER: Seeder | None = None  # one per pool process


def _init(settings: Settings) -> None:
    global _SEEDER
    _SEEDER = Seeder(settings)


def _task(args: tuple[Job, str, list[tuple[int, int, int]]]) -> tuple[int, Outcome]:
    assert _SEEDER is not None
    job, key, batch = args
    return len(batch), _SEEDER.run(job, key, batch)


def batches(items: Iterable[tuple[int, int, int]], size: int = BATCH) -> Iterator[list[tuple[int, int, int]]]:
    batch: list[tuple[int, int, int]] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def seed(
    settings: Settings,
    plan: list[tuple[Job, str, list[tuple[int, int, int]]]],
    processes: int,
    progress: Callable[[int], None] = lambda n: None,
    here: Seeder | None = None,
) -> Outcome:
    """Run ``plan`` (job, done key, pending tiles) with ``here`` (this process's seeder) or
    in a pool of ``processes`` spawned ones; ``progress(n)`` after every ``n`` tiles."""
    tasks = [(job, key, batch) for job, key, pending in plan for batch in batches(pending)]
    total = Outcome()
    if processes <= 1:
        seeder = here or Seeder(settings)
        for job, key, batch in tasks:
            total += seeder.run(job, key, batch)
            progress(len(batch))
        return total
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes, initializer=_init, initargs=(settings,)) as pool:
        for n, outcome in pool.imap_unordered(_task, tasks):
            total += outcome
            progress(n)
    return total


# -- across machines: RQ (Redis Queue) ------------------------------------------------------

QUEUE = "oam-preview-seed"
QUEUE_BATCH = 256  # tiles per queued job: each job runs in a freshly spawned process


def enqueue(
    queue_url: str, settings: Settings, plan: list[tuple[Job, str, list[tuple[int, int, int]]]]
) -> int:
    """Put ``plan`` on the RQ queue at ``queue_url`` as jobs for ``oam-preview worker``; their count.

    The jobs carry ``settings``: the catalog and cache URL must be reachable from the workers.
    """
    from redis import Redis
    from rq import Queue

    queue = Queue(QUEUE, connection=Redis.from_url(queue_url))
    jobs = [
        Queue.prepare_data(queued, (settings, job, key, batch), timeout=3600, result_ttl=86400)
        for job, key, pending in plan
        for batch in batches(pending, QUEUE_BATCH)
    ]
    queue.enqueue_many(jobs)
    return len(jobs)


def queued(settings: Settings, job: Job, key: str, batch: list[tuple[int, int, int]]) -> dict[str, int]:
    """One queued job, in an RQ work horse: seed ``batch``; what became of its tiles."""
    global _SEEDER
    if _SEEDER is None:
        _SEEDER = Seeder(settings)
    outcome = _SEEDER.run(job, key, batch)
    return {"rendered": outcome.rendered, "empty": outcome.empty, "failed": outcome.failed}


def work(queue_url: str, burst: bool, names: Sequence[str] = (QUEUE,)) -> None:
    """Run the jobs of the queues ``names`` (seeding's; ``oam-preview worker`` adds the exports'):
    RQ's spawning worker (a new process per job, never a fork of a process that has loaded
    GDAL). ``burst``: stop when the queues are empty."""
    from redis import Redis
    from rq import Queue
    from rq.worker import SpawnWorker

    connection = Redis.from_url(queue_url)
    queues = [Queue(name, connection=connection) for name in names]
    SpawnWorker(queues, connection=connection).work(burst=burst)
