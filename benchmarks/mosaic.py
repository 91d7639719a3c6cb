"""Mosaic tiles: oam-preview's ``/api/mosaic`` against TiTiler's MosaicJSON over the same COGs.

    .venv/bin/python -m benchmarks.mosaic [--tiles N]

Builds four overlapping COGs once into ``benchmarks/work/mosaic/`` (a coarse
old scene, two aerials, a newer drone survey with a nodata collar), serves
them from the Range-capable file server (a child process), and asks both
servers (one worker each) for the same cold tiles over the stack, one at a
time: CPU ms per tile (``/proc`` of the server's process tree) and upstream
requests and bytes per tile (the file server's counters). TiTiler reads a
MosaicJSON of the same files (cogeo-mosaic) with ``pixel_selection=first``,
both newest first. Then a world of 20,000 catalog records: CPU and upstream
requests of world-zoom tiles (coverage marks only). Loopback only; every loop
is bounded.
"""

from __future__ import annotations

import argparse
import json
import random
import time
import urllib.request
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin
from rasterio.warp import transform_bounds
from shapely.geometry import box, mapping

from benchmarks.servers import Server, start_oam_preview, start_titiler
from oam_preview.geo.tiles import TMS
from tests.support.fileserver import FileServer
from tests.support.processes import free_port

HERE = Path(__file__).resolve().parent

WORK = HERE / "work" / "mosaic"
X0, Y0 = 9_497_000.0, 3_211_000.0  # Kathmandu, EPSG:3857 metres
#: name: (metres per pixel, pixels, offset east/south in metres, date, collar)
STACK = {
    "scene-2019": (2.0, 2048, (0.0, 0.0), "2019-05-01", False),
    "aerial-2022": (0.5, 4096, (300.0, 300.0), "2022-03-01", False),
    "aerial-2024": (0.3, 4096, (800.0, 900.0), "2024-03-14", False),
    "drone-2025": (0.15, 4096, (1000.0, 1100.0), "2025-02-01", True),
}


def build() -> Path:
    """The stack's COGs (JPEG, YCbCr; the collared one DEFLATE with nodata 0), made once."""
    from rio_cogeo.cogeo import cog_translate
    from rio_cogeo.profiles import cog_profiles

    WORK.mkdir(parents=True, exist_ok=True)
    for seed, (name, (res, size, (dx, dy), _, collar)) in enumerate(STACK.items()):
        path = WORK / f"{name}.tif"
        if path.exists():
            continue
        rng = np.random.default_rng(seed)
        rows, cols = np.mgrid[0:size, 0:size]
        base = (np.sin(cols / (17.0 + seed)) + np.cos(rows / 23.0)) * 60 + 120
        data = np.stack([np.clip(base + rng.normal(0, 12, base.shape) + 25 * b, 1, 255) for b in range(3)])
        data = data.astype(np.uint8)
        if collar:
            data[:, (rows - size / 2) ** 2 + (cols - size / 2) ** 2 > (size / 2 - 8) ** 2] = 0
        raw = path.with_suffix(".raw.tif")
        profile = {
            "driver": "GTiff", "width": size, "height": size, "count": 3, "dtype": "uint8",
            "crs": "EPSG:3857", "transform": from_origin(X0 + dx, Y0 - dy, res, res),
            "tiled": True, "blockxsize": 512, "blockysize": 512,
        }  # fmt: skip
        if collar:
            profile["nodata"] = 0
        with rasterio.open(raw, "w", **profile) as dst:
            dst.write(data)
        cog = cog_profiles.get("deflate" if collar else "jpeg")
        if not collar:
            cog.update(photometric="YCbCr")
        cog_translate(str(raw), str(path), cog, quiet=True)
        raw.unlink()
    return WORK


def geojson(url: str) -> dict:
    features = []
    for name, (res, *_, date, _) in STACK.items():
        with rasterio.open(WORK / f"{name}.tif") as ds:
            bounds = transform_bounds(ds.crs, "EPSG:4326", *ds.bounds)
        features.append(
            {
                "type": "Feature", "id": name, "geometry": mapping(box(*bounds)),
                "properties": {
                    "title": name, "source_url": f"{url}/{name}.tif", "gsd": res,
                    "acquisition_start": date, "acquisition_end": date,
                },
            }
        )  # fmt: skip
    return {"type": "FeatureCollection", "features": features}


