"""Load and fault tests of a real ``oam-preview serve`` (gunicorn, gthread) over real upstreams.

All slow-marked (``make test`` runs them, ``make test-fast`` skips them). Each
prints its figures (``pytest -s``); assertions are on counts and status
codes, never on speed, with generous timeouts only so nothing can hang.
"""

from __future__ import annotations

import json
import random
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from oam_preview.geo.tiles import TMS

from ..support.catalog_documents import catalog_doc
from ..support.fault_server import FaultServer
from ..support.geotiffs import write_stripped
from ..support.load_harness import (
    SERVER_ERRORS,
    Results,
    Server,
    background,
    get,
    percentile,
    run_clients,
    summary,
)
from ..support.processes import free_port

pytestmark = pytest.mark.slow

#: Images of the test server that render (the broken ones are the fault tests' business).
GOOD = ["cogeo", "synthetic_cog", "cog_rgba", "cog_rgb_mask", "stripped", "sidecar", "rgb_uint16", "cog_cmap"]


def write_catalog(path: Path, upstream: str, names: list[str], extra: list[dict] | None = None) -> Path:
    doc = catalog_doc(upstream, names)
    doc["features"] += extra or []
    path.write_text(json.dumps(doc))
    return path


def tiles_of(server_url: str, image: str, depth: int = 3) -> list[str]:
    """Tile URLs inside ``image``'s TileJSON bounds, from its native zoom up to ``depth`` zooms out."""
    with urllib.request.urlopen(f"{server_url}/api/images/{image}/tilejson.json") as r:
        doc = json.load(r)
    w, s, e, n = doc["bounds"]
    zooms = range(max(doc["minzoom"], doc["maxzoom"] - depth), doc["maxzoom"] + 1)
    return [
        f"{server_url}/api/images/{image}/tiles/{t.z}/{t.x}/{t.y}.png" for t in TMS.tiles(w, s, e, n, zooms)
    ]


def mixed_picker(url: str, tiles: dict[str, list[str]]) -> Callable[[random.Random], tuple[str, str]]:
    """Tiles 60 %, thumbnails 20 %, catalog queries 15 %, TileJSON 5 %."""
    images = list(tiles)

    def pick(rng: random.Random) -> tuple[str, str]:
        roll = rng.random()
        image = rng.choice(images)
        if roll < 0.6:
            return "tile", rng.choice(tiles[image])
        if roll < 0.8:
            return (
                "thumbnail",
                f"{url}/api/images/{image}/thumbnail.png?max_size={rng.choice((64, 128, 256))}",
            )
        if roll < 0.95:
            query = rng.choice(
                ("limit=10", "q=test", "bbox=0,0,180,80", "acquired_after=2019-01-01", "offset=3")
            )
            return "catalog", f"{url}/api/images?{query}"
        return "tilejson", f"{url}/api/images/{image}/tilejson.json"

    return pick


@pytest.fixture(scope="module")
def huge(tiff_dir: Path) -> str:
    """A 6000 px, 108 MB stripped RGB GeoTIFF without overviews beside the others: its name."""
    path = tiff_dir / "huge_stripped.tif"
    if not path.exists():
        write_stripped(path, 6000, 6000, crs="EPSG:3857")
    return path.name


@pytest.fixture(scope="module")
def upstream(tiff_dir: Path):
    """The GeoTIFFs over HTTP (the fault server, faultless: it has a deep listen backlog)."""
    with FaultServer(tiff_dir) as server:
        yield server


