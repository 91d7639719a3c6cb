"""Soak and chaos: the fleet under mixed traffic for a chosen time while parts of it are broken.

    .venv/bin/python -m benchmarks.soak [--minutes 60] [--clients 6] [--out DIR] [--strict] [--publish]
    make soak MINUTES=60

Starts on loopback, the way ``tests/fleet/`` does (its helpers, ``tests/support/fleet.py``): an origin
serving the GeoTIFFs with Range (the fault server of ``tests/support/fault_server.py``, whose
faults are switched at run time), a file server for the catalog document (the
instances read it by URL and refresh it), redis-server (the shared response
cache, db 0, and the RQ export queue, db 1), two ``oam-preview serve``
instances (gunicorn, 2 workers x 4 threads), an RQ worker
(``oam-preview worker``) that runs the exports, and the front nginx rendered
from ``deploy/nginx/oam-preview.conf.template``.

Client threads (moderate: each pauses between requests) then ask the front for
image tiles with rendering options (``rescale``, ``colormap_name``,
``expression``, ``bidx``), mosaic tiles, footprint vector tiles, the catalog
(listings, Features, TileJSON) and the versioned tile URLs of a Feature; one
more thread runs exports (submit, poll, download). The catalog document is
rewritten now and then (a record comes and goes), so the instances' refreshes
parse new versions. Meanwhile, at fixed fractions of the run, the chaos:

- ``kill_worker``: SIGKILL of one gunicorn worker (its master forks another);
- ``redis_restart``: redis-server stopped, down a few seconds, started again;
- ``upstream_stall``: the origin reads requests and answers nothing (about 30 s);
- ``replace_file``: a GeoTIFF replaced at the origin, new bytes under the same URL:
  the versioned URLs must change and show the new pixels on every instance.

Every few seconds ``/proc`` is sampled for every process of the run (RSS, open
file descriptors, CPU), and which processes ever belonged to it is kept, so a
process left behind at the end is named. The report: success rate and
p50/p95/p99 per phase (each chaos phase is its event plus a settling time;
the upstream stall apart, as its failures are deliberate), worker RSS and
FDs over time, relay and job process counts, and the targets, met or not:
100 % success outside the stall; RSS and FD growth under 5 % over the last
half (least-squares slope of the workers' sums); no process left. It writes
``requests.csv``, ``samples.csv``, ``summary.json`` and ``soak.png`` to the
output directory (``benchmarks/results/soak-<stamp>/`` by default);
``--publish`` copies the chart to ``docs/soak.png``. The exit status is
non-zero when a target is missed only with ``--strict``.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tests.support.loopback import LOOPBACK_ALLOW

# The instances read the origin and the catalog on loopback: allowed explicitly; children inherit it.
os.environ.setdefault("OAM_PREVIEW_UPSTREAM_ALLOW", LOOPBACK_ALLOW)

from oam_preview.config import Settings
from oam_preview.geo.tiles import TMS
from tests.support.fault_server import FaultServer
from tests.support.fileserver import FileServer
from tests.support.fleet import Nginx, front, nginx_binary
from tests.support.geotiffs import GEOTIFFS, write_cog
from tests.support.load_harness import Server, children
from tests.support.processes import free_port, stop_process
from tests.support.redis_server import RedisServer

REPO = Path(__file__).resolve().parents[1]

RESULTS = REPO / "benchmarks" / "results"
SEED = 30
#: The synthetic COGs (4096 px a side, 0.6 m over Kathmandu): id -> seed of their pixels.
SYNTHETIC = {"soak_a": 0, "soak_b": 1, "replaced": 2}
#: Seed of the pixels that replace ``replaced`` at the origin.
REPLACEMENT_SEED = 99
#: The test GeoTIFFs also served (id = file stem), and the rendering options each may take.
TEST_IMAGES = ("cogeo", "cog_cmap", "rgb_uint16", "dem", "cog_dateline")
#: Rendering options of the image tiles, by image kind (uint8 RGB, other types need a rescale).
RGB_OPTIONS = (
    "",
    "bidx=3,2,1",
    "bidx=1&colormap_name=viridis",
    "rescale=20,220",
    "expression=b3;b2;b1",
    "expression=(b1-b2)/(b1%2Bb2)&rescale=-1,1&colormap_name=rdylgn",
)
OPTIONS = {
    "rgb": RGB_OPTIONS,
    "rgb_uint16": ("", "rescale=0,4000", "bidx=1&rescale=0,4000&colormap_name=magma"),
    "dem": ("", "rescale=1000,3000&colormap_name=terrain"),
    "cog_dateline": ("", "rescale=0,5000"),
    "cog_cmap": ("",),
}
#: The instances' settings beyond the fleet's (seconds): the catalog refreshed and files rechecked often.
CATALOG_TTL = 10
RECHECK = 5
#: Client request timeout, seconds (the front gives up on an instance after 30).
TIMEOUT = 60.0
#: Seconds an export may take from submission to its file before it counts as failed.
EXPORT_DEADLINE = 180.0


# -- requests and what came back ---------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """One request of a client: ``t`` seconds since the start (when it was sent), the status
    (0: no HTTP answer), the time to the last body byte in ms, and what went wrong; ``since``:
    when the action it belongs to began (an export's submission, for its polls), else ``t``."""

    t: float
    kind: str
    status: int
    ms: float
    ok: bool
    error: str = ""
    since: float | None = None


class Log:
    """The answers of every client, thread-safe; ``origin`` is the run's time 0 (monotonic)."""

    def __init__(self, origin: float) -> None:
        self.origin = origin
        self.answers: list[Answer] = []
        self.lock = threading.Lock()

    def now(self) -> float:
        return time.monotonic() - self.origin

    def add(self, answer: Answer) -> None:
        with self.lock:
            self.answers.append(answer)


def fetch(
    url: str, method: str = "GET", body: bytes | None = None, timeout: float = TIMEOUT
) -> tuple[int, bytes, dict[str, str]]:
    """One HTTP request; ``(status, body, headers)``, status 0 when no HTTP answer came."""
    request = urllib.request.Request(url, data=body, method=method)
    if body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:  # noqa: S310 (loopback)
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)
    except (OSError, urllib.error.URLError) as exc:
        return 0, str(exc).encode(), {}


