"""Where a sequential cold tile's CPU goes: oam-preview and TiTiler sampled by py-spy, stage by stage.

    .venv/bin/python -m pip install py-spy
    .venv/bin/python -m benchmarks.cold_profile [--image big_cog|rgb|dsm] [--tiles N] [--rate HZ]

Starts each server with two workers (one busy at a time), opens the image with one tile (not counted), then asks for
``--tiles`` cold tiles one after the other (``tiles.spread_tiles``: zooms taken in turn, no block
shared by consecutive tiles, the image's edges included) while ``py-spy record --native``
samples the server's process tree. Each sample's stack is put in one stage (:data:`STAGES`, the
deepest frame that names one wins); a stage's share of the samples times the CPU per tile the
server's tree spent (``/proc``, as ``tiles.measure`` reads it) is its ms per tile. Sampling
costs the servers some CPU of their own (both alike); the shares, not the absolute figures, are
the point. ``dsm`` draws the float32 DSM with a stretch and the terrain colormap, as
``oam_cogs.py`` does. Prints a Markdown table and writes the collapsed stacks and JSON to
``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks import analytic, images, oam_cogs
from benchmarks.servers import Server, start_oam_preview, start_titiler
from benchmarks.tiles import measure, spread_tiles, write_catalog
from tests.support.fileserver import FileServer
from tests.support.processes import free_port

HERE = Path(__file__).resolve().parent

WORK = HERE / "work"
RESULTS = HERE / "results"
SEED = 37
#: Each image's zooms (native and a few coarser and finer) and the query both servers are given.
IMAGES = {
    "big_cog": (tuple(range(13, 22)), ""),
    "rgb": (tuple(range(14, 21)), ""),
    "dsm": (tuple(range(14, 21)), oam_cogs.DSM_QUERY),
}
#: (stage, pattern of a frame): a sample belongs to the deepest frame matching one (the order of
#: this list breaks ties within one frame). Python frames are "function (file:line)", native ones
#: "symbol (library)".
STAGES: list[tuple[str, str]] = [
    ("HTTP server (accept, parse, respond)", r"gunicorn|uvicorn|h11|httptools|asyncio|selectors|socket"),
    ("framework (routing, request, response)", r"flask|werkzeug|starlette|fastapi|anyio|pydantic"),
    ("app: parameters, version, keys", r"oam_preview/(web|tiler/(rendering|renders|imagery))|titiler/core/"),
    ("response cache (lookup, lock, write)", r"oam_preview/cache/|sqlite|fcntl"),
    ("thread hand-off", r"concurrent/futures|threading\.py|queue\.py|contextvars"),
    ("rio-tiler / rasterio (Python)", r"rio_tiler|rasterio|morecantile|pyproj"),
    (
        "GDAL read (I/O, block cache)",
        r"GDALRasterBlock|GDALDataset::RasterIO|GDALRasterBand::|GTiff|VSI|curl|CPL",
    ),
    (
        "decode (JPEG/ZSTD/predictor)",
        r"jpeg|jsimd|decode_mcu|ycc|ZSTD|zstd|HUF_|FSE_|Predictor|horDiff|fpDiff",
    ),
    ("warp (reproject, resample)", r"GDALWarp|GWK|WarpKernel|Resample|GDALApproxTransform|proj_|PJ"),
    (
        "to_pixels (mask, stretch, colormap)",
        r"to_pixels|render\.py.*(stretch|invalid_pixels)|colormap|post_process|rescale|apply_cmap",
    ),
    (
        "encode (PNG, zlib)",
        r"oam_preview/tiler/render\.py:\d+\)$|encode|png|deflate|zlib|crc32|adler32|PNG|ImageData\.render",
    ),
]
ORDER = [name for name, _ in STAGES] + ["other (interpreter, GC, libc)"]
#: A thread blocked in one of these is waiting, not working: py-spy's native stacks do not say
#: so themselves (a futex wait under a lock is sampled like work), so such samples are dropped.
WAITING = re.compile(
    r"^(PyThread_acquire_lock_timed|pthread_cond_(timed)?wait|_queue_SimpleQueue_get_impl|"
    r"lock_PyThread_acquire_lock|epoll_wait|select|poll|accept4?|recv|__libc_recv|read|nanosleep|"
    r"clock_nanosleep|time_sleep|sem_wait|sem_timedwait|splice) "
)


def stage_of(stack: str) -> str | None:
    """The stage of one collapsed stack (frames root first, separated by ``;``); None when its
    thread was waiting (the innermost frame but libc's unnamed ones is a wait)."""
    frames = stack.split(";")
    inner = next((f for f in reversed(frames) if not f.startswith("0x")), "")
    if WAITING.match(inner):
        return None
    found = ORDER[-1]
    for frame in frames:
        for name, pattern in COMPILED:
            if pattern.search(frame):
                found = name
                break
    return found


COMPILED = [(name, re.compile(pattern)) for name, pattern in STAGES]


def breakdown(collapsed: str) -> Counter[str]:
    """Samples per stage of py-spy's ``--format raw`` output (a stack and its count per line)."""
    counts: Counter[str] = Counter()
    for line in collapsed.splitlines():
        stack, _, n = line.rpartition(" ")
        stage = stage_of(stack) if stack and n.isdigit() else None
        if stage is not None:
            counts[stage] += int(n)
    return counts


def profiled(server: Server, urls: list[str], files: FileServer, rate: int, out: Path) -> dict[str, Any]:
    """``urls`` one after the other while py-spy samples ``server``'s tree; figures and stages."""
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy"
    argv = [
        spy,
        "record",
        "--pid",
        str(server.process.pid),
        "--subprocesses",
        "--native",
        "--rate",
        str(rate),
    ]
    argv += ["--format", "raw", "--output", str(out)]  # native stacks: the process paused per sample
    spying = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=out.with_suffix(".log").open("wb"))
    time.sleep(2.0)  # py-spy attached
    try:
        figures = measure(server, files, urls, 1)
    finally:
        spying.send_signal(signal.SIGINT)
        spying.wait(timeout=60)
    counts = breakdown(out.read_text()) if out.exists() else Counter()
    total = sum(counts.values()) or 1
    figures["stages_ms"] = {name: figures["cpu_ms"] * counts[name] / total for name in ORDER}
    figures["samples"] = total
    return figures


