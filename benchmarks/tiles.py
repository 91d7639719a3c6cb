"""Tiles and thumbnails of remote GeoTIFFs: oam-preview against TiTiler, same machine, interleaved.

    .venv/bin/python -m benchmarks.tiles [--quick] [--latency MS] [--threads N] [--workers N]
    make bench

Builds the test images once into ``benchmarks/work/`` (see ``images.py``),
serves them from the Range-capable :class:`~tests.support.fileserver.FileServer`
(a child process; ``--latency`` adds milliseconds before each answer, like a
distant object store), starts ``oam-preview serve`` (gunicorn gthread) and
TiTiler (uvicorn, its recommended GDAL settings) with the same number of
worker processes, and runs the same seeded request lists against both, phase
by phase, alternating which goes first. Per phase it records p50/p95 latency,
tiles/s, CPU ms per tile (``/proc`` of the server's process tree), upstream
requests and bytes per tile (the file server's counters) against the analytic
minimum (``analytic.py``), and the peak RSS of the whole process tree
(master, workers, relays; sampled). The ``spread`` phase measures as an outside
harness does: one client, 59 cold tiles of the big COG spread over zooms 13-21,
no block shared by two consecutive tiles, the file already open (under a name of
its own, so no earlier phase warmed a cache). ``--workers 2,4`` runs the whole
list at the first count, then the 32-client phase again on fresh servers at each
other count (the tree's memory grows with the workers). It prints a table and
the goals and writes JSON to ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import analytic, chart, floor, images, load
from benchmarks.servers import Server, TreeRss, cpu_seconds, memory_kb, start_oam_preview, start_titiler
from tests.support.fileserver import FileServer
from tests.support.processes import free_port

HERE = Path(__file__).resolve().parent

WORK = HERE / "work"
RESULTS = HERE / "results"
SEED = 20240
#: Share of cache-miss tiles per zoom of the big COG (native zoom 19): a map view at street level.
ZOOM_WEIGHTS = {16: 0.1, 17: 0.2, 18: 0.3, 19: 0.4}
#: TiTiler shows uint16 as stored unless told how to stretch; give it one range like ours.
TITILER_UINT16 = "&bidx=1&bidx=2&bidx=3&rescale=300,3500"
#: The latency phase's image (the big COG behind the slower origin) and that origin's delay, ms.
FAR_ROLE = "big_cog_far"
FAR_MS = 40.0
#: The spread phase's image: the big COG under a name of its own (a hard link), its zooms (native
#: 19; 20 and 21 over-zoomed, as a map asks) and how many tiles it times (one more opens the file).
SPREAD_ROLE = "big_cog_spread"
SPREAD_ZOOMS = tuple(range(13, 22))
SPREAD_TILES = 59


# -- the plan: which tiles each phase asks for ------------------------------------------------


def sample_tiles(blocks: analytic.BlockMap, count: int, rng: random.Random) -> list[tuple[int, int, int]]:
    """``count`` distinct tiles wholly inside the image, zooms drawn by :data:`ZOOM_WEIGHTS`."""
    pools = {z: blocks.inner_tiles(z) for z in ZOOM_WEIGHTS}
    for pool in pools.values():
        rng.shuffle(pool)
    zooms = rng.choices(list(ZOOM_WEIGHTS), weights=list(ZOOM_WEIGHTS.values()), k=count)
    tiles = []
    for z in zooms:
        while not pools[z]:  # a coarse zoom ran out (z16 has 81 tiles): take the next finer one
            z += 1
        tiles.append((z, *pools[z].pop()))
    return tiles


def spread_tiles(
    blocks: analytic.BlockMap, count: int, rng: random.Random, zooms: tuple[int, ...] = SPREAD_ZOOMS
) -> list[tuple[int, int, int]]:
    """``count`` distinct tiles showing the image (those at its edges partly transparent), the
    zooms taken in turn (a shuffled round), none sharing a block with the tile before it: each
    asks the server for blocks it has just not read, as a stranger's list of tiles over a city
    does."""
    pools = {z: blocks.covering_tiles(z) for z in zooms}
    for pool in pools.values():
        rng.shuffle(pool)
    tiles: list[tuple[int, int, int]] = []
    previous: set[tuple[int, int, int]] = set()
    while len(tiles) < count and any(pools.values()):
        order = [z for z in zooms if pools[z]]
        rng.shuffle(order)
        for z in order:
            pick = next((t for t in pools[z] if blocks.tile_blocks(z, *t).isdisjoint(previous)), None)
            if pick is None:
                continue
            pools[z].remove(pick)
            previous = blocks.tile_blocks(z, *pick)
            tiles.append((z, *pick))
            if len(tiles) == count:
                break
    return tiles


def make_plan(blocks: analytic.BlockMap, uint16: analytic.BlockMap, quick: bool) -> dict[str, Any]:
    """The seeded request lists of every phase (disjoint, so every tile phase is a cache miss)."""
    scale = 1 / 3 if quick else 1
    sizes = {"cold": 30, "warm": 60, "c8": 240, "c32": 480, "jpeg32": 480}
    sizes = {k: max(8, round(v * scale)) for k, v in sizes.items()}
    rng = random.Random(SEED)
    tiles = sample_tiles(blocks, sum(sizes.values()), rng)
    plan: dict[str, Any] = {}
    at = 0
    for name, n in sizes.items():
        plan[name] = tiles[at : at + n]
        at += n
    hot = plan["warm"][: max(16, round(64 * scale))]
    plan["hit_prime"] = [t for t in hot for _ in range(8)]
    rng.shuffle(plan["hit_prime"])
    plan["hit32"] = [t for t in hot for _ in range(8)]
    rng.shuffle(plan["hit32"])
    u_tiles = [(13, *t) for t in uint16.inner_tiles(13)] + [(14, *t) for t in uint16.inner_tiles(14)]
    rng.shuffle(u_tiles)
    plan["uint16"] = u_tiles[: max(8, round(40 * scale))]
    # Its own file name: tiles may repeat the other phases' (no cache of either server knows them).
    plan["spread"] = spread_tiles(blocks, 1 + max(8, round(SPREAD_TILES * scale)), rng)
    return plan


# -- measuring one phase ------------------------------------------------------------------------


def measure(
    server: Server,
    files: FileServer,
    urls: list[str],
    clients: int,
    minimum_bytes: int | None = None,
) -> dict[str, Any]:
    """Run ``urls`` with ``clients`` clients against ``server``; figures per request."""
    files.traffic.reset()
    files_pid = files._process.pid if files._process else 0
    cpu0, per_worker0 = server.cpu(), server.worker_cpu()
    files0, client0, machine0 = cpu_seconds(files_pid), time.process_time(), machine_busy()
    with TreeRss(server) as tree:
        result = load.run(urls, clients, server.base)
    cpu1, per_worker1 = server.cpu(), server.worker_cpu()
    files1, client1, machine1 = cpu_seconds(files_pid), time.process_time(), machine_busy()
    doc = files.traffic.read()
    requests, nbytes = doc["requests"], doc["bytes_sent"]
    n = max(1, result.count)
    shares = sorted((per_worker1.get(p, 0) - per_worker0.get(p, 0) for p in per_worker1), reverse=True)
    total = sum(shares) or 1.0
    figures: dict[str, Any] = {
        "requests": result.count,
        "errors": result.errors,
        "statuses": result.statuses,
        "p50_ms": result.p50,
        "p95_ms": result.p95,
        "per_s": result.throughput,
        "cpu_ms": (cpu1 - cpu0) * 1000 / n,
        # The rest of the machine's work per request: the shared budget of two cores.
        "fileserver_cpu_ms": (files1 - files0) * 1000 / n,
        "client_cpu_ms": (client1 - client0) * 1000 / n,
        "machine_busy": (machine1[0] - machine0[0]) / max(1, machine1[1] - machine0[1]),
        "worker_cpu_split": [round(s / total, 2) for s in shares],
        "upstream_req": requests / n,
        # One client, one request at a time: the round trips to the origin, one after the other.
        "upstream_rounds": doc["rounds"] / n if clients == 1 else None,
        "upstream_kb": nbytes / 1000 / n,
        "body_kb": result.body_bytes / 1000 / n,
        "worker_rss_mb": max(server.rss_mb().values(), default=0.0),
        # The whole tree (master, workers, relays), its peak while the phase ran.
        "tree_rss_mb": tree.peak_mb,
        "tree_pss_mb": tree.pss_mb,
        "latencies_ms": [round(v, 1) for v in result.latencies_ms],
    }
    if minimum_bytes is not None:
        figures["analytic_kb"] = minimum_bytes / 1000 / n
        figures["bytes_vs_analytic"] = nbytes / minimum_bytes if minimum_bytes else None
    return figures


def tile_phase(
    name: str,
    plan: list[tuple[int, int, int]],
    clients: int,
    fmt: str,
    role: str,
    minimum: Callable[[int, int, int], int] | None,
) -> Callable[[Server, FileServer], dict[str, Any]]:
    """A phase that fetches ``plan``'s tiles of image ``role`` as ``fmt``."""

    def run(server: Server, files: FileServer) -> dict[str, Any]:
        urls = [server.url(role, z, x, y, fmt) for z, x, y in plan]
        total = sum(minimum(*t) for t in plan) if minimum else None
        return measure(server, files, urls, clients, total)

    run.__name__ = name
    return run


