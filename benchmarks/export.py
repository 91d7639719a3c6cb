"""Tile packages: ``oam-preview export`` tiles/s against ``oam-preview seed`` tiles/s, same area.

    .venv/bin/python -m benchmarks.export [--zoom 14-18] [--processes 1 2]

Builds a synthetic 4096² JPEG COG once (0.6 m over Kathmandu, the tests' recipe) into
``benchmarks/work/export/``, serves it from the Range-capable file server (a child
process) and starts a throwaway redis-server for ``seed``. Then, for each process count,
each command runs cold (an empty Redis for seed; no shared cache and a fresh file for
export) over the image's bounds at the same zooms, as a child process, timed on the wall
clock (process start included, the same for both): seed renders into Redis, export renders
into MBTiles and PMTiles; last, an MBTiles export from the cache that seed warmed. Both ask
every tile of the app through a Flask test client, so the difference is where the tiles
go. Loopback only; every run is bounded by a timeout.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import redis

from tests.support.catalog_documents import catalog_doc
from tests.support.fileserver import FileServer
from tests.support.geotiffs import write_cog
from tests.support.loopback import LOOPBACK_ALLOW
from tests.support.processes import free_port
from tests.support.redis_server import RedisServer

REPO = Path(__file__).resolve().parents[1]

WORK = REPO / "benchmarks" / "work" / "export"
COG = "export_cog_v1.tif"
IMAGE = "export_cog_v1"
SEED = re.compile(r"(\d+) tiles: (\d+) cached, (\d+) empty")
EXPORT = re.compile(r"(\d+) tiles: (\d+) stored, (\d+) empty")


def timed(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    """Wall seconds of ``command`` and its stdout; raises on failure."""
    start = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=1800)
    took = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{command[3]} failed: {done.stderr[-2000:]}")
    return took, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--zoom", default="14-18")
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    if not (WORK / COG).exists():
        print(f"building {COG} (once)", file=sys.stderr)
        write_cog(WORK / COG, 4096, 4096)
    cli = [sys.executable, "-m", "oam_preview.cli"]
    rows = []
    with FileServer(WORK) as files, RedisServer(free_port(), WORK) as cache:
        catalog = WORK / "catalog.json"
        catalog.write_text(json.dumps(catalog_doc(files.url, [COG])))
        env = {**os.environ, "OAM_PREVIEW_UPSTREAM_ALLOW": LOOPBACK_ALLOW, "OAM_PREVIEW_CACHE_URL": ""}
        base = ["--zoom", args.zoom, "--catalog", str(catalog)]
        for processes in args.processes:
            n = ["--processes", str(processes)]
            redis.Redis.from_url(cache.url).flushdb()
            took, out = timed([*cli, "seed", IMAGE, *base, *n, "--cache-url", cache.url], env)
            found = SEED.search(out)
            assert found, out
            rows.append(("seed → Redis", processes, int(found[1]), int(found[2]), took))
            for kind in ("mbtiles", "pmtiles"):
                target = WORK / f"out.{kind}"
                target.unlink(missing_ok=True)
                took, out = timed([*cli, "export", IMAGE, "-o", str(target), *base, *n], env)
                found = EXPORT.search(out)
                assert found, out
                rows.append((f"export → {kind}", processes, int(found[1]), int(found[2]), took))
                target.unlink()
            warm = {**env, "OAM_PREVIEW_CACHE_URL": cache.url}
            took, out = timed([*cli, "export", IMAGE, "-o", str(WORK / "out.mbtiles"), *base, *n], warm)
            found = EXPORT.search(out)
            assert found, out
            rows.append(("export → mbtiles, seeded cache", processes, int(found[1]), int(found[2]), took))
            (WORK / "out.mbtiles").unlink()
    print(f"\n{IMAGE}, zooms {args.zoom}, {os.cpu_count()} cores (wall clock, process start included)\n")
    print("| run | processes | tiles | with pixels | seconds | tiles/s |")
    print("|---|---|---|---|---|---|")
    for label, processes, total, stored, took in rows:
        print(f"| {label} | {processes} | {total} | {stored} | {took:.1f} | {total / took:.1f} |")


if __name__ == "__main__":
    main()