def test_mixed_load(upstream, tiff_dir, tmp_path):
    """64 clients for 30 s over tiles, thumbnails and catalog queries: no 5xx, nothing hung."""
    SERVER_ERRORS.clear()
    catalog = write_catalog(
        tmp_path / "catalog.json", upstream.url, sorted(p.name for p in tiff_dir.glob("*.tif"))
    )
    with Server(catalog, free_port(), workers=2, threads=8) as server:
        tiles = {image: tiles_of(server.url, image) for image in GOOD}
        results = Results()
        started = time.monotonic()
        run_clients(64, 30, mixed_picker(server.url, tiles), results, timeout=60)
        elapsed = time.monotonic() - started
        health = json.loads(urllib.request.urlopen(server.url + "/healthz").read())
    statuses = results.statuses()
    print(f"\nmixed load, 64 clients, {elapsed:.0f} s, 2 workers x 8 threads:")
    print("  " + summary("all", results))
    for kind in ("tile", "thumbnail", "catalog", "tilejson"):
        print("  " + summary(kind, results, kind))
    print(
        f"  {len(results.items) / elapsed:.0f} requests/s; peak RSS {server.peak_rss_mb:.0f} MB in all, "
        f"{server.peak_worker_rss_mb:.0f} MB per worker"
    )
    print(f"  upstream guard of the last worker asked: {health['upstream']}")
    assert len(results.items) > 200
    assert not [s for s in statuses if s >= 500 or s == 0], statuses
    assert set(statuses) <= {200, 304, 404}, statuses  # 404: a tile of the box outside the footprint


def variants(upstream: str, count: int) -> list[dict]:
    """``count`` catalog images per test COG, each its own URL (a query string), so GDAL's
    per-URL caches can't serve most requests: they need the upstream, as in production."""
    SERVER_ERRORS.clear()
    return [
        {
            "type": "Feature",
            "id": f"{stem}-{i}",
            "geometry": None,
            "properties": {"source_url": f"{upstream}/{stem}.tif?v={i}", "title": f"{stem} {i}"},
        }
        for stem in ("cogeo", "synthetic_cog")
        for i in range(count)
    ]


#: The recovery test's upstream timeout and breaker cool-down, seconds.
TIMEOUT, COOLDOWN = 3, 3


def test_upstream_killed_mid_load_then_restarted(tiff_dir, tmp_path):
    """The upstream dies under load: prompt 502/504, no hung request. Back on the same port, it is
    served again without a restart of oam-preview: once the load's reads have ended and the
    breakers' cool-down has passed, every request for an image never read before answers 200.

    Counted, not a share: the share of 502s in the seconds after the upstream's return measured
    how busy the machine was (a worker's half-open probe in flight answers its other requests 502
    at once, and on a loaded machine that probe takes long), not whether oam-preview recovers.
    """
    SERVER_ERRORS.clear()
    port = free_port()
    upstream = FaultServer(tiff_dir, port=port).start()
    catalog = write_catalog(
        tmp_path / "catalog.json", upstream.url, ["cogeo.tif"], variants(upstream.url, 140)
    )
    env = {"OAM_PREVIEW_UPSTREAM_TIMEOUT": str(TIMEOUT), "OAM_PREVIEW_BREAKER_COOLDOWN": str(COOLDOWN)}
    fresh = [f"cogeo-{i}" for i in range(120, 140)]  # never asked before the end: read from the upstream
    try:
        with Server(catalog, free_port(), workers=2, threads=8, env=env) as server:
            tiles = {stem: tiles_of(server.url, f"{stem}-0", depth=1) for stem in ("cogeo", "synthetic_cog")}

            def pick(rng: random.Random) -> tuple[str, str]:
                stem = rng.choice(list(tiles))
                image = f"{stem}-{rng.randrange(100)}"  # 100..139 are kept for the recovery probes
                if rng.random() < 0.7:
                    return "tile", rng.choice(tiles[stem]).replace(f"/{stem}-0/", f"/{image}/")
                return "thumbnail", f"{server.url}/api/images/{image}/thumbnail.png?max_size=128"

            results = Results()
            with background(16, 30, pick, results, timeout=60):
                time.sleep(6)
                killed = time.monotonic()
                upstream.stop(kill=True)  # SIGKILL, as a crash: connections are refused
                time.sleep(8)
                restarted = time.monotonic()
                upstream.start()
                recovered = wait_for_recovery(server.url, [f"cogeo-{i}" for i in range(100, 120)], restarted)
            # The load has ended: every client's last request answered, so no read is in flight and
            # no half-open probe either. A breaker that a read failing since opened (a timeout of
            # the busy machine) has cooled down after one more cool-down: half-open or closed.
            loaded = time.monotonic()
            time.sleep(COOLDOWN)
            # One at a time: each worker's first is its half-open probe, and succeeds.
            answers = [
                get(f"{server.url}/api/images/{image}/thumbnail.png?max_size=64")[0] for image in fresh
            ]
            before = results.done_before(killed)  # answered before the kill
            during = results.between(killed, restarted)
            after = results.between(recovered, loaded)
            errors = server.errors()
    finally:
        upstream.stop()
    print(
        "\nupstream killed mid-load (16 clients, 280 images, 2 workers x 8 threads, timeout 3 s, cool-down 3 s):"
    )
    print("  " + summary("before", before))
    print("  " + summary("upstream down", during))
    print("  " + summary("loaded, after recovery", after))
    print(
        f"  first 200 after the upstream came back: {recovered - restarted:.1f} s (no restart of oam-preview)"
    )
    print(f"  unloaded, after the cool-down: {Counter(answers)} of {len(fresh)} images never read before")
    print(f"  peak RSS {server.peak_rss_mb:.0f} MB; 5xx messages: {SERVER_ERRORS.most_common(4)}")
    statuses = results.statuses()
    assert 0 not in statuses and 500 not in statuses, (statuses, errors[-3000:])  # all answered, no bug
    assert set(before.statuses()) <= {200, 404}, (before.statuses(), SERVER_ERRORS.most_common(5))
    assert set(during.statuses()) <= {200, 404, 502, 504}, during.statuses()
    assert during.statuses()[502] + during.statuses()[504] > 0
    assert max(during.latencies(), default=0) < 3 * TIMEOUT + 10  # prompt: a few upstream timeouts at most
    # Still under load after the return, the host is read again (a breaker cooling down, or a
    # worker's probe in flight, answers 502 at once; a starved read, 504).
    assert after.statuses()[200] > 0 and set(after.statuses()) <= {200, 404, 502, 504}, after.statuses()
    assert answers == [200] * len(fresh), (answers, SERVER_ERRORS.most_common(5))


