"""A worker's memory over time under mixed cold traffic: does it level off at the model?

    .venv/bin/python -m benchmarks.drift [--minutes 6] [--clients 8] [--workers 2]

One ``oam-preview serve`` (``--workers`` gthread workers, 8 threads) over the benchmark's
images (``images.py``: the big JPEG COG, the uint16 4-band COG; ``oam_cogs.py``: the ZSTD RGB
and float32 DSM), behind the Range file server. ``--clients`` threads ask, until the time is
up, for random tiles (zooms native-3 to native+1, most never asked before, so the block, range
and response caches fill and churn) in six renderings (default, ``bidx``+``rescale``, a DSM's
``colormap_name``, ``algorithm=hillshade``, WebP, JPEG). Every 5 s it reads each worker's RSS
and ``/healthz``; at the end it prints the samples and the growth of the workers' summed RSS
over the last half of the run (least squares, as ``soak.py`` computes it: the target is < 5 %),
and writes JSON to ``benchmarks/results/``. Not a test: it runs for minutes.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import random
import sys
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks import analytic, images, load, oam_cogs
from benchmarks.servers import start_oam_preview
from benchmarks.tiles import write_catalog
from tests.support.fileserver import FileServer
from tests.support.processes import free_port

HERE = Path(__file__).resolve().parent

WORK = HERE / "work"
RESULTS = HERE / "results"
#: Per image: its zooms and the queries drawn for it (one a request).
TRAFFIC = {
    "big_cog": (range(16, 21), ["", "", "bidx=3,2,1", "rescale=20,230"]),
    "uint16": (range(11, 15), ["", "bidx=4,3,2&rescale=300,3500", "expression=b4-b1&rescale=-900,900"]),
    "rgb": (range(16, 21), ["", "bidx=1&colormap_name=viridis"]),
    "dsm": (range(15, 20), [oam_cogs.DSM_QUERY, "algorithm=hillshade", "bidx=1&rescale=800,1500"]),
}
FORMATS = ["png", "png", "png", "webp", "jpg"]


def growth(samples: list[tuple[float, float]]) -> float:
    """Least-squares growth of ``(t, value)`` over its span, as a fraction of its mean."""
    n = len(samples)
    if n < 3:
        return 0.0
    ts, vs = [t for t, _ in samples], [v for _, v in samples]
    mt, mv = sum(ts) / n, sum(vs) / n
    slope = sum((t - mt) * (v - mv) for t, v in samples) / (sum((t - mt) ** 2 for t in ts) or 1.0)
    return slope * (ts[-1] - ts[0]) / mv


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=6.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    paths = {**images.build(WORK), **oam_cogs.ensure_images()}
    pools = {}
    for role, (zooms, _) in TRAFFIC.items():
        blocks = analytic.BlockMap(paths[role])
        pools[role] = [(z, *t) for z in zooms for t in blocks.inner_tiles(z)]
    samples: list[dict[str, Any]] = []
    with contextlib.ExitStack() as stack:
        files = stack.enter_context(FileServer(WORK))
        sources = {role: (f"{files.url}/{paths[role].name}", paths[role]) for role in TRAFFIC}
        catalog = write_catalog(WORK / "drift.geojson", sources)
        server = start_oam_preview(
            catalog, free_port(), args.workers, 8, {r: r for r in TRAFFIC}, WORK / "oam-preview.log"
        )
        stop = threading.Event()
        counts = {"requests": 0, "errors": 0}

        def client(seed: int) -> None:
            rng = random.Random(seed)
            session = load.Client(server.base)
            try:
                while not stop.is_set():
                    role = rng.choice(list(TRAFFIC))
                    z, x, y = rng.choice(pools[role])
                    query = rng.choice(TRAFFIC[role][1])
                    fmt = "png" if "hillshade" in query else rng.choice(FORMATS)
                    url = server.url(role, z, x, y, fmt) + (f"?{query}" if query else "")
                    status, _ = session.get(url)
                    counts["requests"] += 1
                    counts["errors"] += status >= 500
            finally:
                session.close()

        threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(args.clients)]
        started = time.monotonic()
        try:
            for thread in threads:
                thread.start()
            while time.monotonic() - started < args.minutes * 60:
                time.sleep(5)
                rss = server.rss_mb()
                samples.append(
                    {
                        "t": round(time.monotonic() - started, 1),
                        "requests": counts["requests"],
                        "workers_mb": round(sum(rss.values()), 1),
                        "largest_mb": round(max(rss.values(), default=0.0), 1),
                        "tree_mb": round(server.tree_rss_mb(), 1),
                    }
                )
                print(json.dumps(samples[-1]), file=sys.stderr, flush=True)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=30)
            server.stop()
    half = [(s["t"], s["workers_mb"]) for s in samples if s["t"] >= samples[-1]["t"] / 2]
    result = {
        "config": vars(args),
        "requests": counts["requests"],
        "errors": counts["errors"],
        "samples": samples,
        "last_half_growth": growth(half),
    }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"drift-{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(result, indent=2))
    print(
        f"\n{counts['requests']} requests ({counts['errors']} 5xx) in {args.minutes:g} min, "
        f"{args.workers} workers; workers' RSS {samples[0]['workers_mb']:.0f} -> "
        f"{samples[-1]['workers_mb']:.0f} MB (largest {samples[-1]['largest_mb']:.0f}); "
        f"growth over the last half {result['last_half_growth']:+.1%} (target < 5 %)\nJSON: {out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