def run(args: argparse.Namespace) -> dict[str, Any]:
    path = images.build(WORK)["big_cog"] if args.image == "big_cog" else oam_cogs.ensure_images()[args.image]
    zooms, query = IMAGES[args.image]
    blocks = analytic.BlockMap(path)
    plan = spread_tiles(blocks, args.tiles + 1, random.Random(SEED), zooms)
    results: dict[str, Any] = {"image": args.image, "tiles": len(plan) - 1, "servers": {}}
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    RESULTS.mkdir(exist_ok=True)
    with contextlib.ExitStack() as stack:
        files = stack.enter_context(FileServer(WORK))
        sources = {args.image: (f"{files.url}/{path.name}", path)}
        catalog = write_catalog(WORK / "cold_profile.geojson", sources)
        starts = [
            lambda: start_oam_preview(
                catalog, free_port(), 2, 8, {args.image: args.image}, WORK / "oam-preview.log"
            ),
            lambda: start_titiler(free_port(), 2, {args.image: sources[args.image][0]}, WORK / "titiler.log"),
        ]
        for start in starts:
            server = start()
            try:
                urls = [server.url(args.image, z, x, y) for z, x, y in plan]
                urls = [f"{u}{'&' if '?' in u else '?'}{query}" if query else u for u in urls]
                measure(server, files, urls[:1], 1)  # the open
                out = RESULTS / f"cold_profile-{stamp}-{args.image}-{server.name}.txt"
                figures = profiled(server, urls[1:], files, args.rate, out)
                results["servers"][server.name] = figures
                print(f"  {server.name}: cpu={figures['cpu_ms']:.1f} ms/tile", file=sys.stderr, flush=True)
            finally:
                server.stop()
    (RESULTS / f"cold_profile-{stamp}-{args.image}.json").write_text(json.dumps(results, indent=2))
    return results


def table(results: dict[str, Any]) -> str:
    names = list(results["servers"])
    header = ["stage, ms per cold tile", *names] + (["ratio"] if len(names) == 2 else [])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    rows = [*ORDER, "total (CPU of the process tree)"]
    for stage in rows:
        values = [
            results["servers"][n]["cpu_ms"]
            if stage.startswith("total")
            else results["servers"][n]["stages_ms"][stage]
            for n in names
        ]
        cells = [f"{v:.1f}" for v in values]
        if len(values) == 2:
            cells.append(f"{values[0] / values[1]:.2f}" if values[1] >= 0.05 else "")
        lines.append("| " + " | ".join([stage, *cells]) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--image", choices=sorted(IMAGES), default="big_cog")
    parser.add_argument("--tiles", type=int, default=120, help="cold tiles sampled (default 120)")
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    args = parser.parse_args(argv)
    load = os.getloadavg()
    results = run(args)
    print(
        f"\n{results['tiles']} cold tiles of {args.image}, 1 client, 2 workers each; "
        f"load average before {load[0]:.1f}, after {os.getloadavg()[0]:.1f}\n"
    )
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