def wait_for_recovery(url: str, images: list[str], since: float, limit: float = 60) -> float:
    """When a thumbnail of an image never asked before (so read from the upstream) answers 200;
    one probe per image, as the breaker's cool-down ends in each worker."""
    SERVER_ERRORS.clear()
    probes = iter(images)
    while time.monotonic() - since < limit:
        image = next(probes, None)
        assert image is not None, "out of recovery probes"
        if get(f"{url}/api/images/{image}/thumbnail.png?max_size=64", timeout=30)[0] == 200:
            return time.monotonic()
        time.sleep(0.5)
    raise AssertionError(f"not recovered within {limit} s")


@pytest.mark.parametrize(
    ("scenario", "env"),
    [
        ("trickling host, read slots on", {}),
        (
            "trickling host, read slots off",
            {"OAM_PREVIEW_UPSTREAM_HOST_READS": "64", "OAM_PREVIEW_UPSTREAM_IMAGE_READS": "64"},
        ),
        ("flood of one huge non-COG, same host", {}),
    ],
)
def test_a_bad_image_does_not_starve_the_others(upstream, tiff_dir, huge, tmp_path, scenario, env):
    """One worker, 8 threads. 12 clients flood a slow/huge image; one client times fast images."""
    SERVER_ERRORS.clear()
    trickle = FaultServer(tiff_dir, mode="trickle-3000").start()  # 3 kB/s
    extra = [
        {
            "type": "Feature",
            "id": f"slow{i}",
            "geometry": None,
            "properties": {"source_url": f"{trickle.url}/{name}?slow{i}", "title": "slow"},
        }
        for i, name in enumerate(["cogeo.tif", "cog_rgba.tif", "synthetic_cog.tif"])
    ]
    catalog = write_catalog(
        tmp_path / "catalog.json", upstream.url, ["cogeo.tif", "synthetic_cog.tif", huge], extra
    )
    # The breaker would soon stop asking the trickling host; off here, to see the read slots alone.
    settings = {"OAM_PREVIEW_UPSTREAM_TIMEOUT": "5", "OAM_PREVIEW_BREAKER_FAILURES": "100000", **env}
    try:
        with Server(catalog, free_port(), workers=1, threads=8, env=settings) as server:
            fast_tiles = tiles_of(server.url, "synthetic_cog", depth=2) + tiles_of(
                server.url, "cogeo", depth=1
            )
            counter = iter(range(10**6))

            def fast(rng: random.Random) -> tuple[str, str]:
                if rng.random() < 0.7:
                    return "fast", rng.choice(fast_tiles)
                return (
                    "fast",
                    f"{server.url}/api/images/cogeo/thumbnail.png?max_size={16 + next(counter) % 1000}",
                )

            def bad(rng: random.Random) -> tuple[str, str]:
                if scenario.startswith("flood"):
                    return (
                        "bad",
                        f"{server.url}/api/images/huge_stripped/thumbnail.png?max_size={rng.randint(16, 1024)}",
                    )
                image = f"slow{rng.randrange(3)}"
                return (
                    "bad",
                    f"{server.url}/api/images/{image}/thumbnail.png?max_size={rng.randint(16, 1024)}",
                )

            baseline = Results()
            run_clients(1, 4, fast, baseline, timeout=60)
            loaded, flood = Results(), Results()
            with background(12, 10, bad, flood, timeout=60):
                time.sleep(1)
                run_clients(1, 8, fast, loaded, timeout=60, seed=1)
            health = json.loads(urllib.request.urlopen(server.url + "/healthz", timeout=60).read())
            errors = server.errors()
    finally:
        trickle.stop()
    print(f"\n{scenario} (1 worker x 8 threads, 12 flooding clients):")
    print("  " + summary("fast images alone", baseline))
    print("  " + summary("fast images during the flood", loaded))
    print("  " + summary("flooded image", flood))
    print(
        f"  p99 fast: {percentile(baseline.latencies(), 99) * 1000:.0f} ms alone -> "
        f"{percentile(loaded.latencies(), 99) * 1000:.0f} ms flooded; busy rejections "
        f"{health['upstream']['busy_rejections']}; peak worker RSS {server.peak_worker_rss_mb:.0f} MB"
    )
    print(f"  5xx messages: {SERVER_ERRORS.most_common(4)}")
    statuses = loaded.statuses() + flood.statuses()
    assert 0 not in statuses and 500 not in statuses, (statuses, errors[-3000:])
    assert set(flood.statuses()) <= {200, 422, 502, 504}, flood.statuses()
    if "slots off" not in scenario:
        assert set(loaded.statuses()) <= {200, 404}, (
            loaded.statuses(),
            errors[-6000:],
            [r for r in loaded.items if r.status == 502][:3],
        )
        assert len(loaded.items) > 10  # ... and not one in a blue moon


def test_worker_restarts_lose_no_request(upstream, tiff_dir, tmp_path):
    """``--max-requests 40``: workers restart many times under load; every request gets its answer."""
    SERVER_ERRORS.clear()
    catalog = write_catalog(
        tmp_path / "catalog.json", upstream.url, ["cogeo.tif", "cog_rgba.tif", "synthetic_cog.tif"]
    )
    with Server(catalog, free_port(), workers=2, threads=4, max_requests=40) as server:
        tiles = {
            image: tiles_of(server.url, image, depth=1) for image in ("cogeo", "cog_rgba", "synthetic_cog")
        }
        results = Results()
        run_clients(16, 20, mixed_picker(server.url, tiles), results, max_requests=1200, timeout=60)
        workers = len(server.worker_pids)
    statuses = results.statuses()
    print(
        f"\nworker restarts (--max-requests 40, 2 workers): {len(results.items)} requests, "
        f"{workers} worker processes seen, status {dict(sorted(statuses.items()))}"
    )
    assert workers > 4  # restarts did happen
    assert set(statuses) <= {200, 304, 404}, statuses  # no refused/reset connection, no 5xx
