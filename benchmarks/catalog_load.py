"""Catalog scale: load 20,000 OAM-like records, then query them by bbox.

Builds a synthetic OpenAerialMap ``/meta`` response shaped like the real one
(``geojson``, ``footprint`` WKT, ``bbox``, ``projection`` WKT, ``gsd`` in
degrees, dates, ``properties``), writes it to a temporary file, and prints:
load time, peak Python memory while loading (tracemalloc, in a second run
because tracing slows the load), the process's peak RSS, and the time of
``Catalog.search(ImageQuery(bbox=…))`` for small, regional and antimeridian boxes,
and of the listing's orders.

Then a STAC API run: ``--records`` OpenAerialMap-style STAC items served in
pages of ``--page-size`` by the tests' local STAC API server
(``tests/support/stac_api_server.py``, in a thread of this process), read through
their ``next`` links: load time, peak Python memory (tracemalloc, a second
run) and the time of one refresh of a :class:`CatalogStore` (a paged API is
read again in full).

    .venv/bin/python -m benchmarks.catalog_load [--records 20000] [--queries 2000] [--page-size 100]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path

from oam_preview.catalog import load
from oam_preview.catalog.query import ImageQuery
from oam_preview.catalog.store import CatalogStore
from tests.support.stac_api_server import StacApiServer, oam_item

WGS84_WKT = (
    'GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563,'
    'AUTHORITY["EPSG","7030"]],AUTHORITY["EPSG","6326"]],PRIMEM["Greenwich",0],'
    'UNIT["degree",0.0174532925199433],AUTHORITY["EPSG","4326"]]'
)


def synthetic_record(n: int, rng: random.Random) -> dict:
    """One OAM-like record: a small UAV or satellite scene somewhere on land-ish latitudes."""
    west = rng.uniform(-179.9, 179.0)
    south = rng.uniform(-60.0, 70.0)
    width, height = rng.uniform(0.002, 0.8), rng.uniform(0.002, 0.6)
    east, north = min(west + width, 179.99), south + height
    ring = [[west, north], [east, north], [east, south], [west, south], [west, north]]
    wkt = "POLYGON((" + ",".join(f"{x} {y}" for x, y in ring) + "))"
    day = rng.randint(1, 28)
    return {
        "_id": f"{n:024x}",
        "uuid": f"https://oin-hotosm-temp.s3.amazonaws.com/{n:024x}/0/{n:08d}.tif",
        "__v": 0,
        "title": f"Synthetic scene {n}",
        "projection": WGS84_WKT,
        "bbox": [west, south, east, north],
        "footprint": wkt,
        "gsd": rng.uniform(1e-7, 5e-6),
        "file_size": rng.randint(10**6, 10**9),
        "acquisition_start": f"2019-{rng.randint(1, 12):02d}-{day:02d}T05:00:00.000Z",
        "acquisition_end": f"2019-{rng.randint(1, 12):02d}-{day:02d}T17:00:00.000Z",
        "platform": rng.choice(["uav", "UAV", "satellite", "aircraft"]),
        "provider": rng.choice(["OpenAerialMap", "HOT", "Drone Club", "Maxar"]),
        "contact": "someone@example.org",
        "properties": {
            "tms": f"https://tiles.openaerialmap.org/{n:024x}/{{z}}/{{x}}/{{y}}",
            "thumbnail": f"https://oin-hotosm-temp.s3.amazonaws.com/{n:024x}_thumb.png",
            "sensor": "Phantom 4",
            "license": "CC-BY 4.0",
        },
        "uploaded_at": "2020-01-01T00:00:00.000Z",
        "meta_uri": f"https://oin-hotosm-temp.s3.amazonaws.com/{n:024x}_meta.json",
        "geojson": {"type": "Polygon", "coordinates": [ring], "bbox": [west, south, east, north]},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=2_000)
    parser.add_argument("--page-size", type=int, default=100)
    args = parser.parse_args()
    meta_run(args)
    stac_api_run(args.records, args.page_size)


def meta_run(args: argparse.Namespace) -> None:
    """The OAM ``/meta`` document on disk, loaded and searched."""
    rng = random.Random(42)
    doc = {
        "meta": {"provided_by": "benchmark", "license": "CC-BY 4.0", "found": args.records},
        "results": [synthetic_record(n, rng) for n in range(args.records)],
    }
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "meta.json"
        path.write_text(json.dumps(doc))
        size_mb = path.stat().st_size / 1e6
        del doc

        started = time.perf_counter()
        catalog = load(str(path))
        load_seconds = time.perf_counter() - started
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB

        tracemalloc.start()
        traced = load(str(path))
        retained, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        del traced

    print(f"records: {args.records} ({size_mb:.1f} MB of JSON)")
    print(f"loaded: {len(catalog)} images, {len(catalog.skipped)} skipped")
    print(f"load time: {load_seconds:.2f} s ({1e6 * load_seconds / args.records:.0f} µs/record)")
    print(f"peak Python memory while loading (tracemalloc): {peak / 1e6:.0f} MB")
    print(f"memory the loaded catalog keeps (tracemalloc): {retained / 1e6:.0f} MB")
    print(f"peak RSS of this process (incl. the synthetic document): {rss_mb:.0f} MB")

    kinds = {
        "small bbox (0.5°)": 0.5,
        "regional bbox (10°)": 10.0,
    }
    for label, size in kinds.items():
        timings, matches = [], []
        for _ in range(args.queries):
            w, s = rng.uniform(-180, 180 - size), rng.uniform(-60, 70)
            began = time.perf_counter()
            result = catalog.search(ImageQuery(bbox=(w, s, w + size, s + size)), limit=100)
            timings.append(time.perf_counter() - began)
            matches.append(result.matched)
        report(label, timings, matches)
    timings, matches = [], []
    for _ in range(args.queries):
        s = rng.uniform(-60, 60)
        began = time.perf_counter()
        result = catalog.search(ImageQuery(bbox=(175.0, s, -175.0, s + 10)), limit=100)
        timings.append(time.perf_counter() - began)
        matches.append(result.matched)
    report("antimeridian bbox (10°)", timings, matches)
    began = time.perf_counter()
    everything = catalog.search(ImageQuery(bbox=(-180, -90, 180, 90)), limit=100)
    print(f"whole-world bbox: {1e3 * (time.perf_counter() - began):.1f} ms, {everything.matched} matched")
    for order in ("newest", "best"):
        began = time.perf_counter()
        first = catalog.search(ImageQuery(order=order, gsd_max=0.3), limit=100)
        cold = time.perf_counter() - began
        began = time.perf_counter()
        catalog.search(ImageQuery(order=order, gsd_max=0.3), limit=100, offset=100)
        warm = time.perf_counter() - began
        print(
            f"order={order}&gsd_max=0.3: first page {1e3 * cold:.1f} ms, next page {1e3 * warm:.2f} ms, "
            f"{first.matched} matched"
        )


def stac_api_run(records: int, page_size: int) -> None:
    """``records`` STAC items in pages of ``page_size`` from the local STAC API server."""
    with StacApiServer([oam_item(n) for n in range(records)], page_size=page_size) as api:
        url = f"{api.url}/search?limit={page_size}"
        started = time.perf_counter()
        catalog = load(url)
        seconds = time.perf_counter() - started
        pages = api.hits[("GET", "/search")]
        tracemalloc.start()
        traced = load(url)
        retained, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        del traced
        store = CatalogStore.for_source(url, ttl=600, footprints=False)
        store.reload()
        started = time.perf_counter()
        store.reload()
        refresh = time.perf_counter() - started
    print(f"STAC API: {len(catalog)} items in {pages} pages of {page_size}, {len(catalog.skipped)} skipped")
    print(f"STAC API load time: {seconds:.2f} s ({1e6 * seconds / records:.0f} µs/item)")
    print(f"STAC API peak Python memory while loading (tracemalloc, server included): {peak / 1e6:.0f} MB")
    print(f"STAC API memory the loaded catalog keeps (tracemalloc): {retained / 1e6:.0f} MB")
    print(f"STAC API one refresh (read again in full): {refresh:.2f} s")


def report(label: str, timings: list[float], matches: list[int]) -> None:
    timings.sort()
    p50, p99 = timings[len(timings) // 2], timings[int(len(timings) * 0.99)]
    print(
        f"{label}: median {1e3 * p50:.3f} ms, p99 {1e3 * p99:.3f} ms, "
        f"mean {statistics.mean(matches):.1f} matched"
    )


if __name__ == "__main__":
    main()