def ask(
    log: Log,
    kind: str,
    url: str,
    ok: tuple[int, ...] = (200,),
    method: str = "GET",
    body: bytes | None = None,
    since: float | None = None,
) -> tuple[int, bytes, dict[str, str]]:
    """:func:`fetch`, its answer logged (``ok``: the statuses that count as a success)."""
    t = log.now()
    started = time.perf_counter()
    status, data, headers = fetch(url, method, body)
    ms = (time.perf_counter() - started) * 1000
    error = "" if status in ok else f"{status} {data[:160].decode(errors='replace')}"
    log.add(Answer(round(t, 3), kind, status, round(ms, 1), status in ok, error, since))
    return status, data, headers


# -- the fleet ----------------------------------------------------------------------------------


def image_bounds(path: Path) -> tuple[float, float, float, float]:
    """The image's bounds in EPSG:4326 degrees (west, south, east, north)."""
    import rasterio
    from rasterio.warp import transform_bounds

    with rasterio.open(path) as ds:
        w, s, e, n = transform_bounds(ds.crs, "EPSG:4326", *ds.bounds, densify_pts=21)
    return w, s, e, n


def catalog_features(origin: str, bounds: dict[str, tuple[float, float, float, float]]) -> list[dict]:
    """GeoJSON Features of the served images, footprints and dates given (no header reads needed)."""
    features = []
    for n, (image, (w, s, e, n_)) in enumerate(sorted(bounds.items())):
        ring = [[w, s], [e, s], [e, n_], [w, n_], [w, s]] if w <= e else None
        features.append(
            {
                "type": "Feature",
                "id": image,
                "geometry": {"type": "Polygon", "coordinates": [ring]} if ring else None,
                "bbox": [w, s, e, n_],
                "properties": {
                    "title": f"Soak image {image}",
                    "source_url": f"{origin}/{image}.tif",
                    "provider": "soak",
                    "license": "CC0-1.0",
                    "acquisition_start": f"2024-01-{n + 1:02d}",
                    "acquisition_end": f"2024-01-{n + 1:02d}",
                    **({"gsd": 0.6} if image in SYNTHETIC else {}),
                },
            }
        )
    return features


@dataclass
class Fleet:
    """The parts of the soak (module doc), all on 127.0.0.1, everything inside ``directory``."""

    directory: Path
    workers: int = 2
    threads: int = 4
    origin: FaultServer = field(init=False)
    catalog_server: FileServer = field(init=False)
    redis: RedisServer = field(init=False)
    servers: list[Server] = field(init=False, default_factory=list)
    queue_worker: subprocess.Popen[bytes] | None = field(init=False, default=None)
    front: Nginx = field(init=False)
    bounds: dict[str, tuple[float, float, float, float]] = field(init=False, default_factory=dict)
    catalog_version: int = field(init=False, default=0)
    queue_worker_starts: int = field(init=False, default=0)

    def start(self) -> Fleet:
        tiffs = self.directory / "tiffs"
        tiffs.mkdir(parents=True)
        for image in TEST_IMAGES:
            shutil.copy(GEOTIFFS / f"{image}.tif", tiffs / f"{image}.tif")
        for image, seed in SYNTHETIC.items():
            write_cog(tiffs / f"{image}.tif", 4096, 4096, seed=seed)
        # The replacement is written now (seconds of CPU), moved in place by the chaos phase.
        self.replacement = write_cog(self.directory / "replacement.tif", 4096, 4096, seed=REPLACEMENT_SEED)
        self.tiffs = tiffs
        self.bounds = {p.stem: image_bounds(p) for p in sorted(tiffs.glob("*.tif"))}
        self.origin = FaultServer(tiffs)
        self.origin.start()
        catalogs = self.directory / "catalog"
        catalogs.mkdir()
        self.catalog_path = catalogs / "catalog.json"
        self.rotate_catalog()
        self.catalog_server = FileServer(catalogs).start()
        redis_dir = self.directory / "redis"
        redis_dir.mkdir()
        self.redis = RedisServer(free_port(), redis_dir).start()
        self.export_dir = self.directory / "exports"
        env = {
            "OAM_PREVIEW_CACHE_URL": self.redis.url,
            "OAM_PREVIEW_EXPORT_QUEUE": self.queue_url,
            "OAM_PREVIEW_EXPORT_DIR": str(self.export_dir),
            "OAM_PREVIEW_TRUSTED_PROXIES": "1",
            "OAM_PREVIEW_CATALOG_TTL": str(CATALOG_TTL),
            "OAM_PREVIEW_UPSTREAM_RECHECK": str(RECHECK),
        }
        self.env = env
        self.servers = [
            Server(
                f"{self.catalog_server.url}/catalog.json",
                free_port(),
                self.workers,
                self.threads,
                env={**env, "PROMETHEUS_MULTIPROC_DIR": str(self.directory / f"metrics-{n}")},
            )
            for n in range(2)
        ]
        starting = [threading.Thread(target=s.start) for s in self.servers]
        for t in starting:
            t.start()
        for t in starting:
            t.join(120)
        if any(s.process is None for s in self.servers):
            raise RuntimeError("an oam-preview instance did not start")
        self.start_queue_worker()
        backends = [s.url.removeprefix("http://") for s in self.servers]
        self.front = front(self.directory / "front", free_port(), backends).start()
        return self

    @property
    def queue_url(self) -> str:
        return self.redis.url.removesuffix("/0") + "/1"

    def start_queue_worker(self) -> None:
        """``oam-preview worker`` on the export queue (again, if it exited: as systemd would)."""
        self.queue_worker = subprocess.Popen(
            [sys.executable, "-m", "oam_preview.cli", "worker", "--queue", self.queue_url],
            env={**os.environ, **self.env},
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=(self.directory / "queue-worker.log").open("ab"),
        )
        self.queue_worker_starts += 1

    def supervise(self) -> None:
        """Restart the queue worker if it exited (its restarts are reported)."""
        if self.queue_worker is not None and self.queue_worker.poll() is not None:
            self.start_queue_worker()

    def rotate_catalog(self) -> None:
        """Write the next version of the catalog document: every image, and every other
        version a record more (``rotating``, the bytes of ``cogeo`` under another id)."""
        features = catalog_features(self.origin.url, self.bounds)
        if self.catalog_version % 2:
            extra = dict(features[[f["id"] for f in features].index("cogeo")])
            features.append({**extra, "id": "rotating", "properties": {**extra["properties"], "title": "R"}})
        part = self.catalog_path.with_suffix(".part")
        part.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
        os.replace(part, self.catalog_path)
        self.catalog_version += 1

    def stop(self) -> None:
        parts: list[Any] = [getattr(self, "front", None), *self.servers]
        for part in parts:
            if part is not None:
                with contextlib.suppress(Exception):
                    part.stop()
        if self.queue_worker is not None:
            stop_process(self.queue_worker, timeout=30)
        for part in (
            getattr(self, "redis", None),
            getattr(self, "catalog_server", None),
            getattr(self, "origin", None),
        ):
            if part is not None:
                with contextlib.suppress(Exception):
                    part.stop()


