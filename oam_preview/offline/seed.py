"""``oam-preview seed``: warm the shared cache with the tiles of chosen images, resumably.

Every tile is asked of the tile routes' own functions (:class:`~oam_preview.offline.renderer.TileRenderer`
in each seeding process), so it goes through the same render path, cache keys and
render-once lock as a request to the server, and lands in the Redis cache that the
server's workers read. A tile answered with pixels or a 404 (nothing there) is marked
done in Redis: a set per image, format and size, expiring with the cache; a seed run
again skips what is done (``--force``: not). More than one process: the runner's pool
(:mod:`oam_preview.offline.runner`); across machines, an RQ queue.
"""

from __future__ import annotations

import functools
import hashlib
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..catalog.query import ImageQuery
from ..config import Settings
from ..errors import OamPreviewError
from ..tiler.renders import Asked
from ..tiler.tile_bodies import TileBody
from .coverage import Tile, covered
from .renderer import TileRenderer
from .request import ExportRequest
from .runner import Outcome, batches
from .runner import run as run_tasks

DONE_PREFIX = "oam-preview:seed:v1:"
QUEUE = "oam-preview-seed"
QUEUE_BATCH = 256  # tiles per queued job: each job runs in a freshly spawned process

Plan = list[tuple["Job", str, list[Tile]]]  # each job, its done key, its pending tiles


@dataclass(frozen=True)
class Job:
    """Tiles of one image, or of the mosaic of a query (``mosaic``: its query string, the
    listing's filters and ``order``, and the rendering parameters), to seed: ``fmt`` (png, jpg,
    webp, auto), ``size`` 256 or 512 px."""

    image_id: str
    fmt: str = "png"
    size: int = 256
    mosaic: str | None = None

    def look(self) -> tuple[ImageQuery | None, Asked]:
        """The mosaic's selection (``None`` for one image) and the look asked, as the tile route
        reads its query; :class:`BadRequest` for a bad one."""
        if self.mosaic is None:
            return None, Asked()
        values: dict[str, list[str]] = {}
        for name, value in urllib.parse.parse_qsl(self.mosaic, keep_blank_values=True):
            values.setdefault(name, []).append(value)
        last = {name: texts[-1] for name, texts in values.items()}
        return ImageQuery.from_args(last, default_order="newest"), Asked.from_values(values)


def done_key(job: Job, source_url: str) -> str:
    digest = hashlib.blake2b(f"{job.image_id}|{source_url}|{job.fmt}|{job.size}".encode(), digest_size=16)
    return DONE_PREFIX + digest.hexdigest()


class Seeder:
    """The tile functions and the Redis client of one seeding process."""

    def __init__(self, settings: Settings) -> None:
        import redis

        self.settings = settings
        self.renderer = TileRenderer(settings)
        self.redis = redis.Redis.from_url(settings.cache_url, socket_timeout=5)

    def describe(self, job: Job) -> dict[str, Any]:
        """The job's TileJSON (bounds, zooms) and ``source_url``, what its done markers are
        keyed by (the mosaic's: its canonical query and look); ``LookupError`` when unusable."""
        try:
            query, asked = job.look()
            if query is None:
                request = ExportRequest(ids=(job.image_id,))
                source_url = self.renderer.find(job.image_id).source_url
            else:
                self.renderer.wait_for_footprints()
                request = ExportRequest(mosaic=query, render=asked.render)
                look = urllib.parse.urlencode([*query.to_args().items(), ("render", asked.render or "")])
                source_url = f"mosaic?{look}&{asked.key()}"
            found = self.renderer.within_deadline(
                functools.partial(covered, self.renderer, request, self.renderer.find, self.renderer.allowed)
            )
        except OamPreviewError as exc:
            raise LookupError(f"{job.mosaic or job.image_id}: {exc.status} {exc.message}") from None
        return {**found.doc, "source_url": source_url}

    def pending(self, key: str, batch: list[Tile]) -> list[Tile]:
        """The tiles of ``batch`` not marked done under ``key``."""
        members = [f"{z}/{x}/{y}" for z, x, y in batch]
        done = self.redis.smismember(key, members)
        return [t for t, is_done in zip(batch, done, strict=True) if not is_done]

    def draw(self, job: Job, tile: Tile) -> TileBody:
        """Tile ``z/x/y`` of ``job``, as its tile route draws it."""
        query, asked = job.look()
        if query is None:
            return self.renderer.image_tile(job.image_id, asked, tile, job.size, job.fmt)
        return self.renderer.mosaic_tile(query, asked, tile, job.size, job.fmt)

    def run(self, job: Job, key: str, batch: list[Tile]) -> Outcome:
        """Ask for every tile of ``batch``; mark the ones answered with pixels or a 404 done."""
        outcome, done = Outcome(), []
        for z, x, y in batch:
            answer = self.renderer.attempt(functools.partial(self.draw, job, (z, x, y)))
            if isinstance(answer, bytes):
                outcome += Outcome(stored=1)
            elif isinstance(answer, OamPreviewError) and answer.status == 404:
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

    def __call__(self, task: tuple[Job, str, list[Tile]]) -> tuple[int, Outcome]:
        job, key, batch = task
        return len(batch), self.run(job, key, batch)


def seed(
    settings: Settings,
    plan: Plan,
    processes: int,
    progress: Callable[[int], None] = lambda n: None,
    here: Seeder | None = None,
) -> Outcome:
    """Run ``plan`` (job, done key, pending tiles) with ``here`` (this process's seeder) or
    in a pool of ``processes`` spawned ones; ``progress(n)`` after every ``n`` tiles."""
    tasks = [(job, key, batch) for job, key, pending in plan for batch in batches(pending)]
    total = Outcome()
    for n, outcome in run_tasks(tasks, processes, functools.partial(Seeder, settings), here):
        total += outcome
        progress(n)
    return total


# -- across machines: RQ (Redis Queue) ------------------------------------------------------


def enqueue(queue_url: str, settings: Settings, plan: Plan) -> int:
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


_SEEDER: Seeder | None = None  # one per RQ work horse


def queued(settings: Settings, job: Job, key: str, batch: list[Tile]) -> dict[str, int]:
    """One queued job, in an RQ work horse: seed ``batch``; what became of its tiles."""
    global _SEEDER
    if _SEEDER is None:
        _SEEDER = Seeder(settings)
    outcome = _SEEDER.run(job, key, batch)
    return {"rendered": outcome.stored, "empty": outcome.empty, "failed": outcome.failed}


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
