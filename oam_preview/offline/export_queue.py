"""An export job put on its RQ queue (``OAM_PREVIEW_EXPORT_QUEUE``), riding out a Redis that is
down for a moment: :func:`enqueue`. The job store (:mod:`.jobs`) calls it; ``oam-preview worker``
runs what it queued (:func:`oam_preview.offline.worker.run`)."""

from __future__ import annotations

import math
import time
from pathlib import Path

from .. import deadline

QUEUE = "oam-preview-export"
#: What a queued job runs (:func:`oam_preview.offline.worker.run`), by name: not imported here.
RUN = "oam_preview.offline.worker.run"
#: Seconds between a submission's tries of an unreachable queue: doubling from the first to the most.
RETRY_FIRST, RETRY_MAX = 0.1, 1.0
#: Seconds a submission's connection to the queue may take.
CONNECT_TIMEOUT = 2.0
#: Seconds of the request's time a submission keeps for its answer after its last try.
ANSWER_MARGIN = 1.0


class QueueUnreachable(Exception):
    """The RQ queue of ``OAM_PREVIEW_EXPORT_QUEUE`` did not take a job (its Redis is down)."""


def enqueue(queue_url: str, directory: Path, wait: float) -> None:
    """The job in ``directory`` put on the queue at ``queue_url`` (``redis://…``), tried again for
    ``wait`` seconds (at most the time the request has left, less :data:`ANSWER_MARGIN`) while
    the queue cannot be reached; :class:`QueueUnreachable` past that."""
    from redis import Redis
    from redis.exceptions import RedisError
    from rq import Queue

    # A host that does not answer at all must not hold the request past its wait either.
    queue = Queue(QUEUE, connection=Redis.from_url(queue_url, socket_connect_timeout=CONNECT_TIMEOUT))
    # A queue down for a moment (Redis restarting, failing over) is waited for, a while: the
    # submission is not lost to a blip. Past that, the 502 that says to ask again.
    # The request's own time, not capped by ``wait``: capped, half of it was half of ``wait``
    # (3 s of the 6), shorter than a Redis restart (the 1 h soak: one 502, Redis down 5.1 s).
    left = deadline.remaining(math.inf) - ANSWER_MARGIN
    give_up, pause = time.monotonic() + min(wait, left), RETRY_FIRST
    while True:
        try:
            queue.enqueue(RUN, str(directory), job_timeout=86400, result_ttl=3600)
            return
        except RedisError as exc:
            left = give_up - time.monotonic()
            if left <= 0:
                raise QueueUnreachable(
                    f"the export queue could not be reached ({type(exc).__name__})"
                ) from exc
            time.sleep(min(pause, left))
            pause = min(pause * 2, RETRY_MAX)