# -- the traffic --------------------------------------------------------------------------------


def tiles_of(bounds: tuple[float, float, float, float], zooms: range, limit: int = 400) -> list[tuple]:
    """Up to ``limit`` XYZ tiles per zoom that meet the middle 80 % of ``bounds`` (EPSG:4326), from
    the middle outward (a tile that only grazes the edge may be outside the image's own bounds)."""
    w, s, e, n = bounds
    if w > e:  # across the antimeridian: its eastern part
        w = -180.0
    dx, dy = (e - w) * 0.1, (n - s) * 0.1
    w, s, e, n = w + dx, s + dy, e - dx, n - dy
    found = []
    for z in zooms:
        ts = list(TMS.tiles(w, s, e, n, [z]))
        cx, cy = (w + e) / 2, (s + n) / 2
        middle = TMS.tile(cx, cy, z)
        ts.sort(key=lambda t: (t.x - middle.x) ** 2 + (t.y - middle.y) ** 2)
        found += [(t.z, t.x, t.y) for t in ts[:limit]]
    return found


def zooms_of(server: str, image: str) -> range:
    """The image's finest zooms: its TileJSON's ``maxzoom`` and the four above it (at most to ``minzoom``)."""
    status, body, _ = fetch(f"{server}/api/images/{image}/tilejson.json")
    if status != 200:
        raise RuntimeError(f"{image}: TileJSON {status} {body[:200]!r}")
    doc = json.loads(body)
    return range(max(doc["minzoom"], doc["maxzoom"] - 4), doc["maxzoom"] + 1)


class Traffic:
    """What the clients ask the front: a seeded ``pick(rng) -> action``; an action makes its
    requests through :func:`ask` (one, or two for the versioned URLs of a Feature)."""

    def __init__(self, base: str, fleet: Fleet, log: Log) -> None:
        self.base = base
        self.log = log
        server = fleet.servers[0].url
        self.tiles = {image: tiles_of(b, zooms_of(server, image)) for image, b in fleet.bounds.items()}
        kathmandu = fleet.bounds["soak_a"]
        self.mosaic_tiles = tiles_of(kathmandu, range(12, 20))
        self.world_tiles = [t for b in fleet.bounds.values() for t in tiles_of(b, range(0, 8), 2)]
        self.footprint_tiles = [t for b in fleet.bounds.values() for t in tiles_of(b, range(0, 15), 2)]
        w, s, e, n = kathmandu
        self.listings = [
            "/api/images?limit=10",
            "/api/images?order=newest&limit=5",
            f"/api/images?bbox={w},{s},{e},{n}",
            "/api/images?q=soak&offset=2&limit=3",
            "/api/images/soak_a",
            "/api/images/cogeo",
            "/api/images/soak_b/tilejson.json?rescale=20,220",
            "/api/mosaic/tilejson.json?ids=soak_b,soak_a&order=catalog",
            "/api/footprints/tilejson.json",
            "/api/images/dem/WMTSCapabilities.xml",
        ]
        self.catalog_sizes: Counter[int] = Counter()
        self.weights = {"tile": 40, "mosaic": 15, "mvt": 15, "catalog": 15, "versioned": 15}

    def act(self, rng: random.Random) -> None:
        kind = rng.choices(list(self.weights), weights=list(self.weights.values()))[0]
        getattr(self, kind)(rng)

    def tile(self, rng: random.Random) -> None:
        image = rng.choice([*SYNTHETIC, *SYNTHETIC, *TEST_IMAGES])
        options = OPTIONS.get(image, RGB_OPTIONS)
        z, x, y = rng.choice(self.tiles[image])
        size = rng.choice(("", "", "@2x"))
        fmt = rng.choice(("png", "png", "webp", "jpg"))
        query = rng.choice(options)
        ask(self.log, "tile", f"{self.base}/api/images/{image}/tiles/{z}/{x}/{y}{size}.{fmt}?{query}")

    def mosaic(self, rng: random.Random) -> None:
        if rng.random() < 0.7:
            z, x, y = rng.choice(self.mosaic_tiles)
            query = rng.choice(("ids=soak_b,soak_a&order=catalog", "order=newest", "order=best&nodata=0"))
        else:
            z, x, y = rng.choice(self.world_tiles)
            query = rng.choice(("order=newest", "order=oldest"))
        ask(self.log, "mosaic", f"{self.base}/api/mosaic/tiles/{z}/{x}/{y}.png?{query}")

    def mvt(self, rng: random.Random) -> None:
        z, x, y = rng.choice(self.footprint_tiles)
        query = rng.choice(("", "", "q=soak", "order=newest"))
        ask(self.log, "mvt", f"{self.base}/api/footprints/{z}/{x}/{y}.mvt?{query}")

    def catalog(self, rng: random.Random) -> None:
        path = rng.choice(self.listings)
        status, body, _ = ask(self.log, "catalog", self.base + path)
        if status == 200 and path == "/api/images?limit=10":
            with contextlib.suppress(ValueError, KeyError):
                self.catalog_sizes[json.loads(body)["numberMatched"]] += 1

    def versioned(self, rng: random.Random) -> None:
        """A Feature, then one of its versioned tiles (the URLs a map is given)."""
        image = rng.choice(("replaced", "replaced", "soak_a"))
        status, body, _ = ask(self.log, "catalog", f"{self.base}/api/images/{image}")
        if status != 200:
            return
        template = json.loads(body)["properties"]["tiles"]
        z, x, y = rng.choice(self.tiles[image])
        ask(self.log, "tile", template.format(z=z, x=x, y=y))


def run_clients(
    traffic: Traffic, clients: int, pause: float, stop: threading.Event
) -> list[threading.Thread]:
    """``clients`` threads acting until ``stop``, each pausing about ``pause`` s between actions."""

    def client(n: int) -> None:
        rng = random.Random(SEED * 1000 + n)
        while not stop.is_set():
            traffic.act(rng)
            stop.wait(rng.uniform(0, 2 * pause))

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
    for t in threads:
        t.start()
    return threads