def cold_phase(
    plan: list[tuple[int, int, int]],
    minimum: Callable[[int, int, int], int],
    role: str = "big_cog",
    origin: FileServer | None = None,
) -> Callable:
    """The first tile a fresh server serves (the file's open included), then the rest, one client.

    ``role`` is the image asked for and ``origin`` the file server that holds it (the run's own
    when ``None``): the latency phase asks for the same file behind a slower origin."""

    def run(server: Server, files: FileServer) -> dict[str, Any]:
        files = origin or files
        urls = [server.url(role, z, x, y) for z, x, y in plan]
        first = measure(server, files, urls[:1], 1, minimum(*plan[0]))
        rest = measure(server, files, urls[1:], 1, sum(minimum(*t) for t in plan[1:]))
        rest["first"] = first
        return rest

    return run


def opened_phase(
    plan: list[tuple[int, int, int]], role: str, minimum: Callable[[int, int, int], int]
) -> Callable[[Server, FileServer], dict[str, Any]]:
    """``plan``'s first tile opens the file (its figures under ``open``), then the rest one after
    the other, one client: CPU per cold tile of a file already open."""

    def run(server: Server, files: FileServer) -> dict[str, Any]:
        urls = [server.url(role, z, x, y) for z, x, y in plan]
        opened = measure(server, files, urls[:1], 1, minimum(*plan[0]))
        rest = measure(server, files, urls[1:], 1, sum(minimum(*t) for t in plan[1:]))
        rest["open"] = opened
        rest["zooms"] = sorted({z for z, _, _ in plan[1:]})
        return rest

    return run


