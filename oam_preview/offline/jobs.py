"""The jobs of ``POST /api/exports``: one directory per job, named by the canonical request.

A job's id is the digest of its canonical request (:meth:`ExportRequest.digest`), so the
same request while its job exists finds that job (idempotent), whichever worker process
or machine answers it. The directory (under ``OAM_PREVIEW_EXPORT_DIR``) holds:

- ``job.json``: the canonical request, the client, when it was made, the file's name;
- ``state.json``: ``queued``, ``running``, ``done`` or ``failed``, tiles done of the total,
  the error of a failed job; replaced whole (``os.replace``), so never read half-written;
- ``input.pickle``: the settings and the catalog records the export reads (a snapshot:
  the worker needs no catalog of its own), written by this package only;
- the package itself, ``export.mbtiles`` or ``export.pmtiles`` (and its sidecar).

Jobs run on the RQ queue ``oam-preview-export`` when ``OAM_PREVIEW_EXPORT_QUEUE`` names one
(``oam-preview worker`` runs them; the directory must be shared with the workers), else in a
spawned local process (``python -m oam_preview.offline.worker DIR [LIFELINE]``). A local process
ends with the server that started it (:mod:`oam_preview.offline.lifeline`): when ``oam-preview serve``
stops, its running jobs are marked ``failed`` (ask again to resume) and exit. A failed job asked
again is run again, resuming its MBTiles. Files expire ``OAM_PREVIEW_EXPORT_TTL`` seconds after the job
finished (or was last heard of).

The store never imports the worker (:mod:`oam_preview.offline.worker`): the web layer that
submits jobs loads no process pool.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..catalog import Image
from ..config import Settings
from ..errors import ExportFailed, ExportsBusy, ExportStorageFull
from .export_queue import QueueUnreachable, enqueue
from .lifeline import inherited
from .request import ExportRequest

STATES = ("queued", "running", "done", "failed")
ACTIVE = ("queued", "running")
JOB_ID = re.compile(r"^[0-9a-f]{32}$")
#: Seconds a client is told to wait before asking again when the limits are reached.
RETRY_AFTER = 30


def default_directory() -> Path:
    return Path(tempfile.gettempdir()) / "oam-preview-exports"


@dataclass(frozen=True)
class Limits:
    """The exports' limits: ``max_tiles`` per job, ``max_jobs`` queued or running in all and
    ``max_client_jobs`` per client, ``max_disk_bytes`` of all the jobs' files, ``ttl`` seconds."""

    max_tiles: int
    max_jobs: int
    max_client_jobs: int
    max_disk_bytes: int
    ttl: float

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(
            settings.export_max_tiles,
            settings.export_max_jobs,
            settings.export_max_client_jobs,
            int(settings.export_max_disk_mb * 1e6),
            settings.export_ttl,
        )


@dataclass(frozen=True)
class JobStatus:
    """A job as its directory says: ``state`` one of :data:`STATES`, tiles ``done`` of ``total``
    (``None`` until the worker planned them), times in seconds since the epoch."""

    id: str
    state: str
    done: int
    total: int | None
    created: float
    updated: float
    expires: float
    client: str
    filename: str
    request: dict[str, Any]
    error: str | None = None
    resumed: int = 0  # tiles done by an earlier run of a job asked again
    private: tuple[str, ...] = ()  # its images private when it was asked: its requester's scope's

    def to_dict(self, url: str) -> dict[str, Any]:
        """The job's JSON (API.md "Exports")."""
        doc: dict[str, Any] = {
            "id": self.id,
            "url": url,
            "state": self.state,
            "progress": {"tiles_done": self.done, "tiles_total": self.total, "tiles_resumed": self.resumed},
            "request": self.request,
            "filename": self.filename,
            "created": _iso(self.created),
            "expires": _iso(self.expires),
        }
        if self.error:
            doc["error"] = self.error
        return doc


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def write_json(path: Path, doc: dict[str, Any]) -> None:
    """Replace ``path`` whole: a reader sees the old document or the new one."""
    part = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    part.write_text(json.dumps(doc))
    os.replace(part, path)


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        doc: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return doc


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, dead but not yet reaped, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def disk_usage(root: Path) -> int:
    """Bytes of every file under ``root``."""
    total = 0
    for directory, _, names in os.walk(root):
        for name in names:
            with contextlib.suppress(OSError):
                total += os.stat(os.path.join(directory, name)).st_size
    return total