@dataclass
class Exports:
    """Export cycles (submit, poll, download): ``done`` seconds each, ``failed`` reasons."""

    done: list[float] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def run_exports(
    base: str, fleet: Fleet, log: Log, stop: threading.Event, exports: Exports
) -> threading.Thread:
    """One client exporting small packages one after the other (each request new: another rescale)."""
    w, s, e, n = fleet.bounds["soak_a"]
    cx, cy = (w + e) / 2, (s + n) / 2

    def one(k: int, rng: random.Random) -> None:
        fmt = ("mbtiles", "pmtiles")[k % 2]
        request = {
            "ids": [("soak_a", "soak_b")[k // 2 % 2]],
            "bbox": [cx - 0.002, cy - 0.002, cx + 0.002, cy + 0.002],
            "minzoom": 16,
            "maxzoom": 17,
            "format": fmt,
            "rescale": f"0,{120 + k % 135}",
        }
        started, since = time.monotonic(), round(log.now(), 3)
        status, body, headers = ask(
            log, "export", base + "/api/exports", (200, 202), "POST", json.dumps(request).encode()
        )
        if status not in (200, 202):
            exports.failed.append(f"submit: {status} {body[:120]!r}")
            return
        url = json.loads(body)["url"]
        while time.monotonic() - started < EXPORT_DEADLINE and not stop.is_set():
            status, body, _ = ask(log, "export", url, (200, 202), since=since)
            if status == 200:
                magic = b"SQLite format 3\0" if fmt == "mbtiles" else b"PMTiles"
                if body.startswith(magic):
                    exports.done.append(time.monotonic() - started)
                else:
                    exports.failed.append(f"download: not a {fmt} file ({len(body)} bytes)")
                return
            if status != 202:
                exports.failed.append(f"poll: {status} {body[:120]!r}")
                return
            stop.wait(1.0)
        if not stop.is_set():
            exports.failed.append(f"not done after {EXPORT_DEADLINE:.0f} s")
            log.add(Answer(round(log.now(), 3), "export", 0, 0.0, False, "export stuck", since))

    def loop() -> None:
        rng = random.Random(SEED)
        k = 0
        while not stop.is_set():
            one(k, rng)
            k += 1
            stop.wait(rng.uniform(3, 8))

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return thread


# -- processes: what /proc says ----------------------------------------------------------------


def proc_stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/pid/stat`` after the command (state first), or ``None``."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def identity(pid: int) -> tuple[int, int] | None:
    """``(pid, start time in clock ticks since boot)``: a process, not a reused pid."""
    fields = proc_stat(pid)
    return (pid, int(fields[19])) if fields else None


def alive(ident: tuple[int, int]) -> bool:
    """Whether that very process still runs (a zombie does not)."""
    fields = proc_stat(ident[0])
    return fields is not None and int(fields[19]) == ident[1] and fields[0] != "Z"


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def descendants(pid: int) -> list[int]:
    """Every process under ``pid``, parents before their children (one pass over ``/proc``)."""
    kids: dict[int, list[int]] = defaultdict(list)
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := proc_stat(int(entry))) is not None:
            kids[int(fields[1])].append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in kids.get(todo.pop(0), []):
            found.append(child)
            todo.append(child)
    return found


def rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def open_fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def cpu_s(pid: int) -> float:
    fields = proc_stat(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK") if fields else 0.0


@dataclass(frozen=True)
class Sample:
    """One process at one moment: ``t`` seconds since the start, its role, RSS kB, open FDs, CPU s."""

    t: float
    pid: int
    role: str
    rss_kb: int
    fds: int
    cpu_s: float


def role_of(pid: int, fleet: Fleet, parent_roles: dict[int, str]) -> str:
    """What a process of the run is, by its command line and parent."""
    command = cmdline(pid)
    masters = {s.process.pid: n for n, s in enumerate(fleet.servers) if s.process is not None}
    fields = proc_stat(pid)
    ppid = int(fields[1]) if fields else 0
    if pid in masters:
        return f"master{masters[pid]}"
    if ppid in masters:
        return f"worker{masters[ppid]}"
    if "oam_preview.remote.egress" in command:
        return "relay"
    if "oam_preview.cli worker" in command:
        return "queue_worker"
    if parent_roles.get(ppid) == "queue_worker":
        return "job"
    if "oam_preview.offline.worker" in command:
        return "job"
    for needle, role in (
        ("nginx", "nginx"),
        ("redis-server", "redis"),
        ("faultserver", "origin"),
        ("tests.support.fileserver", "catalog_server"),
    ):
        if needle in command:
            return role
    return "other"


class Sampler:
    """Every ``every`` seconds, every process under ours; which processes ever were (for leaks)."""

    def __init__(self, fleet: Fleet, log: Log, every: float) -> None:
        self.fleet = fleet
        self.log = log
        self.every = every
        self.samples: list[Sample] = []
        self.seen: dict[tuple[int, int], str] = {}  # every process of the run, and its role
        self.counts: list[dict[str, float]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Sampler:
        self.thread.start()
        return self

    def _run(self) -> None:
        while not self.stop.wait(self.every):
            self.sample()
            self.fleet.supervise()

    def sample(self) -> None:
        t = round(self.log.now(), 1)
        roles: dict[int, str] = {}
        tree = descendants(os.getpid())
        # Parents first (a pid's parent is listed before it by the walk), so a job knows its worker.
        for pid in tree:
            role = role_of(pid, self.fleet, roles)
            roles[pid] = role
            ident = identity(pid)
            if ident is None:
                continue
            self.seen.setdefault(ident, role)
            self.samples.append(Sample(t, pid, role, rss_kb(pid), open_fds(pid), round(cpu_s(pid), 2)))
        in_tree = {identity(p) for p in tree}
        orphans = [i for i in self.seen if i not in in_tree and alive(i)]
        count = Counter(r.rstrip("01") for r in roles.values())
        self.counts.append(
            {
                "t": t,
                "workers": count["worker"],
                "relays": count["relay"],
                "jobs": count["job"],
                "queue_workers": count["queue_worker"],
                "orphans": len(orphans),
            }
        )


# -- the chaos ----------------------------------------------------------------------------------


@dataclass
class Event:
    """One chaos phase: from ``start`` to ``end`` (s since the start), then ``settle`` s more."""

    name: str
    start: float
    end: float = 0.0
    settle: float = 0.0
    notes: dict[str, Any] = field(default_factory=dict)


def kill_worker(fleet: Fleet, log: Log, rng: random.Random, settle: float) -> Event:
    """SIGKILL one gunicorn worker; the notes: how soon its master had a new one, and whether the
    killed worker's relay exited (its stdin, a pipe from the worker, ended)."""
    server = fleet.servers[rng.randrange(len(fleet.servers))]
    assert server.process is not None
    workers = children(server.process.pid)
    victim = rng.choice(workers)
    relays = [i for p in children(victim) if (i := identity(p)) is not None]
    event = Event("kill_worker", log.now(), settle=settle, notes={"pid": victim})
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        now = set(children(server.process.pid))
        if victim not in now and len(now) >= len(workers):
            event.notes["new_worker_forked_s"] = round(log.now() - event.start, 1)
            break
        time.sleep(0.2)
    time.sleep(2.0)
    event.notes["relays_of_victim_left"] = sum(alive(i) for i in relays)
    event.end = log.now()
    return event


def restart_redis(fleet: Fleet, log: Log, down: float, settle: float) -> Event:
    """redis-server stopped, ``down`` seconds without it, started again on its port (empty)."""
    event = Event("redis_restart", log.now(), settle=settle)
    fleet.redis.stop()
    time.sleep(down)
    fleet.redis.start()
    event.end = log.now()
    event.notes["down_s"] = round(event.end - event.start, 1)
    return event


#: Seconds of a stall's window after the origin answers again: a read the stall hung fails up to
#: the upstream timeout later, each failure keeps the breaker open its cool-down, then a probe.
STALL_TAIL = Settings().upstream_timeout + Settings().breaker_cooldown + 2.0


def stall_upstream(fleet: Fleet, log: Log, seconds: float, settle: float) -> Event:
    """The origin reads every request and answers nothing for ``seconds``."""
    event = Event("upstream_stall", log.now(), settle=settle)
    fleet.origin.mode("hang")
    time.sleep(seconds)
    fleet.origin.mode("ok")
    event.end = log.now()
    return event


def token(url: str) -> str | None:
    return url.rsplit("?v=", 1)[1] if "?v=" in url else None


def replace_file(fleet: Fleet, log: Log, base: str, settle: float) -> Event:
    """New bytes under ``replaced``'s URL; the notes: how soon the Feature named a new version,
    and whether its tile showed new pixels, the same from every instance."""
    event = Event("replace_file", log.now(), settle=settle)
    tile = tiles_of(fleet.bounds["replaced"], range(17, 18), 1)[0]

    def versioned_tile(server: str) -> tuple[str | None, bytes, str]:
        status, body, _ = fetch(f"{server}/api/images/replaced")
        if status != 200:
            return None, b"", ""
        template = json.loads(body)["properties"]["tiles"]
        url = template.format(z=tile[0], x=tile[1], y=tile[2])
        return token(url), fetch(url)[1], url

    old_token, old_pixels, _ = versioned_tile(base)
    served = fleet.tiffs / "replaced.tif"
    staged = served.with_name("replaced.next.tif")
    shutil.copy(fleet.replacement, staged)
    stamp = time.time() + 10  # Last-Modified has one-second resolution
    os.utime(staged, (stamp, stamp))
    os.replace(staged, served)
    replaced = log.now()
    event.notes.update(old=old_token, new=None, new_pixels=False, instances_agree=False)
    deadline = time.monotonic() + RECHECK * 6 + 30
    while time.monotonic() < deadline:
        new_token, new_pixels, url = versioned_tile(base)
        if new_token and new_token != old_token:
            event.notes.update(new=new_token, seen_after_s=round(log.now() - replaced, 1))
            event.notes["new_pixels"] = bool(new_pixels) and new_pixels != old_pixels
            path = url.removeprefix(base)
            # A worker asked for a token it does not know yet rechecks within 2 s (HINT_RECHECK):
            # until then it answers with what it has, not immutable.
            for _ in range(15):
                answers = [fetch(s.url + path) for s in fleet.servers if s.process is not None]
                if all(a[1] == new_pixels for a in answers):
                    event.notes["instances_agree"] = True
                    event.notes["agree_after_s"] = round(log.now() - replaced, 1)
                    break
                event.notes["disagreeing_cache_control"] = sorted(
                    {a[2].get("Cache-Control", "") for a in answers if a[1] != new_pixels}
                )
                time.sleep(1.0)
            break
        time.sleep(1.0)
    event.end = log.now()
    return event


def schedule(seconds: float) -> dict[str, float]:
    """When each chaos phase starts, s after the start: the disruptive ones in the first half,
    so that the last half (where the growth of RSS and FDs is measured) has the same workers."""
    return {
        "kill_worker": 0.18 * seconds,
        "redis_restart": 0.28 * seconds,
        "upstream_stall": 0.38 * seconds,
        "replace_file": 0.70 * seconds,
    }


# -- figures ------------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank ``p``-th percentile (0-100) of ``values``; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


def phase_of(a: Answer, events: list[Event], warmup: float) -> str:
    """The phase of an answer: a chaos phase its action overlaps (the stall first: a request
    sent just before it, or an export it failed, is the stall's), else warm-up or steady."""
    start, end = (a.t if a.since is None else a.since), a.t + a.ms / 1000
    overlapping = [e.name for e in events if start < e.end + e.settle and end >= e.start]
    if overlapping:
        return "upstream_stall" if "upstream_stall" in overlapping else overlapping[0]
    return "warmup" if a.t < warmup else "steady"


def phase_table(answers: list[Answer], events: list[Event], warmup: float) -> dict[str, dict[str, Any]]:
    """Per phase: requests, successes, the rate, p50/p95/p99 ms, the failures' first messages."""
    groups: dict[str, list[Answer]] = defaultdict(list)
    for a in answers:
        groups[phase_of(a, events, warmup)].append(a)
        groups["all"].append(a)
    groups["all but the stall"] = [
        a for a in groups["all"] if phase_of(a, events, warmup) != "upstream_stall"
    ]
    order = ["warmup", "steady", *(e.name for e in events), "all but the stall", "all"]
    table = {}
    for name in order:
        items = groups.get(name, [])
        ok = sum(a.ok for a in items)
        ms = [a.ms for a in items]
        table[name] = {
            "requests": len(items),
            "ok": ok,
            "success": ok / len(items) if items else math.nan,
            "p50_ms": percentile(ms, 50),
            "p95_ms": percentile(ms, 95),
            "p99_ms": percentile(ms, 99),
            "failures": dict(Counter(a.error[:100] for a in items if not a.ok).most_common(5)),
        }
    return table


def kind_table(answers: list[Answer]) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[Answer]] = defaultdict(list)
    for a in answers:
        groups[a.kind].append(a)
    return {
        kind: {
            "requests": len(items),
            "success": sum(a.ok for a in items) / len(items),
            "p50_ms": percentile([a.ms for a in items], 50),
            "p95_ms": percentile([a.ms for a in items], 95),
            "p99_ms": percentile([a.ms for a in items], 99),
        }
        for kind, items in sorted(groups.items())
    }


def growth(points: list[tuple[float, float]]) -> float:
    """The least-squares slope of ``(t, value)`` times their time span, over their mean: the
    fraction the value grew across the span (0.05 = 5 %); NaN with fewer than 3 points."""
    if len(points) < 3:
        return math.nan
    ts, vs = [p[0] for p in points], [p[1] for p in points]
    mt, mv = sum(ts) / len(ts), sum(vs) / len(vs)
    var = sum((t - mt) ** 2 for t in ts)
    if not var or not mv:
        return math.nan
    slope = sum((t - mt) * (v - mv) for t, v in points) / var
    return slope * (max(ts) - min(ts)) / mv


def last_half_growth(samples: list[Sample], start: float, key: str, roles: tuple[str, ...]) -> dict[str, Any]:
    """Growth of the sum of ``key`` over the processes of ``roles`` sampled at every moment from
    ``start`` on (a process that came or went meanwhile is left out: its arrival is no leak)."""
    late = [s for s in samples if s.t >= start and s.role.rstrip("01") in roles]
    moments = sorted({s.t for s in late})
    by_pid: dict[int, dict[float, Sample]] = defaultdict(dict)
    for s in late:
        by_pid[s.pid][s.t] = s
    steady = [pid for pid, seen in by_pid.items() if len(seen) == len(moments)]
    series = [(t, float(sum(getattr(by_pid[p][t], key) for p in steady))) for t in moments]
    each = {p: growth([(t, float(getattr(by_pid[p][t], key))) for t in moments]) for p in steady}
    return {
        "processes": len(steady),
        "first": series[0][1] if series else math.nan,
        "last": series[-1][1] if series else math.nan,
        "growth": growth(series),
        "max_process_growth": max(each.values(), default=math.nan),
    }


def leftovers(seen: dict[tuple[int, int], str], before: set[tuple[int, int]]) -> list[str]:
    """The processes of the run still running after it stopped (not ones that ran before it)."""
    return [
        f"{pid} {role}: {cmdline(pid)[:120]}"
        for (pid, st), role in seen.items()
        if (pid, st) not in before and alive((pid, st))
    ]


def every_process() -> set[tuple[int, int]]:
    return {i for p in os.listdir("/proc") if p.isdigit() and (i := identity(int(p))) is not None}


# -- the chart ----------------------------------------------------------------------------------

PHASE_COLOURS = {
    "kill_worker": "#d62728",
    "redis_restart": "#9467bd",
    "upstream_stall": "#ff7f0e",
    "replace_file": "#2ca02c",
}


def chart(
    summary: dict[str, Any], answers: list[Answer], sampler: Sampler, events: list[Event], out: Path
) -> Path:
    """Four panels over time: requests (failures in red) and p95, worker RSS, open FDs, process counts."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(4, 1, figsize=(10, 10), dpi=72, sharex=True)
    bucket = max(5.0, summary["config"]["seconds"] / 120)
    minutes = 60.0
    n = int(summary["config"]["seconds"] // bucket) + 1
    ok, bad, lat = [0] * n, [0] * n, [[] for _ in range(n)]
    for a in answers:
        i = min(n - 1, int(a.t // bucket))
        (ok if a.ok else bad)[i] += 1
        lat[i].append(a.ms)
    xs = [(i + 0.5) * bucket / minutes for i in range(n)]
    ax = axes[0]
    ax.bar(xs, [v / bucket for v in ok], width=bucket / minutes, color="#1f77b4", label="succeeded /s")
    ax.bar(
        xs,
        [v / bucket for v in bad],
        bottom=[v / bucket for v in ok],
        width=bucket / minutes,
        color="#d62728",
        label="failed /s",
    )
    ax.set_ylabel("requests / s")
    twin = ax.twinx()
    twin.plot(xs, [percentile(v, 95) for v in lat], color="black", lw=1, label="p95 ms")
    twin.set_yscale("log")
    twin.set_ylabel("p95 latency ms")
    ax.legend(loc="upper left", fontsize=8)
    twin.legend(loc="upper right", fontsize=8)
    by_pid: dict[tuple[int, str], list[Sample]] = defaultdict(list)
    for s in sampler.samples:
        by_pid[(s.pid, s.role)].append(s)
    for ax, key, scale, label, roles in (
        (axes[1], "rss_kb", 1 / 1024, "worker RSS MB", ("worker",)),
        (axes[2], "fds", 1, "open FDs (workers; relays dashed)", ("worker", "relay")),
    ):
        for (pid, role), series in sorted(by_pid.items()):
            if role.rstrip("01") not in roles:
                continue
            style = "--" if role == "relay" else "-"
            ax.plot(
                [s.t / minutes for s in series],
                [getattr(s, key) * scale for s in series],
                style,
                lw=1,
                label=f"{role} {pid}" if role != "relay" else None,
            )
        ax.set_ylabel(label)
        ax.legend(loc="upper left", fontsize=6, ncol=4)
    ax = axes[3]
    for key, colour in (
        ("workers", "#1f77b4"),
        ("relays", "#2ca02c"),
        ("jobs", "#ff7f0e"),
        ("orphans", "#d62728"),
    ):
        ax.step(
            [c["t"] / minutes for c in sampler.counts],
            [c[key] for c in sampler.counts],
            where="post",
            color=colour,
            label=key,
        )
    ax.set_ylabel("processes")
    ax.set_xlabel("minutes")
    ax.legend(loc="upper left", fontsize=8, ncol=4)
    for ax in axes:
        for e in events:
            ax.axvspan(
                e.start / minutes, (e.end + e.settle) / minutes, color=PHASE_COLOURS[e.name], alpha=0.15
            )
        ax.axvline(summary["config"]["seconds"] / 2 / minutes, color="grey", lw=0.8, ls=":")
        ax.grid(alpha=0.3)
    for e in events:
        axes[0].text(
            e.start / minutes,
            1.0,
            e.name.replace("_", " "),
            transform=axes[0].get_xaxis_transform(),
            fontsize=7,
            va="bottom",
            color=PHASE_COLOURS[e.name],
        )
    targets = summary["targets"]
    fig.suptitle(
        f"soak {summary['started']} at {summary['git']}: {summary['config']['minutes']:g} min, "
        f"{summary['phases']['all']['requests']} requests (shaded: chaos phases; dotted: the last half)\n"
        + ", ".join(f"{k} {'met' if v['met'] else 'NOT met'}" for k, v in targets.items()),
        fontsize=9,
    )
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=72)
    plt.close(fig)
    return out


# -- the run ------------------------------------------------------------------------------------


@contextlib.contextmanager
def running_fleet(directory: Path) -> Iterator[Fleet]:
    fleet = Fleet(directory)
    try:
        yield fleet.start()
    finally:
        fleet.stop()


def soak(args: argparse.Namespace, directory: Path) -> dict[str, Any]:
    seconds = args.minutes * 60
    before = every_process()
    client_started = time.process_time()
    chaos_settle = min(30.0, max(10.0, 0.04 * seconds))
    stall = min(30.0, max(10.0, 0.08 * seconds))
    warmup = max(45.0, 0.15 * seconds)
    events: list[Event] = []
    exports = Exports()
    with running_fleet(directory) as fleet:
        base = fleet.front.url
        log = Log(time.monotonic())
        sampler = Sampler(fleet, log, args.sample).start()
        traffic = Traffic(base, fleet, log)
        stop = threading.Event()
        threads = run_clients(traffic, args.clients, args.pause, stop)
        threads.append(run_exports(base, fleet, log, stop, exports))
        rng = random.Random(SEED)
        chaos: dict[str, Callable[[], Event]] = {
            "kill_worker": lambda: kill_worker(fleet, log, rng, chaos_settle),
            "redis_restart": lambda: restart_redis(fleet, log, min(5.0, chaos_settle / 3), chaos_settle),
            # Part of the stall after the origin is back: the reads it hung, which fail when their
            # time is up (up to the upstream timeout after it), the breaker those failures keep
            # open (its cool-down) and a probe (the 1 h run's 17 failures in "steady" came 5-8 s
            # after a stall window that ended 5 s after the origin did: all the breaker's).
            "upstream_stall": lambda: stall_upstream(fleet, log, stall, STALL_TAIL),
            "replace_file": lambda: replace_file(fleet, log, base, chaos_settle),
        }
        plan = sorted(schedule(seconds).items(), key=lambda kv: kv[1])
        next_rotation = 3.0 * CATALOG_TTL
        while log.now() < seconds:
            if plan and log.now() >= plan[0][1]:
                name, _ = plan.pop(0)
                event = chaos[name]()
                events.append(event)
                print(f"[{event.start:7.1f} s] {name}: {event.notes}", flush=True)
            if log.now() >= next_rotation:
                fleet.rotate_catalog()
                next_rotation += 3.0 * CATALOG_TTL
            time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join(TIMEOUT + 30)
        sampler.stop.set()
        sampler.thread.join(30)
        sampler.sample()  # the last look, everything still running
        queue_worker_starts = fleet.queue_worker_starts
        client_cpu = time.process_time() - client_started
        catalog_versions = fleet.catalog_version
    time.sleep(2.0)  # relays notice their worker is gone
    left = leftovers(sampler.seen, before)
    answers = sorted(log.answers, key=lambda a: a.t)
    phases = phase_table(answers, events, warmup)
    outside = [a for a in answers if phase_of(a, events, warmup) != "upstream_stall"]
    success = sum(a.ok for a in outside) / max(1, len(outside))
    half = seconds / 2
    rss = last_half_growth(sampler.samples, half, "rss_kb", ("worker",))
    fds = last_half_growth(sampler.samples, half, "fds", ("worker", "relay"))
    replaced = next((e.notes for e in events if e.name == "replace_file"), {})
    targets = {
        "success_outside_stall": {"value": success, "target": "= 100 %", "met": success == 1.0},
        "worker_rss_growth_last_half": {
            "value": rss["growth"],
            "target": "< 5 %",
            "met": rss["growth"] < 0.05,
        },
        "fd_growth_last_half": {"value": fds["growth"], "target": "< 5 %", "met": fds["growth"] < 0.05},
        "no_process_left": {"value": len(left), "target": "0", "met": not left},
        "replaced_file_served_new": {
            "value": replaced.get("new_pixels", False) and replaced.get("instances_agree", False),
            "target": "new token, new pixels, instances agree",
            "met": bool(replaced.get("new_pixels")) and bool(replaced.get("instances_agree")),
        },
    }
    counts = sampler.counts
    cpu: dict[int, float] = {}
    for sample in sampler.samples:  # cumulative per process: its last look
        cpu[sample.pid] = sample.cpu_s
    return {
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "git": _git_rev(),
        "config": {
            "minutes": args.minutes,
            "seconds": seconds,
            "clients": args.clients,
            "pause_s": args.pause,
            "sample_s": args.sample,
            "warmup_s": warmup,
            "stall_s": stall,
            "settle_s": chaos_settle,
            "instances": 2,
            "workers": fleet.workers,
            "threads": fleet.threads,
            "load_average": os.getloadavg(),
        },
        "phases": phases,
        "kinds": kind_table(answers),
        "events": [asdict(e) for e in events],
        "exports": {
            "done": len(exports.done),
            "failed": exports.failed,
            "p50_s": percentile(exports.done, 50),
            "max_s": max(exports.done, default=math.nan),
        },
        "catalog": {"versions_written": catalog_versions, "sizes_seen": dict(traffic.catalog_sizes)},
        "rss": rss,
        "fds": fds,
        "processes": {
            "relays": [min(c["relays"] for c in counts), max(c["relays"] for c in counts)],
            "jobs_max": max(c["jobs"] for c in counts),
            "workers": [min(c["workers"] for c in counts), max(c["workers"] for c in counts)],
            "orphans_max": max(c["orphans"] for c in counts),
            "queue_worker_starts": queue_worker_starts,
            "seen": len(sampler.seen),
            "jobs_seen": sum(role == "job" for role in sampler.seen.values()),
            "fleet_cpu_cores": sum(cpu.values()) / seconds,
            "client_cpu_cores": client_cpu / seconds,
            "left": left,
        },
        "targets": targets,
        "_answers": answers,
        "_sampler": sampler,
        "_events": events,
    }


def _git_rev() -> str:
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True, cwd=REPO
        ).stdout.strip()
    return "?"


def write(summary: dict[str, Any], out: Path) -> dict[str, Path]:
    """requests.csv, samples.csv and summary.json in ``out``; the chart when matplotlib is here."""
    out.mkdir(parents=True, exist_ok=True)
    answers: list[Answer] = summary.pop("_answers")
    sampler: Sampler = summary.pop("_sampler")
    events: list[Event] = summary.pop("_events")
    written = {
        "summary": out / "summary.json",
        "requests": out / "requests.csv",
        "samples": out / "samples.csv",
    }
    with written["requests"].open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["t_s", "phase", "kind", "status", "ms", "ok", "error"])
        for a in answers:
            w.writerow(
                [
                    a.t,
                    phase_of(a, events, summary["config"]["warmup_s"]),
                    a.kind,
                    a.status,
                    a.ms,
                    int(a.ok),
                    a.error,
                ]
            )
    with written["samples"].open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["t_s", "pid", "role", "rss_kb", "fds", "cpu_s"])
        for s in sampler.samples:
            w.writerow([s.t, s.pid, s.role, s.rss_kb, s.fds, s.cpu_s])
    written["summary"].write_text(json.dumps(finite(summary), indent=2, default=str))
    try:
        written["chart"] = chart(summary, answers, sampler, events, out / "soak.png")
    except ImportError:
        print("matplotlib is not installed (pip install -e '.[bench]'): no chart", file=sys.stderr)
    return written


def finite(value: Any) -> Any:
    """``value`` with every NaN float replaced by ``None`` (JSON has no NaN)."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def report(summary: dict[str, Any]) -> str:
    """The figures as Markdown: phases, request kinds, processes, targets."""
    cfg = summary["config"]
    lines = [
        f"soak of {cfg['minutes']:g} min at {summary['git']}: 2 instances x {cfg['workers']} workers x "
        f"{cfg['threads']} threads, {cfg['clients']} clients + 1 exporting; warm-up {cfg['warmup_s']:.0f} s, "
        f"stall {cfg['stall_s']:.0f} s, chaos phases settle {cfg['settle_s']:.0f} s; load average after "
        + " / ".join(f"{v:.1f}" for v in cfg["load_average"]),
        "",
        "| phase | requests | success | p50 ms | p95 ms | p99 ms | failures |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, p in summary["phases"].items():
        fails = "; ".join(f"{n}x {m}" for m, n in p["failures"].items()) or ""
        lines.append(
            f"| {name} | {p['requests']} | {p['success'] * 100:.2f} % | {p['p50_ms']:.0f} | "
            f"{p['p95_ms']:.0f} | {p['p99_ms']:.0f} | {fails[:160]} |"
        )
    lines += ["", "| kind | requests | success | p50 ms | p95 ms | p99 ms |", "|---|---|---|---|---|---|"]
    for name, k in summary["kinds"].items():
        lines.append(
            f"| {name} | {k['requests']} | {k['success'] * 100:.2f} % | {k['p50_ms']:.0f} | "
            f"{k['p95_ms']:.0f} | {k['p99_ms']:.0f} |"
        )
    lines.append("")
    for e in summary["events"]:
        lines.append(f"- {e['name']} at {e['start']:.0f} s: {e['notes']}")
    ex, pr, rss, fds = summary["exports"], summary["processes"], summary["rss"], summary["fds"]
    lines += [
        f"- exports: {ex['done']} done (p50 {ex['p50_s']:.1f} s, max {ex['max_s']:.1f} s), "
        f"{len(ex['failed'])} failed {ex['failed'][:3]}",
        f"- catalog: {summary['catalog']['versions_written']} versions written, listing sizes seen "
        f"{summary['catalog']['sizes_seen']}",
        f"- worker RSS (sum of {rss['processes']}, last half): {rss['first'] / 1024:.0f} -> "
        f"{rss['last'] / 1024:.0f} MB, growth {rss['growth'] * 100:+.1f} % "
        f"(largest of one worker {rss['max_process_growth'] * 100:+.1f} %)",
        f"- open FDs (sum of {fds['processes']} workers and relays, last half): {fds['first']:.0f} -> "
        f"{fds['last']:.0f}, growth {fds['growth'] * 100:+.1f} %",
        f"- processes: workers {pr['workers'][0]}-{pr['workers'][1]}, relays {pr['relays'][0]}-"
        f"{pr['relays'][1]}, export job processes {pr['jobs_seen']} seen, at most {pr['jobs_max']} at once, "
        f"orphans at most {pr['orphans_max']}, queue worker started {pr['queue_worker_starts']}x, "
        f"{pr['seen']} processes in all, left after the stop: {len(pr['left'])} {pr['left'][:5]}",
        f"- CPU: the fleet's processes {pr['fleet_cpu_cores']:.2f} cores on average (their start included), "
        f"the soak's clients and sampler {pr['client_cpu_cores']:.2f}",
        "",
        "| target | value | goal | met |",
        "|---|---|---|---|",
    ]
    for name, t in summary["targets"].items():
        value = t["value"]
        shown = f"{value * 100:.2f} %" if isinstance(value, float) else str(value)
        lines.append(f"| {name} | {shown} | {t['target']} | {'yes' if t['met'] else 'no'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=60.0, help="length of the run (10: a CI-sized one)")
    parser.add_argument("--clients", type=int, default=6, help="client threads (one more runs exports)")
    parser.add_argument(
        "--pause", type=float, default=0.15, help="mean seconds a client waits between actions"
    )
    parser.add_argument("--sample", type=float, default=3.0, help="seconds between two looks at /proc")
    parser.add_argument(
        "--out", type=Path, default=None, help="output directory (default benchmarks/results/)"
    )
    parser.add_argument("--publish", action="store_true", help="copy the chart to docs/soak.png")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    if nginx_binary() is None or shutil.which("redis-server") is None:
        print("the soak needs nginx and redis-server", file=sys.stderr)
        return 2
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = args.out or RESULTS / f"soak-{stamp}"
    with tempfile.TemporaryDirectory(prefix="oam-preview-soak-") as tmp:
        summary = soak(args, Path(tmp))
    written = write(summary, out)
    print()
    print(report(summary))
    print("\n" + ", ".join(f"{k}: {v}" for k, v in written.items()))
    if args.publish and "chart" in written:
        shutil.copy(written["chart"], REPO / "docs" / "soak.png")
        print("chart copied to docs/soak.png")
    missed = [name for name, t in summary["targets"].items() if not t["met"]]
    if missed:
        print(f"targets missed: {', '.join(missed)}")
    return 1 if missed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
