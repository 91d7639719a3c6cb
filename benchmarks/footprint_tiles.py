"""Footprint vector tiles over 20,000 catalog records: CPU per tile and size at z0, z8, z14 (z2, z5 too).

    .venv/bin/python -m benchmarks.footprint_tiles [--records 20000] [--tiles 50] [--repeat 5]

The catalog is the browser scale test's (``tests/support/catalog_documents.py``
``synthetic_images``: small footprints spread over the land-ish world). For
each zoom it takes ``--tiles`` tiles that hold images (the tiles of random
images' middles; z0 has one) and prints the CPU milliseconds of rendering
one (:func:`~oam_preview.tiler.footprint_tiles.encode_tile`, best of ``--repeat``,
then p50/p95 over the tiles), of one cold request through the route (Flask,
query parsing, response cache), and the tiles' sizes and feature counts.
Also the one-off cost of building the query's footprint set. Then the same
over a worst case: as many 100 m footprints packed into one city, whose
tiles from zoom 13 hold the most polygons. In-process, one thread; nothing
is asserted.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import mapbox_vector_tile

from oam_preview import create_app
from oam_preview.catalog import load_document
from oam_preview.catalog.query import ImageQuery
from oam_preview.geo.tiles import TMS
from oam_preview.tiler.footprint_tiles import FootprintSet, encode_tile
from tests.support.catalog_documents import feature, synthetic_images

ZOOMS = (0, 2, 5, 8, 14)
#: A dense city's zooms: past 12 its footprints are polygons, capped at MAX_POLYGONS a tile.
DENSE_ZOOMS = (0, 8, 12, 13, 14, 16)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def cpu_ms(fn) -> float:  # type: ignore[no-untyped-def]
    start = time.process_time()
    fn()
    return (time.process_time() - start) * 1000


def dense_city(records: int) -> dict:
    """``records`` 100 m footprints within 10 km of Kathmandu: the worst case of a tile's polygons."""
    rnd = random.Random(13)
    features = []
    for i in range(records):
        w, s = 85.28 + rnd.uniform(0, 0.09), 27.66 + rnd.uniform(0, 0.08)
        ring = [[w, s], [w + 0.001, s], [w + 0.001, s + 0.001], [w, s + 0.001], [w, s]]
        features.append(
            {
                "type": "Feature",
                "id": f"dense-{i:05d}",
                "geometry": {"type": "Polygon", "coordinates": [ring]},
                "properties": {"source_url": "http://127.0.0.1:9/a.tif", "title": f"Dense {i}"},
            }
        )
    return {"type": "FeatureCollection", "features": features}


def measure(name: str, doc: dict, zooms: tuple[int, ...], centres: list[tuple[float, float]], args) -> None:  # type: ignore[no-untyped-def]
    """Print one table: per zoom, the tiles of ``centres`` (lon, lat), each measured."""
    catalog = load_document(doc)
    started = time.process_time()
    footprints = FootprintSet.build(catalog, ImageQuery())
    print(f"\n{name}: footprint set built in {(time.process_time() - started) * 1000:.0f} ms CPU")
    client = create_app(catalog=catalog).test_client()
    client.get("/api/footprints/tilejson.json")  # builds the route's own footprint set, once
    print(
        f"{'zoom':>4} {'tiles':>5} {'render p50':>10} {'p95':>7} {'route p50':>10} {'p95':>7}"
        f" {'bytes p50':>10} {'max':>8} {'features p50':>12} {'max':>6}"
    )
    for z in zooms:
        tiles = set()
        for lon, lat in centres:
            t = TMS.tile(lon, lat, z)
            tiles.add((z, t.x, t.y))
            if len(tiles) >= args.tiles:
                break
        render, route, sizes, counts = [], [], [], []
        for z_, x, y in sorted(tiles):
            render.append(min(cpu_ms(lambda: encode_tile(footprints, z_, x, y)) for _ in range(args.repeat)))  # noqa: B023
            response = None

            def request() -> None:
                nonlocal response
                response = client.get(f"/api/footprints/{z_}/{x}/{y}.mvt")  # noqa: B023

            route.append(cpu_ms(request))
            assert response is not None and response.status_code == 200
            sizes.append(len(response.data))
            layers = mapbox_vector_tile.decode(response.data)
            counts.append(len(layers.get("footprints", {}).get("features", [])))
        print(
            f"{z:>4} {len(tiles):>5} {statistics.median(render):>8.1f}ms {percentile(render, 0.95):>5.1f}ms"
            f" {statistics.median(route):>8.1f}ms {percentile(route, 0.95):>5.1f}ms"
            f" {statistics.median(sizes):>10.0f} {max(sizes):>8} {statistics.median(counts):>12.0f} {max(counts):>6}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--tiles", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    images = synthetic_images(args.records)
    doc = {"type": "FeatureCollection", "features": [feature(i, "http://127.0.0.1:9") for i in images]}
    rnd = random.Random(21)
    centres = [(i.center[1], i.center[0]) for i in rnd.sample(images, min(len(images), args.tiles * 3))]
    measure(f"{args.records} records over the world (the browser scale test's)", doc, ZOOMS, centres, args)
    # One tile a zoom at the city's middle, then its neighbours' middles.
    city = [(85.325 + dx * 0.02, 27.70 + dy * 0.02) for dx in range(-2, 3) for dy in range(-2, 3)]
    measure(
        f"{args.records} records in one city (100 m each)", dense_city(args.records), DENSE_ZOOMS, city, args
    )


if __name__ == "__main__":
    main()