def mosaicjson(url: str) -> dict:
    """TiTiler's MosaicJSON of the stack, newest first (cogeo-mosaic keeps the given order)."""
    from cogeo_mosaic.mosaic import MosaicJSON

    urls = [f"{url}/{name}.tif" for name in reversed(STACK)]
    doc = MosaicJSON.from_urls(urls, minzoom=14, maxzoom=20, quiet=True)
    return json.loads(doc.model_dump_json(exclude_none=True))


def stack_tiles(count: int) -> list[tuple[int, int, int]]:
    """``count`` distinct tiles over the overlap, z16 to z19, seeded."""
    rng = random.Random(11)
    lon0, lat0 = TMS.lnglat(X0 + 900.0, Y0 - 1000.0)
    lon1, lat1 = TMS.lnglat(X0 + 1500.0, Y0 - 1600.0)
    found: list[tuple[int, int, int]] = []
    for z in (16, 17, 18, 19):
        for t in TMS.tiles(lon0, lat1, lon1, lat0, [z]):
            found.append((t.z, t.x, t.y))
    rng.shuffle(found)
    return found[:count]


def run(server: Server, urls: list[str], upstream: FileServer, per_tile: bool = False) -> dict[str, float]:
    """Ask ``urls`` one at a time; ``per_tile``: also the p50 of the tiles that read upstream
    (the file server's counters read around each tile: they cost a little wall time)."""
    upstream.traffic.reset()
    cpu0 = server.cpu()
    statuses = []
    took: list[float] = []
    cold: list[float] = []  # the tiles that asked upstream for something (none of it cached)
    started = time.monotonic()
    for url in urls:
        before = upstream.traffic.snapshot()[0] if per_tile else 0
        asked = time.monotonic()
        try:
            with urllib.request.urlopen(url, timeout=60) as response:
                response.read()
                statuses.append(response.status)
        except urllib.error.HTTPError as exc:
            statuses.append(exc.code)
        took.append(time.monotonic() - asked)
        if per_tile and upstream.traffic.snapshot()[0] > before:
            cold.append(took[-1])
    wall = time.monotonic() - started
    time.sleep(0.5)  # the file server counts a request after answering it
    requests, sent = upstream.traffic.snapshot()
    n = len(urls)
    return {
        "tiles": n,
        "ok": statuses.count(200),
        "cpu_ms_per_tile": (server.cpu() - cpu0) * 1000 / n,
        "upstream_requests_per_tile": requests / n,
        "upstream_kb_per_tile": sent / n / 1024,
        "wall_ms_per_tile": wall * 1000 / n,
        "p50_ms": float(np.percentile(took, 50)) * 1000,
        "cold_tiles": len(cold),
        "cold_p50_ms": float(np.percentile(cold, 50)) * 1000 if cold else float("nan"),
    }