def thumbnail_phase(role: str, minimum: int | None) -> Callable[[Server, FileServer], dict[str, Any]]:
    """A 256 px PNG thumbnail of ``role`` twice on one connection (one worker), then as JPEG,
    then 128 px as PNG and 1024 px as WebP.

    Memory: the largest growth of one worker's peak RSS over its RSS before, MB.
    """

    def run(server: Server, files: FileServer) -> dict[str, Any]:
        rss0 = server.rss_mb()
        client = load.Client(server.base)
        out: dict[str, Any] = {}
        try:
            steps = (("first", "png", 256), ("second", "png", 256), ("other_format", "jpg", 256))
            steps += (("smaller", "png", 128), ("larger", "webp", 1024))
            for label, fmt, size in steps:
                files.traffic.reset()
                started = time.perf_counter()
                status, body = client.get(server.thumbnail(role, fmt, size))
                elapsed = (time.perf_counter() - started) * 1000
                requests, nbytes = files.traffic.snapshot()
                out[label] = {
                    "status": status,
                    "ms": elapsed,
                    "upstream_req": requests,
                    "upstream_kb": nbytes / 1000,
                    "body_kb": len(body) / 1000,
                }
        finally:
            client.close()
        peaks = {pid: analytic_peak(pid) for pid in rss0}
        out["rss_growth_mb"] = max((peaks[p] - rss0[p] for p in rss0), default=0.0)
        out["worker_rss_mb"] = max(server.rss_mb().values(), default=0.0)
        if minimum is not None:
            out["analytic_kb"] = minimum / 1000
            out["bytes_vs_analytic"] = out["first"]["upstream_kb"] * 1000 / minimum if minimum else None
        later = ("second", "other_format", "smaller", "larger")
        out["later_kb"] = sum(out[k]["upstream_kb"] for k in later)
        return out

    return run


def analytic_peak(pid: int) -> float:
    return memory_kb(pid, "VmHWM") / 1024


