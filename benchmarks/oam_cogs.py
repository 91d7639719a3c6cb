"""Cold tiles of COGs as OpenAerialMap now writes them (issue 32): oam-preview against TiTiler, one run.

    .venv/bin/python -m benchmarks.oam_cogs [--tiles N] [--workers N] [--threads N] [--rounds N]

Builds two images once into ``benchmarks/work/`` with OAM's upload recipe (lossless ZSTD level
12, 512 px blocks, predictor by data type, ``average`` overviews; GDAL's COG driver): a 4096²
uint8 RGB aerial (horizontal predictor) and a 4096² float32 DSM (floating-point predictor,
nodata -9999), both in EPSG:3857 off the tile grid. Serves them from the Range-capable
:class:`~tests.support.fileserver.FileServer`, starts ``oam-preview serve`` and TiTiler with the
same worker count (``servers.py``, as ``tiles.py`` does) and asks both, one client, for the same
seeded tiles (zooms native-2 to native, wholly inside), no two of which need the same block, so
every tile is a miss for every cache and its bytes compare with its own minimum:

- ``rgb``: the aerial as it is;
- ``dsm``: the DSM with ``bidx=1&rescale=800,1500&colormap_name=terrain`` (the same stretch
  for both servers; TiTiler has no default for a float DSM);
- ``hillshade``: the DSM's same tiles with ``algorithm=hillshade`` (TiTiler told to read the 1 px
  buffer oam-preview reads), from a second file server so no cache holds the ``dsm`` phase's blocks;
- with ``--rounds N``, ``dsm_round1``..``N``: the ``dsm`` phase again, each under a URL of its own
  (nothing cached), by servers warm from the phases before (the ``dsm`` phase also measures a
  fresh worker's first float tiles: GDAL's block cache growing to its bound).

Each image is opened by a tile outside the plan first (headers, not counted). Per phase, from
``tiles.measure``: CPU ms per tile (the server's process tree, ``/proc``), upstream requests and
bytes per tile (the file server's counters) against the analytic minimum (``analytic.py``: the
compressed blocks under the tile at the overview GDAL reads; for the hillshade, under the tile and
oam-preview's 1 px buffer). Goals: CPU ≤ 0.5x TiTiler's, upstream bytes ≤ 1.1x the analytic
minimum, the hillshade tile's upstream bytes ≤ 1.3x the plain DSM tile's. The same tiles are then
read in this process with no HTTP and no server (``floor.py``): decoding the ZSTD blocks is a floor
under any server's CPU per tile. Prints a table and the goals, and writes JSON to
``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from rasterio.transform import from_origin

from benchmarks import analytic, floor, images
from benchmarks.rendering import inner_tiles
from benchmarks.servers import Server, start_oam_preview, start_titiler
from benchmarks.tiles import measure, write_catalog
from tests.support.fileserver import FileServer
from tests.support.processes import free_port

HERE = Path(__file__).resolve().parent

WORK = HERE / "work"
RESULTS = HERE / "results"
SEED = 32
SIZE = 4096
#: OAM's upload recipe: GDAL COG driver options (with ``images.BLOCK``, 512 px blocks).
OAM_COG = {"COMPRESS": "ZSTD", "LEVEL": 12, "PREDICTOR": "YES", "OVERVIEW_RESAMPLING": "AVERAGE"}
NAMES = {"rgb": "oam_zstd_rgb_v1.tif", "dsm": "oam_zstd_dsm_v1.tif"}
#: The DSM: Web Mercator metres (west, north) and pixel size (near zoom 18's 0.597 m, off its grid).
DSM_ORIGIN = (3253917.3, -184611.9, 0.55)
NODATA = -9999.0
#: The one stretch both servers draw the DSM with.
DSM_QUERY = "bidx=1&rescale=800,1500&colormap_name=terrain"
#: oam-preview's hillshade reads this many pixels around a tile (``Algorithm.buffer``).
HILLSHADE_BUFFER = 1
#: TiTiler's tile route reads no buffer unless asked (``buffer=``), and its hillshade crops its
#: own (3 px by default): asked for the same 1 px, so both do the same work.
TITILER_HILLSHADE = "algorithm=hillshade&algorithm_params=%7B%22buffer%22%3A1%7D&buffer=1"


# -- the images ------------------------------------------------------------------------------------


def dsm_block(row0: int, rows: int, cols: int) -> np.ndarray:
    """(1, rows, cols) float32 heights, metres (800-1400, like a valley DSM): two ridges, a hill
    and rows of trees a few metres apart (tests/support/terrain.py's surface, at 0.55 m)."""
    res = DSM_ORIGIN[2]
    y = (np.arange(row0, row0 + rows, dtype=np.float32)[:, None]) * res
    x = np.arange(cols, dtype=np.float32)[None, :] * res
    ridges = 150 * np.sin(x / 210.0) * np.cos(y / 170.0) + 60 * np.sin((x + y) / 90.0)
    hill = 220 * np.exp(-((x - 1100) ** 2 + (y - 1000) ** 2) / (2 * 380.0**2))
    trees = 4 * np.sin(x / 5.0) * np.cos(y / 6.0)
    return (1050 + ridges + hill + trees).astype(np.float32)[np.newaxis]


def build_rgb(path: Path) -> None:
    """The 4096² uint8 RGB aerial (the big COG's pixels) as a ZSTD-12 COG, a few seconds."""
    parcels, texture = images._parcels(7, SIZE // 96 + 1), images._texture(8)
    west, north, res = images.BIG_ORIGIN
    raw = path.with_suffix(".raw.tif")
    profile = {
        "driver": "GTiff", "width": SIZE, "height": SIZE, "count": 3, "dtype": "uint8",
        "crs": "EPSG:3857", "transform": from_origin(west, north, res, res), "tiled": True,
        "blockxsize": images.BLOCK, "blockysize": images.BLOCK, "compress": "ZSTD", "photometric": "RGB",
    }  # fmt: skip
    images._write_blockwise(
        raw,
        profile,
        lambda w: images.rgb_block(int(w.row_off), 0, int(w.height), int(w.width), parcels, texture),
    )
    images._to_cog(raw, path, **OAM_COG)


def build_dsm(path: Path) -> None:
    """The 4096² float32 DSM (nodata -9999 in a corner) as a ZSTD-12 COG, floating-point predictor."""
    west, north, res = DSM_ORIGIN
    raw = path.with_suffix(".raw.tif")
    profile = {
        "driver": "GTiff", "width": SIZE, "height": SIZE, "count": 1, "dtype": "float32",
        "crs": "EPSG:3857", "transform": from_origin(west, north, res, res), "tiled": True,
        "blockxsize": images.BLOCK, "blockysize": images.BLOCK, "compress": "ZSTD", "nodata": NODATA,
    }  # fmt: skip

    def produce(window: Any) -> np.ndarray:
        block = dsm_block(int(window.row_off), int(window.height), int(window.width))
        if window.row_off < 200:  # a survey's missing corner
            block[0, : 200 - int(window.row_off), :200] = NODATA
        return block

    images._write_blockwise(raw, profile, produce)
    images._to_cog(raw, path, **OAM_COG)


def ensure_images() -> dict[str, Path]:
    WORK.mkdir(parents=True, exist_ok=True)
    paths = {role: WORK / name for role, name in NAMES.items()}
    for role, build in (("rgb", build_rgb), ("dsm", build_dsm)):
        if not paths[role].exists():
            build(paths[role])
    return paths


# -- the run ---------------------------------------------------------------------------------------


def disjoint_tiles(
    blocks: analytic.BlockMap, pool: list[tuple[int, int, int]], count: int, buffer: float
) -> list[tuple[int, int, int]]:
    """Up to ``count`` tiles of ``pool`` (in its order) of which no two need the same block (their
    ``buffer`` px around them included): every tile's blocks are a miss for every cache, so each
    tile's upstream bytes compare with its own analytic minimum."""
    taken: set[tuple[int, int, int]] = set()
    chosen = []
    for tile in pool:
        needed = blocks.tile_blocks(*tile, buffer=buffer)
        if needed.isdisjoint(taken):
            taken |= needed
            chosen.append(tile)
            if len(chosen) == count:
                break
    return chosen


def with_query(url: str, query: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}{query}" if query else url


def run(args: argparse.Namespace) -> dict[str, Any]:
    paths = ensure_images()
    blocks = {role: analytic.BlockMap(path) for role, path in paths.items()}
    rng = random.Random(SEED)
    # One tile more than the plan: the first opens the file (headers, not counted). The DSM's
    # tiles are disjoint with the hillshade's buffer too: the hillshade phase asks for the same.
    plan = {
        role: disjoint_tiles(blocks[role], inner_tiles(path, 10**6, rng), args.tiles + 1, HILLSHADE_BUFFER)
        for role, path in paths.items()
    }
    results: dict[str, Any] = {
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "config": {"tiles": args.tiles, "workers": args.workers, "threads": args.threads, "rounds": args.rounds,
                   "images": {r: {"file": p.name, "mb": round(p.stat().st_size / 1e6, 1)}
                              for r, p in paths.items()}},
        "servers": {},
    }  # fmt: skip
    with contextlib.ExitStack() as stack:
        files = stack.enter_context(FileServer(WORK))
        # The hillshade phase's origin: the same DSM under another URL, so neither server's
        # caches (GDAL's blocks by URL, oam-preview's tiles) hold what the dsm phase read.
        shade_files = stack.enter_context(FileServer(WORK))
        sources = {role: (f"{files.url}/{p.name}", p) for role, p in paths.items()}
        sources["dsm_shade"] = (f"{shade_files.url}/{paths['dsm'].name}", paths["dsm"])
        # --rounds: the DSM phase again, each round under a URL of its own (no cache holds its
        # blocks or tiles), the server's process warm from the phases before.
        for i in range(1, args.rounds + 1):
            sources[f"dsm_round{i}"] = (f"{files.url}/{paths['dsm'].name}?round={i}", paths["dsm"])
        # (phase, image role, origin, oam-preview's query, TiTiler's query, minimum bytes of a tile)
        phases = [
            ("rgb", "rgb", files, "", "", blocks["rgb"].tile_bytes),
            ("dsm", "dsm", files, DSM_QUERY, DSM_QUERY, blocks["dsm"].tile_bytes),
            (
                "hillshade", "dsm_shade", shade_files, "algorithm=hillshade", TITILER_HILLSHADE,
                lambda z, x, y: blocks["dsm"].tile_bytes(z, x, y, buffer=HILLSHADE_BUFFER),
            ),
        ]  # fmt: skip
        phases += [
            (f"dsm_round{i}", f"dsm_round{i}", files, DSM_QUERY, DSM_QUERY, blocks["dsm"].tile_bytes)
            for i in range(1, args.rounds + 1)
        ]
        catalog = write_catalog(WORK / "oam_cogs.geojson", sources)
        servers: list[Server] = []
        try:
            servers.append(
                start_oam_preview(
                    catalog, free_port(), args.workers, args.threads, {r: r for r in sources},
                    WORK / "oam-preview.log",
                )
            )  # fmt: skip
            if args.titiler:
                titiler_ids = {role: url for role, (url, _) in sources.items()}
                servers.append(start_titiler(free_port(), args.workers, titiler_ids, WORK / "titiler.log"))
            for index, (name, role, origin, ours, theirs, minimum) in enumerate(phases):
                tiles = plan["rgb" if role == "rgb" else "dsm"]
                order = servers if index % 2 == 0 else list(reversed(servers))
                for server in order:
                    query = ours if server.name == "oam-preview" else theirs
                    urls = [with_query(server.url(role, z, x, y, "png"), query) for z, x, y in tiles]
                    opened = measure(server, origin, urls[:1], 1)  # the file's open: not counted
                    assert not opened["errors"], (server.name, name, opened["statuses"])
                    figures = measure(server, origin, urls[1:], 1, sum(minimum(*t) for t in tiles[1:]))
                    figures["open_kb"] = opened["upstream_kb"]
                    results["servers"].setdefault(server.name, {})[name] = figures
                    print(
                        f"  {server.name:12s} {name:10s} n={figures['requests']} err={figures['errors']} "
                        f"cpu={figures['cpu_ms']:.1f}ms up={figures['upstream_req']:.2f}req/"
                        f"{figures['upstream_kb']:.1f}kB (minimum {figures['analytic_kb']:.1f}kB)",
                        file=sys.stderr,
                        flush=True,
                    )
        finally:
            for server in servers:
                server.stop()
    # The same tiles decoded, warped and encoded in this process, no HTTP, no server: the read
    # (decoding ZSTD blocks) is a floor under any server's CPU per tile.
    results["floor"] = {role: floor.floor(path, plan[role][1:]) for role, path in paths.items()}
    for figures in results["servers"].values():
        if "dsm" in figures and "hillshade" in figures:
            figures["hillshade"]["vs_plain_bytes"] = (
                figures["hillshade"]["upstream_kb"] / figures["dsm"]["upstream_kb"]
            )
    return results


# -- the tables ------------------------------------------------------------------------------------

#: label, phase, key, format
ROWS = [
    ("RGB tile CPU ms", "rgb", "cpu_ms", "{:.1f}"),
    ("RGB tile p50 ms", "rgb", "p50_ms", "{:.0f}"),
    ("RGB upstream req/tile", "rgb", "upstream_req", "{:.2f}"),
    ("RGB upstream kB/tile", "rgb", "upstream_kb", "{:.1f}"),
    ("  analytic minimum kB/tile", "rgb", "analytic_kb", "{:.1f}"),
    ("  bytes / analytic minimum", "rgb", "bytes_vs_analytic", "{:.2f}"),
    ("DSM tile (rescale + terrain) CPU ms", "dsm", "cpu_ms", "{:.1f}"),
    ("DSM tile p50 ms", "dsm", "p50_ms", "{:.0f}"),
    ("DSM upstream req/tile", "dsm", "upstream_req", "{:.2f}"),
    ("DSM upstream kB/tile", "dsm", "upstream_kb", "{:.1f}"),
    ("  analytic minimum kB/tile", "dsm", "analytic_kb", "{:.1f}"),
    ("  bytes / analytic minimum", "dsm", "bytes_vs_analytic", "{:.2f}"),
    ("hillshade tile CPU ms", "hillshade", "cpu_ms", "{:.1f}"),
    ("hillshade tile p50 ms", "hillshade", "p50_ms", "{:.0f}"),
    ("hillshade upstream req/tile", "hillshade", "upstream_req", "{:.2f}"),
    ("hillshade upstream kB/tile", "hillshade", "upstream_kb", "{:.1f}"),
    ("  analytic minimum kB/tile (tile + 1 px)", "hillshade", "analytic_kb", "{:.1f}"),
    ("  bytes / analytic minimum", "hillshade", "bytes_vs_analytic", "{:.2f}"),
    ("  bytes / the plain DSM tile's", "hillshade", "vs_plain_bytes", "{:.2f}"),
]


def table(results: dict[str, Any]) -> str:
    names = list(results["servers"])
    header = ["measure", *names] + (["ratio"] if len(names) == 2 else [])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    rounds = sorted({k for n in names for k in results["servers"][n] if k.startswith("dsm_round")})
    for label, phase, key, fmt in [
        *ROWS,
        *((f"DSM tile CPU ms, {r}", r, "cpu_ms", "{:.1f}") for r in rounds),
    ]:
        values = [results["servers"][n].get(phase, {}).get(key) for n in names]
        cells = ["—" if v is None else fmt.format(v) for v in values]
        if len(values) == 2:
            a, b = values
            cells.append(f"{a / b:.2f}" if a is not None and b else "")
        lines.append("| " + " | ".join([label, *cells]) + " |")
    for role, what in (("rgb", "RGB"), ("dsm", "DSM")):
        f = results.get("floor", {}).get(role)
        if f:
            label = f"in-process floor, {what}: read (decode + warp) / all, ms/tile"
            text = f"{f['read_ms']:.1f} / {f['cpu_ms']:.1f}"
            lines.append("| " + " | ".join([label, text, *[""] * (len(header) - 2)]) + " |")
    return "\n".join(lines)


def goals(results: dict[str, Any]) -> str:
    """Issue 32's goals: CPU against TiTiler's, bytes against the analytic minimum and the plain tile."""
    servers = results["servers"]
    ours, theirs = servers.get("oam-preview", {}), servers.get("titiler", {})
    lines = [
        "Goals (issue 32; ZSTD-12 512 px COGs as OAM writes them):",
        "",
        "| goal | oam-preview | TiTiler | ratio | target | met |",
        "|---|---|---|---|---|---|",
    ]

    def row(label: str, mine: float | None, peer: float | None, ratio: float | None, target: float) -> None:
        cells = ["—" if v is None else f"{v:.1f}" for v in (mine, peer)]
        if ratio is None:
            lines.append(f"| {label} | {cells[0]} | {cells[1]} | — | ≤ {target:.2f} | not measured |")
        else:
            met = "yes" if ratio <= target else "no"
            lines.append(f"| {label} | {cells[0]} | {cells[1]} | {ratio:.2f} | ≤ {target:.2f} | {met} |")

    for phase, what in (("rgb", "uint8 RGB"), ("dsm", "float32 DSM"), ("hillshade", "DSM hillshade")):
        mine, peer = ours.get(phase, {}).get("cpu_ms"), theirs.get(phase, {}).get("cpu_ms")
        row(
            f"CPU per cold {what} tile, ms (/ TiTiler's)",
            mine,
            peer,
            mine / peer if mine and peer else None,
            0.5,
        )
    for phase, what in (("rgb", "uint8 RGB"), ("dsm", "float32 DSM"), ("hillshade", "DSM hillshade")):
        f = ours.get(phase, {})
        row(
            f"upstream kB per {what} tile (/ analytic minimum {f.get('analytic_kb', 0):.1f} kB)",
            f.get("upstream_kb"), theirs.get(phase, {}).get("upstream_kb"), f.get("bytes_vs_analytic"), 1.1,
        )  # fmt: skip
    rounds = sorted(k for k in ours if k.startswith("dsm_round"))
    if rounds:  # the same tiles, each round a fresh URL, after the phases above: a warm process
        mine = statistics.median(ours[k]["cpu_ms"] for k in rounds)
        peer = (
            statistics.median(theirs[k]["cpu_ms"] for k in rounds)
            if all(k in theirs for k in rounds)
            else None
        )
        row(
            f"CPU per cold float32 DSM tile, median of {len(rounds)} more rounds, ms (/ TiTiler's)",
            mine, peer, mine / peer if peer else None, 0.5,
        )  # fmt: skip
    shade, plain = ours.get("hillshade", {}), ours.get("dsm", {})
    row(
        "upstream kB per hillshade tile, buffer included (/ the plain DSM tile's)",
        shade.get("upstream_kb"), plain.get("upstream_kb"), shade.get("vs_plain_bytes"), 1.3,
    )  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--tiles", type=int, default=30, help="tiles per phase (default 30; at most about 40 are disjoint)"
    )
    parser.add_argument("--workers", type=int, default=1, help="worker processes of each server")
    parser.add_argument(
        "--rounds", type=int, default=0,
        help="the DSM phase this many more times, each under a fresh URL (a warm server's cold tiles)",
    )  # fmt: skip
    parser.add_argument("--threads", type=int, default=4, help="threads per oam-preview worker")
    args = parser.parse_args(argv)
    try:
        import titiler.application  # noqa: F401
    except ImportError:
        print(
            "TiTiler is not installed (pip install -e '.[bench]'); running oam-preview alone", file=sys.stderr
        )
        args.titiler = False
    else:
        args.titiler = True
    started, load_before = time.perf_counter(), os.getloadavg()
    results = run(args)
    results["load"] = " / ".join(f"{v:.1f}" for v in (*load_before, *os.getloadavg()[:1]))
    results["wall_s"] = round(time.perf_counter() - started, 1)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"oam_cogs-{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(results, indent=2))
    print(
        f"\n{args.tiles} cold tiles per phase, 1 client; {args.workers} worker(s) each, oam-preview "
        f"{args.threads} threads/worker; {results['wall_s']:.0f} s; ratio = oam-preview / TiTiler; "
        f"load average (1, 5, 15 min before; 1 min after) {results['load']}\n"
    )
    print(table(results))
    print()
    print(goals(results))
    print(f"\nJSON: {out.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