def world(catalog_path: Path, url: str, count: int = 20_000) -> dict:
    rng = random.Random(7)
    features = []
    for i in range(count):
        lon, lat, size = rng.uniform(-170, 170), rng.uniform(-60, 70), rng.uniform(0.002, 0.05)
        features.append(
            {
                "type": "Feature", "id": f"w{i}", "geometry": mapping(box(lon, lat, lon + size, lat + size)),
                "properties": {"title": f"w{i}", "source_url": f"{url}/w{i}.tif", "gsd": 0.1},
            }
        )  # fmt: skip
    catalog_path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return {"records": count}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tiles", type=int, default=40)
    parser.add_argument(
        "--latency",
        type=float,
        default=40.0,
        help="ms the file server waits before each answer (latency phase)",
    )
    args = parser.parse_args()
    build()
    logs = HERE / "results"
    logs.mkdir(exist_ok=True)
    figures: dict[str, dict] = {}
    with FileServer(WORK) as upstream:
        tiles = stack_tiles(args.tiles)
        catalog = WORK / "catalog.json"
        catalog.write_text(json.dumps(geojson(upstream.url)))
        mosaic_file = WORK / "mosaic.json"
        mosaic_file.write_text(json.dumps(mosaicjson(upstream.url)))

        oam = start_oam_preview(catalog, free_port(), 1, 4, {}, logs / "mosaic-oam.log")
        try:
            urls = [f"{oam.base}/api/mosaic/tiles/{z}/{x}/{y}.png?order=newest" for z, x, y in tiles]
            figures["oam-preview"] = run(oam, urls, upstream)
        finally:
            oam.stop()
        titiler = start_titiler(free_port(), 1, {}, logs / "mosaic-titiler.log")
        try:
            urls = [
                f"{titiler.base}/mosaicjson/tiles/WebMercatorQuad/{z}/{x}/{y}.png"
                f"?url=file://{mosaic_file}&pixel_selection=first"
                for z, x, y in tiles
            ]
            figures["titiler"] = run(titiler, urls, upstream)
        finally:
            titiler.stop()

    # The latency phase: every upstream answer 40 ms late, as an object store's. A cold mosaic tile
    # reads the images it surely needs at once, so it should cost about one cold image tile.
    with FileServer(WORK, delay=args.latency / 1000) as distant:
        tiles = stack_tiles(args.tiles)
        catalog = WORK / "catalog-distant.json"
        catalog.write_text(json.dumps(geojson(distant.url)))
        oam = start_oam_preview(catalog, free_port(), 1, 4, {}, logs / "mosaic-latency.log")
        try:
            urls = [f"{oam.base}/api/mosaic/tiles/{z}/{x}/{y}.png?order=newest" for z, x, y in tiles]
            figures["latency mosaic"] = run(oam, urls, distant, per_tile=True)
        finally:
            oam.stop()
        oam = start_oam_preview(catalog, free_port(), 1, 4, {}, logs / "mosaic-latency-single.log")
        try:
            urls = [f"{oam.base}/api/images/aerial-2022/tiles/{z}/{x}/{y}.png" for z, x, y in tiles]
            figures["latency single image"] = run(oam, urls, distant, per_tile=True)
        finally:
            oam.stop()

    with FileServer(WORK) as upstream:
        world_catalog = WORK / "world.json"
        world(world_catalog, upstream.url)
        oam = start_oam_preview(world_catalog, free_port(), 1, 4, {}, logs / "mosaic-world.log")
        try:
            run(
                oam, [f"{oam.base}/api/mosaic/tiles/0/0/0.png?order=oldest"], upstream
            )  # builds the selection
            urls = [
                f"{oam.base}/api/mosaic/tiles/{z}/{x}/{y}.png"
                for z, x, y in ((0, 0, 0), (1, 1, 0), (2, 2, 1), (3, 5, 3))
            ]
            figures["oam-preview world zooms"] = run(oam, urls, upstream)
        finally:
            oam.stop()

    a, b = figures["oam-preview"], figures["titiler"]
    print(f"{'':28}{'oam-preview':>14}{'TiTiler':>14}{'ratio':>8}")
    for key in ("cpu_ms_per_tile", "upstream_requests_per_tile", "upstream_kb_per_tile", "wall_ms_per_tile"):
        ratio = a[key] / b[key] if b[key] else float("nan")
        print(f"{key:28}{a[key]:14.2f}{b[key]:14.2f}{ratio:8.2f}")
    print(f"{'tiles answered 200':28}{a['ok']:>14}/{a['tiles']}{b['ok']:>10}/{b['tiles']}")
    m, one = figures["latency mosaic"], figures["latency single image"]
    print(
        f"upstream {args.latency:.0f} ms late, tiles that read upstream: mosaic p50 {m['cold_p50_ms']:.0f} ms "
        f"({m['cold_tiles']} tiles), single image p50 {one['cold_p50_ms']:.0f} ms ({one['cold_tiles']} tiles): "
        f"{m['cold_p50_ms'] / one['cold_p50_ms']:.2f}x (goal <= 2x)"
    )
    w = figures["oam-preview world zooms"]
    print(
        f"world zooms z0-z3 over 20,000 records: {w['cpu_ms_per_tile']:.1f} ms CPU/tile, "
        f"{w['upstream_requests_per_tile']:.0f} upstream requests, {w['wall_ms_per_tile']:.1f} ms/tile"
    )
    out = logs / f"mosaic-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(figures, indent=1))
    print(f"figures in {out}")


if __name__ == "__main__":
    main()
