"""The fleet on loopback: throughput and p95 with 1 and 2 instances behind the front nginx,
hit ratios by tier, renders and upstream requests per unique tile under a burst.

    python -m benchmarks.fleet [--clients 8] [--instances-workers 1]

Starts the parts of ``tests/support/fleet.py``: an origin nginx serving three
synthetic 4096² JPEG COGs with Range, redis-server, two ``oam-preview serve``
instances (one worker each by default: on a 2-core machine two workers of one
instance already take both cores), and two front nginx rendered from
``deploy/nginx/oam-preview.conf.template``: one with instance A only, one with
A and B. Each phase uses its own COG, so each starts cold everywhere. Every
loop is bounded; everything is on 127.0.0.1. Prints a Markdown table and
writes JSON to ``benchmarks/results/fleet.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path

from benchmarks.load import LoadResult, run
from tests.support.fleet import Fleet, front, log_size, origin_requests
from tests.support.loopback import LOOPBACK_ALLOW

REPO = Path(__file__).resolve().parents[1]

# The instances read the origin on loopback: allowed explicitly (upstream policy); children inherit it.
os.environ.setdefault("OAM_PREVIEW_UPSTREAM_ALLOW", LOOPBACK_ALLOW)

#: z17 and z18 tiles inside the synthetic 4096² COG (0.6 m pixels over Kathmandu).
TILES = [(17, x, y) for x in range(96597, 96606) for y in range(55033, 55042)] + [
    (18, x, y) for x in range(193195, 193212) for y in range(110067, 110084)
]


def metrics(fleet: Fleet) -> Counter[str]:
    """Cache lookups (``tier_result``), renders, lock waits (``scope_outcome``): summed over the instances."""
    from prometheus_client.parser import text_string_to_metric_families

    found: Counter[str] = Counter()
    for server in fleet.servers:
        with urllib.request.urlopen(server.url + "/metrics", timeout=10) as r:  # noqa: S310
            text = r.read().decode()
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                if s.name == "oam_preview_cache_requests_total":
                    found[f"{s.labels['tier']}_{s.labels['result']}"] += int(s.value)
                elif s.name == "oam_preview_renders_total":
                    found["renders"] += int(s.value)
                elif s.name == "oam_preview_lock_waits_total":
                    found[f"{s.labels['scope']}_{s.labels['outcome']}"] += int(s.value)
    return found


def tile_urls(base: str, image: str, sizes: tuple[str, ...] = ("", "@2x")) -> list[str]:
    return [f"{base}/api/images/{image}/tiles/{z}/{x}/{y}{s}.png" for z, x, y in TILES for s in sizes]


def front_statuses(urls: list[str], clients: int) -> Counter[str]:
    """X-Cache-Status of the front for each URL, fetched by ``clients`` threads."""
    found: Counter[str] = Counter()
    lock = threading.Lock()
    queue = iter(urls)

    def worker() -> None:
        while True:
            with lock:
                url = next(queue, None)
            if url is None:
                return
            with urllib.request.urlopen(url, timeout=60) as r:  # noqa: S310
                r.read()
                status = r.headers.get("X-Cache-Status", "-")
            with lock:
                found[status] += 1

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    return found


def burst(urls: list[str]) -> None:
    """Every URL at once, one thread each."""
    barrier = threading.Barrier(len(urls))

    def ask(url: str) -> None:
        barrier.wait(30)
        with urllib.request.urlopen(url, timeout=60) as r:  # noqa: S310
            r.read()

    threads = [threading.Thread(target=ask, args=(u,)) for u in urls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)


def row(label: str, result: LoadResult) -> dict[str, object]:
    return {
        "phase": label,
        "requests": result.count,
        "errors": result.errors,
        "throughput_rps": round(result.throughput, 1),
        "p50_ms": round(result.p50, 1),
        "p95_ms": round(result.p95, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1, help="workers per instance")
    parser.add_argument("--burst-tiles", type=int, default=8)
    parser.add_argument("--burst-clients", type=int, default=40, help="concurrent requests per tile")
    args = parser.parse_args()
    rows: list[dict[str, object]] = []
    extra: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="oam-preview-fleet-") as tmp:
        fleet = Fleet(
            Path(tmp), instances=2, workers=args.workers, threads=8, cogs=("cold_a", "cold_b", "burst")
        )
        try:
            fleet.start()
            a, b = (s.url.removeprefix("http://") for s in fleet.servers)
            one = front(Path(tmp) / "front-1", _port(), [a]).start()
            two = front(Path(tmp) / "front-2", _port(), [a, b]).start()
            try:
                for label, nginx, image in (("1 instance", one, "cold_a"), ("2 instances", two, "cold_b")):
                    for server in fleet.servers:  # the version check and open: not part of the phase
                        urllib.request.urlopen(
                            f"{server.url}/api/images/{image}/tilejson.json", timeout=30
                        ).read()  # noqa: S310
                    urls = tile_urls(nginx.url, image)
                    mark, before = log_size(fleet.origin_log), metrics(fleet)
                    cold = run(urls, args.clients, nginx.url)
                    gets = [r for r in origin_requests(fleet.origin_log, mark) if r.method == "GET"]
                    rows.append(row(f"{label}, cold tiles (every request renders)", cold) | {
                        "upstream_gets_per_tile": round(len(gets) / len(urls), 2),
                        "renders": (metrics(fleet) - before)["renders"],
                    })  # fmt: skip
                    # The same tiles again with a query nginx keys on and the app ignores:
                    # the front misses, the instances' caches (local LRU, then Redis) answer.
                    before = metrics(fleet)
                    warm = run([u + "?pass=2" for u in urls], args.clients, nginx.url)
                    delta = metrics(fleet) - before
                    rows.append(row(f"{label}, instance cache hits", warm) | {
                        "local_hit_ratio": _ratio(delta["local_hit"], delta["local_miss"]),
                        "shared_hit_ratio": _ratio(delta["shared_hit"], delta["shared_miss"]),
                        "renders": delta["renders"],
                    })  # fmt: skip
                    hot = run(urls, args.clients, nginx.url)
                    rows.append(row(f"{label}, front cache hits", hot))
                extra["front_x_cache_status_third_pass"] = dict(
                    front_statuses(tile_urls(two.url, "cold_b"), 8)
                )

                # Bursts: each cold tile asked by burst-clients at once, straight to the
                # instances (alternating), then through the front (its cache lock first).
                for label, bases in (
                    ("instances directly", [s.url for s in fleet.servers]),
                    ("through the front", [two.url]),
                ):
                    tiles = (
                        TILES[: args.burst_tiles] if label.startswith("inst") else TILES[-args.burst_tiles :]
                    )
                    for server in fleet.servers:
                        urllib.request.urlopen(
                            f"{server.url}/api/images/burst/tilejson.json", timeout=30
                        ).read()  # noqa: S310
                    mark, before = log_size(fleet.origin_log), metrics(fleet)
                    for z, x, y in tiles:
                        path = f"/api/images/burst/tiles/{z}/{x}/{y}.png"
                        burst([bases[n % len(bases)] + path for n in range(args.burst_clients)])
                    time.sleep(0.3)  # nginx logs after answering
                    delta = metrics(fleet) - before
                    gets = [r for r in origin_requests(fleet.origin_log, mark) if r.method == "GET"]
                    extra[f"burst, {label}"] = {
                        "tiles": len(tiles),
                        "requests_per_tile": args.burst_clients,
                        "renders_per_tile": round(delta["renders"] / len(tiles), 2),
                        "upstream_gets_per_tile": round(len(gets) / len(tiles), 2),
                        "waited_for_another_thread": delta["process_result"],
                        "waited_for_another_process": delta["fleet_waited"],
                        "got_its_result": delta["fleet_result"],
                        "rendered_after_the_wait": delta["fleet_timeout"],
                    }
                extra["peak_worker_rss_mb"] = round(max(s.peak_worker_rss_mb for s in fleet.servers), 1)
            finally:
                one.stop()
                two.stop()
        finally:
            fleet.stop()
    _print(rows, extra, args)


def _port() -> int:
    from tests.support.processes import free_port

    return free_port()


def _ratio(hits: int, misses: int) -> float | str:
    """hits / lookups; ``-`` when the tier was not asked (a local hit never asks Redis)."""
    return round(hits / (hits + misses), 3) if hits + misses else "-"


def _print(
    rows: list[dict[str, float | int | str]], extra: dict[str, object], args: argparse.Namespace
) -> None:
    keys = list(dict.fromkeys(k for r in rows for k in r))
    print(
        f"\nfleet on loopback: 2 instances x {args.workers} worker(s) x 8 threads, {args.clients} clients\n"
    )
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for r in rows:
        print("| " + " | ".join(str(r.get(k, "")) for k in keys) + " |")
    for name, value in extra.items():
        print(f"\n{name}: {value}")
    out = REPO / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "fleet.json").write_text(json.dumps({"rows": rows, **extra}, indent=2))


if __name__ == "__main__":
    main()