class ExportJobs:
    """The job store of one app: submit, look up, expire. ``root``: the jobs' directory."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = Path(settings.export_dir) if settings.export_dir else default_directory()
        self.limits = Limits.of(settings)
        self._children: list[subprocess.Popen[bytes]] = []  # local workers, reaped as we go

    def directory(self, job_id: str) -> Path:
        return self.root / job_id

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One submission at a time, across this machine's processes (limits are counted)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / ".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def status(self, job_id: str) -> JobStatus | None:
        """The job ``job_id``, ``None`` when there is none (or it expired: then it is removed)."""
        self._reap()
        if not JOB_ID.match(job_id):
            return None
        directory = self.directory(job_id)
        job, state = read_json(directory / "job.json"), read_json(directory / "state.json")
        if job is None or state is None:
            return None
        now = time.time()
        if state["state"] in ACTIVE and state.get("pid") and not _alive(int(state["pid"])):
            state = {**state, "state": "failed", "error": "the export's worker process stopped"}
        expires = float(state["updated"]) + self.limits.ttl
        if now > expires:
            shutil.rmtree(directory, ignore_errors=True)
            return None
        return JobStatus(
            id=job_id,
            state=state["state"],
            done=int(state.get("done", 0)),
            total=state.get("total"),
            created=float(job["created"]),
            updated=float(state["updated"]),
            expires=expires,
            client=str(job["client"]),
            filename=str(job["filename"]),
            request=json.loads(job["request"]),
            error=state.get("error"),
            resumed=int(state.get("resumed", 0)),
            private=tuple(job.get("private", ())),
        )

    def jobs(self) -> list[JobStatus]:
        """Every job not expired (the expired ones are removed on the way)."""
        if not self.root.is_dir():
            return []
        found = []
        for entry in os.scandir(self.root):
            if entry.is_dir() and JOB_ID.match(entry.name):
                status = self.status(entry.name)
                if status is not None:
                    found.append(status)
        return found

    def file(self, status: JobStatus) -> Path:
        """The package of a finished job."""
        return self.directory(status.id) / f"export.{status.request['format']}"

    def submit(
        self,
        request: ExportRequest,
        images: Sequence[Image],
        client: str,
        tiles: int,
        name: str,
        private: Sequence[str] = (),
    ) -> tuple[JobStatus, bool]:
        """The job of ``request``: the existing one (not failed), else a new one, queued; whether
        it is new. ``tiles``: how many the request covers (within ``max_tiles``: the caller
        counted them, :func:`oam_preview.offline.coverage.tiles`). :class:`ExportsBusy` and
        :class:`ExportStorageFull` when the limits say no. ``private``: the ids of ``images``
        private now (an API token's scope): the job is another than an anonymous request's, and
        says them (:attr:`JobStatus.private`) so that only a request allowed them fetches it."""
        limits = self.limits
        job_id = request.digest(tuple(private))
        with self._locked():
            jobs = self.jobs()
            existing = next((j for j in jobs if j.id == job_id), None)
            if existing is not None and existing.state != "failed":
                return existing, False
            active = [j for j in jobs if j.state in ACTIVE]
            retry = {"Retry-After": str(RETRY_AFTER)}
            mine = [j for j in active if j.client == client]
            if len(mine) >= limits.max_client_jobs:
                raise ExportsBusy(
                    f"you have {len(mine)} export(s) queued or running, the most a client may at once "
                    f"({limits.max_client_jobs}): try again when one is done",
                    retry,
                )
            if len(active) >= limits.max_jobs:
                raise ExportsBusy(
                    f"{len(active)} exports are queued or running, the most at once ({limits.max_jobs}): "
                    "try again later",
                    retry,
                )
            used = disk_usage(self.root)
            if used >= limits.max_disk_bytes:
                raise ExportStorageFull(
                    f"the exports' files take {used / 1e6:.1f} MB, the limit is "
                    f"{limits.max_disk_bytes / 1e6:.1f} MB: try again when older exports expire",
                    retry,
                )
            directory = self.directory(job_id)
            directory.mkdir(parents=True, exist_ok=True)
            now = time.time()
            filename = f"oam-preview-{name}-{job_id[:8]}.{request.container}"
            job = {"request": request.canonical(), "client": client, "created": now, "filename": filename}
            if private:
                job["private"] = list(private)
            write_json(directory / "job.json", job)
            with (directory / "input.pickle").open("wb") as f:
                pickle.dump((self.settings, request, tuple(images)), f)
            write_json(
                directory / "state.json", {"state": "queued", "done": 0, "total": tiles, "updated": now}
            )
            try:
                self._start(directory)
            except QueueUnreachable as exc:
                # Failed, not queued: a job no queue holds would count against the client's
                # limit until it expired. Asked again, it is queued again.
                state = {"state": "failed", "done": 0, "total": tiles, "updated": now, "error": str(exc)}
                write_json(directory / "state.json", state)
                raise ExportFailed(f"{exc}: POST the same request again", retry) from None
        status = self.status(job_id)
        assert status is not None
        return status, True

    def _start(self, directory: Path) -> None:
        """Run the job: on the RQ queue when one is configured, else in a spawned local process."""
        if self.settings.export_queue:
            enqueue(self.settings.export_queue, directory, self.settings.export_queue_wait)
            return
        log = (directory / "worker.log").open("ab")
        lifeline = inherited()  # under `oam-preview serve`: the job ends with the server
        child = subprocess.Popen(
            [sys.executable, "-m", "oam_preview.offline.worker", str(directory)]
            + ([] if lifeline is None else [str(lifeline)]),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            # Not the server's metrics directory (prometheus-client's variable): the job's tile
            # requests are not the server's, and the server removes the directory when it stops.
            env={k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"},
            pass_fds=() if lifeline is None else (lifeline,),
            # Not in the server's process group: a Ctrl-C to it, or a worker's restart, spares the
            # job; the server's stop reaches it through the lifeline.
            start_new_session=True,
        )
        log.close()
        self._children.append(child)  # it notes its own pid in state.json: no race with its writes

    def _reap(self) -> None:
        self._children = [c for c in self._children if c.poll() is None]