def machine_busy() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs so far, from ``/proc/stat`` (other users' load included)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


# -- the run ------------------------------------------------------------------------------------


def write_catalog(path: Path, sources: dict[str, tuple[str, Path]]) -> Path:
    """A GeoJSON catalog of the benchmark images for oam-preview: ``sources`` maps each role
    (the record's id) to the URL it is read from and the local file behind it.

    Each record carries its footprint's bbox, as a real catalog's do, so the workers do not
    open every file in the background before the first request (TiTiler opens on the first
    request too): the cold and first-thumbnail rows compare like with like."""
    import rasterio
    from rasterio.warp import transform_bounds

    features = []
    for role, (url, file) in sources.items():
        with rasterio.open(file) as ds:
            bbox = list(transform_bounds(ds.crs, "EPSG:4326", *ds.bounds, densify_pts=21))
        features.append(
            {
                "type": "Feature",
                "id": role,
                "geometry": None,
                "bbox": bbox,
                "properties": {"title": role, "source_url": url, "provider": "bench"},
            }
        )
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def spread_file(big: Path) -> Path:
    """The big COG under the spread phase's own name (a hard link: no copy), made once."""
    link = big.with_name(f"spread_{big.name}")
    if not link.exists():
        os.link(big, link)
    return link


def start_servers(
    args: argparse.Namespace, workers: int, catalog: Path, sources: dict[str, tuple[str, Path]]
) -> list[Server]:
    """oam-preview and/or TiTiler (``args.only``) with ``workers`` processes each, on fresh ports."""
    servers: list[Server] = []
    try:
        if "oam" in args.only:
            ids = {r: r for r in sources}
            log = WORK / "oam-preview.log"
            servers.append(start_oam_preview(catalog, free_port(), workers, args.threads, ids, log))
        if "titiler" in args.only:
            titiler_ids = {role: url for role, (url, _) in sources.items()}
            titiler_ids["uint16"] += TITILER_UINT16
            servers.append(start_titiler(free_port(), workers, titiler_ids, WORK / "titiler.log"))
    except BaseException:
        for server in servers:
            server.stop()
        raise
    return servers


def run_phases(
    servers: list[Server],
    phases: list[tuple[str, Callable[[Server, FileServer], dict[str, Any]]]],
    files: FileServer,
    into: dict[str, dict[str, Any]],
) -> None:
    """Each phase on each server, alternating which goes first; figures into ``into[server][phase]``."""
    for index, (name, phase) in enumerate(phases):
        order = servers if index % 2 == 0 else list(reversed(servers))
        for server in order:
            figures = phase(server, files)
            into.setdefault(server.name, {})[name] = figures
            print(f"  {server.name:12s} {name:12s} {_brief(figures)}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> dict[str, Any]:
    paths = images.build(WORK)
    big = analytic.BlockMap(paths["big_cog"])
    uint16 = analytic.BlockMap(paths["uint16"])
    plan = make_plan(big, uint16, args.quick)
    counts = [int(n) for n in str(args.workers).split(",")]
    with contextlib.ExitStack() as stack:
        files = stack.enter_context(FileServer(WORK, delay=args.latency / 1000))
        # The latency phase: the big COG again, behind an origin that answers FAR_MS late (an
        # object store's round trip), under its own URL, so neither server has read it yet.
        far = stack.enter_context(FileServer(WORK, delay=args.far / 1000)) if args.far else None
        sources = {role: (f"{files.url}/{p.name}", p) for role, p in paths.items()}
        spread = spread_file(paths["big_cog"])
        sources[SPREAD_ROLE] = (f"{files.url}/{spread.name}", paths["big_cog"])
        if far is not None:
            sources[FAR_ROLE] = (f"{far.url}/{paths['big_cog'].name}", paths["big_cog"])
        phases: list[tuple[str, Callable[[Server, FileServer], dict[str, Any]]]] = [
            ("cold", cold_phase(plan["cold"], big.tile_bytes)),
            ("spread", opened_phase(plan["spread"], SPREAD_ROLE, big.tile_bytes)),
            ("warm", tile_phase("warm", plan["warm"], 1, "png", "big_cog", big.tile_bytes)),
            ("c8", tile_phase("c8", plan["c8"], 8, "png", "big_cog", big.tile_bytes)),
            ("c32", tile_phase("c32", plan["c32"], 32, "png", "big_cog", big.tile_bytes)),
            ("jpeg32", tile_phase("jpeg32", plan["jpeg32"], 32, "jpg", "big_cog", big.tile_bytes)),
            ("hit_prime", tile_phase("hit_prime", plan["hit_prime"], 8, "png", "big_cog", None)),
            ("hit32", tile_phase("hit32", plan["hit32"], 32, "png", "big_cog", None)),
            ("uint16", tile_phase("uint16", plan["uint16"], 8, "png", "uint16", uint16.tile_bytes)),
            ("thumb_cog", thumbnail_phase("big_cog", big.thumbnail_bytes(256))),
            (
                "thumb_noncog",
                thumbnail_phase("stripped", analytic.sampled_block_bytes(paths["stripped"], 256)),
            ),
            (
                "thumb_deflate",
                thumbnail_phase("deflate64", analytic.sampled_block_bytes(paths["deflate64"], 256)),
            ),
            ("thumb_pix4d", thumbnail_phase("pix4d", analytic.sampled_block_bytes(paths["pix4d"], 256))),
        ]
        if far is not None:
            phases.append(("cold_far", cold_phase(plan["cold"], big.tile_bytes, FAR_ROLE, far)))
        if args.phases:
            wanted = set(args.phases.split(","))
            phases = [(name, phase) for name, phase in phases if name in wanted]
        results: dict[str, Any] = {
            "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "git": _git_rev(),
            "config": {
                "quick": args.quick,
                "latency_ms": args.latency,
                "far_latency_ms": args.far,
                "workers": counts[0],
                "more_workers": counts[1:],
                "threads": args.threads,
                "images": {
                    role: {"file": p.name, "mb": round(p.stat().st_size / 1e6, 1)}
                    for role, p in paths.items()
                },
            },
            "servers": {},
            # At the other worker counts: the 32-client phase on fresh servers, {count: {server: phase}}.
            "at_workers": {},
        }
        catalog = write_catalog(WORK / "catalog.geojson", sources)
        servers = start_servers(args, counts[0], catalog, sources)
        try:
            run_phases(servers, phases, files, results["servers"])
            for server in servers:
                figures = results["servers"][server.name]
                figures["peak_rss_mb"] = server.peak_rss_mb()
                figures["relay_rss_mb"] = server.relay_rss_mb()
                figures["peak_tree_rss_mb"] = max(
                    (
                        f["tree_rss_mb"]
                        for f in figures.values()
                        if isinstance(f, dict) and "tree_rss_mb" in f
                    ),
                    default=None,
                )
                for phase in ("c8", "c32"):
                    if phase in figures:
                        figures[phase]["top_share"] = max(figures[phase]["worker_cpu_split"], default=None)
                if "c32" in figures and "warm" in figures:
                    figures["c32"]["vs_sequential"] = figures["c32"]["cpu_ms"] / figures["warm"]["cpu_ms"]
        finally:
            for server in servers:
                server.stop()
        c32 = [(name, phase) for name, phase in phases if name == "c32"]
        for count in counts[1:] if c32 else []:
            servers = start_servers(args, count, catalog, sources)
            try:
                into: dict[str, dict[str, Any]] = {}
                print(f"  at {count} workers:", file=sys.stderr, flush=True)
                run_phases(servers, c32, files, into)
                for server in servers:
                    into[server.name]["peak_rss_mb"] = server.peak_rss_mb()
                results["at_workers"][str(count)] = into
            finally:
                for server in servers:
                    server.stop()
        # The same cold tiles as the sequential and 32-client phases, in this process.
        results["floor"] = {
            "warm": floor.floor(paths["big_cog"], plan["warm"]),
            "c32": floor.floor(paths["big_cog"], plan["c32"]),
            "spread": floor.floor(paths["big_cog"], plan["spread"][1:]),
        }
        for figures in results["servers"].values():
            for phase in ("warm", "c32", "spread"):
                if phase in figures:
                    figures[phase]["vs_floor"] = figures[phase]["cpu_ms"] / results["floor"][phase]["cpu_ms"]
    return results


def _brief(figures: dict[str, Any]) -> str:
    if "p50_ms" in figures:
        return (
            f"n={figures['requests']} err={figures['errors']} p50={figures['p50_ms']:.0f}ms "
            f"p95={figures['p95_ms']:.0f}ms {figures['per_s']:.1f}/s cpu={figures['cpu_ms']:.1f}ms "
            f"up={figures['upstream_req']:.2f}req/{figures['upstream_kb']:.1f}kB"
        )
    return json.dumps({k: v for k, v in figures.items() if k != "analytic_kb"})[:200]


def _git_rev() -> str:
    try:
        return subprocess.run(
            ["git", "-C", str(HERE.parent), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


# -- the table ----------------------------------------------------------------------------------

ROWS: list[tuple[str, str, str, str]] = [
    # label, phase, key, format
    ("open + first tile: upstream requests", "cold.first", "upstream_req", "{:.0f}"),
    ("open + first tile: upstream kB (tile minimum)", "cold.first", "upstream_kb", "{:.1f}"),
    ("cold tile p50 ms (1 client)", "cold", "p50_ms", "{:.0f}"),
    ("cold tile p95 ms (1 client)", "cold", "p95_ms", "{:.0f}"),
    ("spread cold tile CPU ms (1 client, z13-21, file open)", "spread", "cpu_ms", "{:.1f}"),
    ("  / in-process floor (no HTTP, no server)", "spread", "vs_floor", "{:.2f}"),
    ("spread cold tile p50 ms", "spread", "p50_ms", "{:.0f}"),
    ("  upstream kB/tile / analytic minimum", "spread", "bytes_vs_analytic", "{:.2f}"),
    ("warm miss p50 ms (1 client)", "warm", "p50_ms", "{:.0f}"),
    ("warm miss p95 ms (1 client)", "warm", "p95_ms", "{:.0f}"),
    ("warm miss CPU ms/tile (1 client)", "warm", "cpu_ms", "{:.1f}"),
    ("  / in-process floor (no HTTP, no server)", "warm", "vs_floor", "{:.2f}"),
    ("PNG miss tiles/s, 8 clients", "c8", "per_s", "{:.1f}"),
    ("PNG miss p95 ms, 8 clients", "c8", "p95_ms", "{:.0f}"),
    ("  worker CPU shares, 8 clients (largest)", "c8", "top_share", "{:.2f}"),
    ("PNG miss tiles/s, 32 clients", "c32", "per_s", "{:.1f}"),
    ("PNG miss p50 ms, 32 clients", "c32", "p50_ms", "{:.0f}"),
    ("PNG miss p95 ms, 32 clients", "c32", "p95_ms", "{:.0f}"),
    ("PNG miss CPU ms/tile, 32 clients", "c32", "cpu_ms", "{:.1f}"),
    ("  / in-process floor (no HTTP, no server)", "c32", "vs_floor", "{:.2f}"),
    ("  / the same server's 1-client figure", "c32", "vs_sequential", "{:.2f}"),
    ("  worker CPU shares, 32 clients (largest)", "c32", "top_share", "{:.2f}"),
    ("  file server CPU ms/tile, 32 clients", "c32", "fileserver_cpu_ms", "{:.1f}"),
    ("  load client CPU ms/tile, 32 clients", "c32", "client_cpu_ms", "{:.1f}"),
    ("  machine CPU busy, 32 clients", "c32", "machine_busy", "{:.0%}"),
    ("JPEG miss tiles/s, 32 clients", "jpeg32", "per_s", "{:.1f}"),
    ("JPEG miss CPU ms/tile, 32 clients", "jpeg32", "cpu_ms", "{:.1f}"),
    ("upstream req/tile, miss, 32 clients", "c32", "upstream_req", "{:.2f}"),
    ("upstream kB/tile, miss, 32 clients", "c32", "upstream_kb", "{:.1f}"),
    ("  analytic minimum kB/tile", "c32", "analytic_kb", "{:.1f}"),
    ("  bytes / analytic minimum", "c32", "bytes_vs_analytic", "{:.2f}"),
    ("repeated tile tiles/s, 32 clients", "hit32", "per_s", "{:.0f}"),
    ("repeated tile p95 ms, 32 clients", "hit32", "p95_ms", "{:.0f}"),
    ("repeated tile CPU ms", "hit32", "cpu_ms", "{:.2f}"),
    ("repeated tile upstream req/tile", "hit32", "upstream_req", "{:.2f}"),
    ("uint16 tile tiles/s, 8 clients", "uint16", "per_s", "{:.1f}"),
    ("uint16 tile CPU ms/tile", "uint16", "cpu_ms", "{:.1f}"),
    ("uint16 upstream kB/tile (approx. minimum, reprojected)", "uint16", "upstream_kb", "{:.0f}"),
    ("  approx. minimum kB/tile", "uint16", "analytic_kb", "{:.0f}"),
    ("COG thumbnail ms (1st)", "thumb_cog.first", "ms", "{:.0f}"),
    ("COG thumbnail upstream kB (1st)", "thumb_cog.first", "upstream_kb", "{:.1f}"),
    ("  overview minimum kB", "thumb_cog", "analytic_kb", "{:.1f}"),
    ("COG thumbnail upstream kB (2nd)", "thumb_cog.second", "upstream_kb", "{:.1f}"),
    ("non-COG thumbnail ms (1st)", "thumb_noncog.first", "ms", "{:.0f}"),
    ("non-COG thumbnail upstream MB (1st)", "thumb_noncog.first", "upstream_kb", "{:.1f}e-3"),
    ("non-COG thumbnail ms (2nd)", "thumb_noncog.second", "ms", "{:.0f}"),
    ("non-COG thumbnail upstream kB (2nd)", "thumb_noncog.second", "upstream_kb", "{:.1f}"),
    ("non-COG thumbnail upstream kB (as JPEG)", "thumb_noncog.other_format", "upstream_kb", "{:.1f}"),
    ("non-COG thumbnail worker RSS growth MB", "thumb_noncog", "rss_growth_mb", "{:.0f}"),
    ("DEFLATE 64-row strips thumbnail ms (1st)", "thumb_deflate.first", "ms", "{:.0f}"),
    ("DEFLATE 64-row strips thumbnail upstream MB (1st)", "thumb_deflate.first", "upstream_kb", "{:.1f}e-3"),
    ("  requests (1st)", "thumb_deflate.first", "upstream_req", "{:.0f}"),
    ("  sampled strips MB", "thumb_deflate", "analytic_kb", "{:.1f}e-3"),
    ("  upstream / sampled strips", "thumb_deflate", "bytes_vs_analytic", "{:.2f}"),
    ("  upstream kB: 2nd, JPEG, 128 px, 1024 px", "thumb_deflate", "later_kb", "{:.0f}"),
    ("1-row LZW RGBA thumbnail ms (1st)", "thumb_pix4d.first", "ms", "{:.0f}"),
    ("1-row LZW RGBA thumbnail upstream MB (1st)", "thumb_pix4d.first", "upstream_kb", "{:.1f}e-3"),
    ("  requests (1st)", "thumb_pix4d.first", "upstream_req", "{:.0f}"),
    ("  sampled strips MB", "thumb_pix4d", "analytic_kb", "{:.1f}e-3"),
    ("  upstream / sampled strips", "thumb_pix4d", "bytes_vs_analytic", "{:.2f}"),
    ("  upstream kB: 2nd, JPEG, 128 px, 1024 px", "thumb_pix4d", "later_kb", "{:.0f}"),
    ("non-COG (raw) thumbnail upstream / sampled strips", "thumb_noncog", "bytes_vs_analytic", "{:.2f}"),
    ("peak worker RSS MB", "peak_rss_mb", "", "{:.0f}"),
    ("peak tree RSS MB, 32 clients (master + workers + relays)", "c32", "tree_rss_mb", "{:.0f}"),
    ("peak tree RSS MB, any phase", "peak_tree_rss_mb", "", "{:.0f}"),
    ("  tree PSS MB after 32 clients (shared pages split)", "c32", "tree_pss_mb", "{:.0f}"),
    ("  upstream-policy relays' RSS MB (all workers')", "relay_rss_mb", "", "{:.0f}"),
    ("latency phase: open + first tile upstream requests", "cold_far.first", "upstream_req", "{:.0f}"),
    ("latency phase: open + first tile upstream round trips", "cold_far.first", "upstream_rounds", "{:.0f}"),
    ("latency phase: open + first tile ms", "cold_far.first", "p50_ms", "{:.0f}"),
    ("latency phase: cold tile p50 ms (1 client)", "cold_far", "p50_ms", "{:.0f}"),
    ("latency phase: cold tile p95 ms (1 client)", "cold_far", "p95_ms", "{:.0f}"),
    ("latency phase: cold tile upstream req/tile", "cold_far", "upstream_req", "{:.2f}"),
]
#: Issues 18 and 37's performance goals: (label, phase, key, target ratio oam-preview / TiTiler,
#: whether the ratio must be at least the target rather than at most).
GOALS: list[tuple[str, str, str, float, bool]] = [
    ("peak worker RSS, MB", "peak_rss_mb", "", 1.0, False),
    ("peak tree RSS (master + workers + relays), 32 clients, MB", "c32", "tree_rss_mb", 1.0, False),
    ("first thumbnail of the 8000² DEFLATE non-COG, ms", "thumb_deflate.first", "ms", 0.8, False),
    ("CPU per cold PNG tile, 1 client (warm miss), ms", "warm", "cpu_ms", 0.5, False),
    ("CPU per cold tile, 1 client, spread over z13-21, ms", "spread", "cpu_ms", 0.5, False),
    ("PNG miss tiles/s, 32 clients", "c32", "per_s", 2.0, True),
    ("latency phase: cold tile p50, ms", "cold_far", "p50_ms", 1.0, False),
    (
        "latency phase: open + first tile, upstream round trips",
        "cold_far.first",
        "upstream_rounds",
        1.0,
        False,
    ),
]
#: The goals measured again at each other worker count (``--workers 2,4``).
WORKER_GOALS = [GOALS[0], GOALS[1]]
FLOOR_ROWS = [
    ("in-process floor CPU ms/tile (the warm tiles)", "warm", "cpu_ms"),
    ("  read (decode + warp) / to_pixels / PNG encode ms", "warm", "parts"),
    ("in-process floor CPU ms/tile (the 32-client tiles)", "c32", "cpu_ms"),
    ("in-process floor CPU ms/tile (the spread tiles)", "spread", "cpu_ms"),
    ("  read (decode + warp) / to_pixels / PNG encode ms", "spread", "parts"),
]


def table(results: dict[str, Any]) -> str:
    """The figures as a Markdown table, one column per server and oam-preview/TiTiler ratios."""
    names = list(results["servers"])
    header = ["measure", *names] + (["ratio"] if len(names) == 2 else [])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, phase, key, fmt in ROWS:
        values = [chart.lookup(results["servers"][n], phase, key) for n in names]
        cells = [_cell(v, fmt) for v in values]
        if len(values) == 2:
            a, b = values
            cells.append(f"{a / b:.2f}" if a is not None and b else "")
        lines.append("| " + " | ".join([label, *cells]) + " |")
    for label, phase, key in FLOOR_ROWS if "floor" in results else []:
        f = results["floor"].get(phase)
        if f is None:
            continue
        text = (
            f"{f['read_ms']:.1f} / {f['pixels_ms']:.1f} / {f['encode_ms']:.1f}"
            if key == "parts"
            else f"{f[key]:.1f}"
        )
        lines.append("| " + " | ".join([label, text, *[""] * (len(header) - 2)]) + " |")
    return "\n".join(lines)


def goals(results: dict[str, Any]) -> str:
    """The goals as a Markdown table: both servers' figures, the ratio, the target, met or not;
    the memory goals again at each other worker count."""
    servers = results["servers"]
    if set(servers) != {"oam-preview", "titiler"}:
        return "(the goals compare with TiTiler: run both servers)"
    far = results["config"].get("far_latency_ms") or 0
    workers = results["config"]["workers"]
    lines = [
        f"Goals (ratio = oam-preview / TiTiler; {workers} workers each unless said; "
        f"latency phase: upstream {far:.0f} ms late):",
        "",
        "| goal | oam-preview | TiTiler | ratio | target | met |",
        "|---|---|---|---|---|---|",
    ]
    rows = [(label, servers, goal) for label, *goal in GOALS]
    for count, at in results.get("at_workers", {}).items():
        if set(at) == {"oam-preview", "titiler"}:
            rows += [(f"{label}, {count} workers", at, goal) for label, *goal in WORKER_GOALS]
    for label, figures, (phase, key, target, at_least) in rows:
        ours, theirs = (chart.lookup(figures[n], phase, key) for n in ("oam-preview", "titiler"))
        sign = "≥" if at_least else "≤"
        if ours is None or not theirs:
            lines.append(f"| {label} | — | — | — | {sign} {target:.2f} | not measured |")
            continue
        ratio = ours / theirs
        met = "yes" if (ratio >= target if at_least else ratio <= target) else "no"
        lines.append(f"| {label} | {ours:.1f} | {theirs:.1f} | {ratio:.2f} | {sign} {target:.2f} | {met} |")
    return "\n".join(lines)


def _cell(value: float | None, fmt: str) -> str:
    if value is None:
        return "—"
    if fmt.endswith("e-3"):
        return fmt[: -len("e-3")].format(value / 1000)
    return fmt.format(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a third of the requests (about a minute)")
    parser.add_argument("--latency", type=float, default=0.0, help="ms added before each upstream answer")
    parser.add_argument(
        "--far",
        type=float,
        default=FAR_MS,
        help="ms the latency phase's origin waits before each answer (0: no latency phase)",
    )
    parser.add_argument(
        "--workers",
        default="2,4",
        help="worker processes of each server; more counts (2,4): the 32-client phase again at each",
    )
    parser.add_argument("--threads", type=int, default=8, help="threads per oam-preview worker")
    parser.add_argument("--only", default="oam,titiler", help="comma-separated: oam, titiler")
    parser.add_argument("--phases", default="", help="comma-separated phase names (default: all)")
    args = parser.parse_args(argv)
    try:
        import titiler.application  # noqa: F401
    except ImportError:
        if "titiler" in args.only:
            print(
                "TiTiler is not installed (pip install -e '.[bench]'); running oam-preview alone",
                file=sys.stderr,
            )
            args.only = "oam"
    started = time.perf_counter()
    load_before = os.getloadavg()
    results = run(args)
    # Other users of the machine's cores make ratios noisy: say how busy it was.
    results["load"] = " / ".join(f"{v:.1f}" for v in (*load_before, *os.getloadavg()[:1]))
    results["wall_s"] = round(time.perf_counter() - started, 1)
    RESULTS.mkdir(exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = RESULTS / f"tiles-{stamp}.json"
    out.write_text(json.dumps(results, indent=2))
    cfg = results["config"]
    print(
        f"\n{cfg['workers']} workers each (and {cfg['more_workers'] or 'no other count'} for the "
        f"32-client phase); oam-preview {cfg['threads']} threads/worker; "
        f"upstream latency {cfg['latency_ms']:.0f} ms; {'quick' if cfg['quick'] else 'full'} run "
        f"at {results['git']} in {results['wall_s']:.0f} s; ratio = oam-preview / TiTiler; "
        f"load average (1, 5, 15 min before; 1 min after) {results['load']}\n"
    )
    print(table(results))
    print()
    print(goals(results))
    print(f"\nJSON: {out.relative_to(HERE.parent)}")
    if not args.phases:  # a whole run: its picture, and the README's copy
        picture = chart.chart(results, out.with_suffix(".png"))
        (HERE.parent / "docs" / "bench.png").write_bytes(picture.read_bytes())
        print(f"chart: {picture.relative_to(HERE.parent)} (and docs/bench.png)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
