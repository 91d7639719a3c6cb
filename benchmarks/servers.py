"""The servers under test, run as child processes, and what /proc says of them.

Both are started with the same number of worker processes; their CPU time is
the sum of ``utime + stime`` over the whole process tree (master and workers),
read from ``/proc/<pid>/stat``; memory is each worker's ``VmHWM``/``VmRSS``, and the
whole tree's (master, workers, relays) ``VmRSS`` summed, sampled while a phase runs
(:class:`TreeRss`): what a machine must hold for one server, as an outside harness sees it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.loopback import LOOPBACK_ALLOW
from tests.support.processes import serve_command, wait_for_healthz

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

#: TiTiler's recommended GDAL settings for COGs, except CPL_VSIL_CURL_ALLOWED_EXTENSIONS
#: (it would break URLs with query strings, so no fair deployment of either server uses it).
TITILER_ENV = {
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
    "GDAL_HTTP_MULTIPLEX": "YES",
    "GDAL_HTTP_VERSION": "2",
    "VSI_CACHE": "TRUE",
    "VSI_CACHE_SIZE": "5000000",
    "GDAL_CACHEMAX": "200",
}


def children(pid: int) -> list[int]:
    """Every descendant of ``pid`` (from ``/proc/*/stat``'s parent ids)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


RELAY_MODULE = "oam_preview.remote.egress"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process so far (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def memory_kb(pid: int, key: str, source: str = "status") -> int:
    """``VmRSS`` or ``VmHWM`` (peak RSS) of a process, kB; ``Pss`` from ``smaps_rollup``."""
    try:
        for line in Path(f"/proc/{pid}/{source}").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass
class Server:
    """A server under test: its name, base URL, how to form URLs, and its process."""

    name: str
    base: str
    process: subprocess.Popen[bytes]
    tile_url: str  # format string with {z} {x} {y} {fmt} {image}
    thumb_url: str  # format string with {image} {fmt} {size}
    images: dict[str, str] = field(default_factory=dict)  # role -> id (oam) or file URL (titiler)

    def tree(self) -> list[int]:
        return [self.process.pid, *children(self.process.pid)]

    def workers(self) -> list[int]:
        """The worker processes (those that hold GDAL): the master's descendants but the relays."""
        relays = set(self.relays())
        return [pid for pid in children(self.process.pid) if pid not in relays]

    def relays(self) -> list[int]:
        """oam-preview's upstream-policy relay processes (``oam_preview.remote.egress``), one per worker."""
        return [pid for pid in children(self.process.pid) if RELAY_MODULE in _cmdline(pid)]

    def relay_rss_mb(self) -> float:
        """The relays' RSS together, MB (their CPU counts in :meth:`cpu`, the whole tree's)."""
        return sum(memory_kb(pid, "VmRSS") for pid in self.relays()) / 1024

    def cpu(self) -> float:
        """CPU seconds of the whole tree so far."""
        return sum(cpu_seconds(pid) for pid in self.tree())

    def worker_cpu(self) -> dict[int, float]:
        return {pid: cpu_seconds(pid) for pid in self.workers()}

    def peak_rss_mb(self) -> float:
        """Largest peak RSS of one worker, MB."""
        return max((memory_kb(pid, "VmHWM") for pid in self.workers()), default=0) / 1024

    def rss_mb(self) -> dict[int, float]:
        return {pid: memory_kb(pid, "VmRSS") / 1024 for pid in self.workers()}

    def tree_rss_mb(self, pids: list[int] | None = None) -> float:
        """RSS of the whole tree (master, workers, relays) summed, MB: pages shared after the
        fork count once per process, as ``ps`` and an outside harness count them."""
        return sum(memory_kb(pid, "VmRSS") for pid in pids or self.tree()) / 1024

    def url(self, role: str, z: int, x: int, y: int, fmt: str = "png") -> str:
        return self.base + self.tile_url.format(image=self.images[role], z=z, x=x, y=y, fmt=fmt)

    def thumbnail(self, role: str, fmt: str = "png", size: int = 256) -> str:
        return self.base + self.thumb_url.format(image=self.images[role], fmt=fmt, size=size)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                for pid in self.tree():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                self.process.wait()


class TreeRss:
    """The peak of a server's tree RSS (:meth:`Server.tree_rss_mb`) while the ``with`` block runs,
    sampled every ``every`` seconds on a thread (the tree's pids listed again each second, so a
    worker forked meanwhile counts)."""

    def __init__(self, server: Server, every: float = 0.2) -> None:
        self.server, self.every = server, every
        self.peak_mb = self.pss_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="tree-rss", daemon=True)

    def __enter__(self) -> TreeRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        # Proportional set size: a page shared by n processes counts 1/n in each (the memory
        # the tree really holds; read once, at the end: the kernel walks every page for it).
        self.pss_mb = sum(memory_kb(pid, "Pss", "smaps_rollup") for pid in self.server.tree()) / 1024

    def _sample(self) -> None:
        pids, listed = self.server.tree(), time.monotonic()
        while True:
            if time.monotonic() - listed > 1.0:
                pids, listed = self.server.tree(), time.monotonic()
            self.peak_mb = max(self.peak_mb, self.server.tree_rss_mb(pids))
            if self._stop.wait(self.every):
                self.peak_mb = max(self.peak_mb, self.server.tree_rss_mb())
                return


def wait_workers(server: Server, count: int, timeout: float = 30) -> None:
    """Wait until ``count`` worker processes exist (uvicorn and gunicorn fork them after binding)."""
    deadline = time.monotonic() + timeout
    while len(server.workers()) < count and time.monotonic() < deadline:
        time.sleep(0.1)


def _launch(
    name: str, argv: list[str], env: dict[str, str], port: int, workers: int, routes: tuple[str, str],
    images: dict[str, str], log: Path,
) -> Server:  # fmt: skip
    """Start a server process (stderr to ``log``), wait for ``/healthz`` and for all ``workers``.

    ``routes`` are its tile and thumbnail URL templates, ``images`` what each
    benchmark image is called there.
    """
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=log.open("wb"))
    base = f"http://127.0.0.1:{port}"
    wait_for_healthz(base, process)
    server = Server(name, base, process, *routes, images)
    wait_workers(server, workers)
    return server


def start_oam_preview(
    catalog: Path, port: int, workers: int, threads: int, ids: dict[str, str], log: Path
) -> Server:
    """``python -m oam_preview.cli serve`` with ``workers`` gthread processes of ``threads`` threads; stderr to ``log``."""
    # The benchmark's upstream is its own file server on loopback, which the upstream policy
    # refuses by default: allowed explicitly, as the tests and the demo do.
    env = {**os.environ, "OAM_PREVIEW_BASEMAP_URL": "", "OAM_PREVIEW_UPSTREAM_ALLOW": LOOPBACK_ALLOW}
    routes = (
        "/api/images/{image}/tiles/{z}/{x}/{y}.{fmt}",
        "/api/images/{image}/thumbnail.{fmt}?max_size={size}",
    )
    argv = serve_command(str(catalog), port, workers, threads)
    return _launch("oam-preview", argv, env, port, workers, routes, ids, log)


def start_titiler(port: int, workers: int, urls: dict[str, str], log: Path) -> Server:
    """TiTiler's application under uvicorn with ``workers`` processes and its recommended GDAL env; stderr to ``log``."""
    env = {**os.environ, **TITILER_ENV}
    env.pop("CPL_VSIL_CURL_ALLOWED_EXTENSIONS", None)
    routes = (
        "/cog/tiles/WebMercatorQuad/{z}/{x}/{y}.{fmt}?url={image}",
        "/cog/preview.{fmt}?url={image}&max_size={size}",
    )
    argv = [
        sys.executable, "-m", "uvicorn", "titiler.application.main:app", "--host", "127.0.0.1",
        "--port", str(port), "--workers", str(workers), "--log-level", "warning",
    ]  # fmt: skip
    return _launch("titiler", argv, env, port, workers, routes, urls, log)
