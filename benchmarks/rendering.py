"""CPU per tile of the rendering options (issue 19): plain against rescale + colormap_name, nodata, expression.

    .venv/bin/python -m benchmarks.rendering [--tiles N]

Two images built once into ``benchmarks/work/`` (see ``images.py``): a 4096² RGB JPEG COG with
the big COG's recipe, and the 4096² 4-band uint16 COG. The same seeded tiles (zooms native-2 to
native, wholly inside) are rendered as each rendering asks, in two ways:

- **in-process**: rio-tiler's ``Reader.tile`` of the local file, ``to_pixels`` and the PNG
  encoder, the file opened anew (untimed) for every tile and rendering, so no rendering profits
  from blocks another one decoded;
- **app**: the tile route of an in-process app reading the file over HTTP from the Range file
  server (a child process, not counted), every request a cache miss; the renderings of one tile
  are asked in an order that rotates from tile to tile, so GDAL's caches favour none.

CPU is this process's ``time.process_time()``. The issue's goal: a tile with ``rescale`` and
``colormap_name`` costs at most 1.2x the CPU of a plain tile. Prints a table and writes JSON
to ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

import rasterio
from rasterio.transform import from_origin
from rio_tiler.io import Reader
from werkzeug.datastructures import MultiDict

from benchmarks import images
from oam_preview import create_app
from oam_preview.catalog import load_document
from oam_preview.config import Settings
from oam_preview.geo.tiles import TMS
from oam_preview.remote.gdal_settings import set_block_cache, worker_cache_bytes
from oam_preview.tiler.description import describe
from oam_preview.tiler.render import encode, to_pixels
from oam_preview.tiler.rendering import Rendering
from tests.support.fileserver import FileServer
from tests.support.loopback import LOOPBACK_ALLOW

HERE = Path(__file__).resolve().parent

# The file server is on loopback, which the upstream policy refuses unless allowed.
os.environ.setdefault("OAM_PREVIEW_UPSTREAM_ALLOW", LOOPBACK_ALLOW)

WORK = HERE / "work"
RESULTS = HERE / "results"
SEED = 19
RGB_NAME = "rendering_rgb_v1.tif"
RGB_SIZE = 4096
#: Per image: (name, query) of each rendering; the first is the plain tile the others are divided by.
RENDERINGS = {
    "rgb": [
        ("plain", ""),
        ("rescale+colormap_name", "bidx=1&rescale=40,220&colormap_name=viridis"),
        ("nodata", "nodata=0"),
        ("bidx+rescale", "bidx=3,2,1&rescale=40,220"),
        (
            "expression+rescale+colormap",
            "expression=(b1-b2)/(b1%2Bb2)&rescale=-0.3,0.3&colormap_name=viridis",
        ),
    ],
    "uint16": [
        ("plain", ""),
        ("rescale+colormap_name", "bidx=4&rescale=300,5000&colormap_name=viridis"),
        ("nodata", "nodata=0"),
        ("expression+rescale+colormap", "expression=(b4-b1)/(b4%2Bb1)&rescale=-1,1&colormap_name=rdylgn"),
    ],
}


def build_rgb(path: Path) -> None:
    """A 4096² RGB JPEG COG of the big COG's recipe (a few seconds)."""
    parcels, texture = images._parcels(1, RGB_SIZE // 96 + 1), images._texture(2)
    west, north, res = images.BIG_ORIGIN
    raw = path.with_suffix(".raw.tif")
    profile = {
        "driver": "GTiff", "width": RGB_SIZE, "height": RGB_SIZE, "count": 3, "dtype": "uint8",
        "crs": "EPSG:3857", "transform": from_origin(west, north, res, res), "tiled": True,
        "blockxsize": images.BLOCK, "blockysize": images.BLOCK, "compress": "JPEG", "jpeg_quality": 97,
        "photometric": "YCBCR",
    }  # fmt: skip
    images._write_blockwise(
        raw,
        profile,
        lambda w: images.rgb_block(int(w.row_off), 0, int(w.height), int(w.width), parcels, texture),
    )
    images._to_cog(raw, path, COMPRESS="JPEG", QUALITY=85, OVERVIEW_RESAMPLING="AVERAGE")


def ensure_images() -> dict[str, Path]:
    WORK.mkdir(parents=True, exist_ok=True)
    paths = {"rgb": WORK / RGB_NAME, "uint16": WORK / images.NAMES["uint16"]}
    if not paths["rgb"].exists():
        build_rgb(paths["rgb"])
    if not paths["uint16"].exists():
        images.build_uint16(paths["uint16"])
    return paths


def inner_tiles(path: Path, count: int, rng: random.Random) -> list[tuple[int, int, int]]:
    """``count`` tiles wholly inside the image, from its native zoom and the two above."""
    with Reader(str(path), tms=TMS) as reader:
        native = reader.maxzoom
        w, s, e, n = reader.get_geographic_bounds("epsg:4326")
    pool = []
    for z in (native - 2, native - 1, native):
        tiles = list(TMS.tiles(w, s, e, n, [z]))
        xs, ys = {t.x for t in tiles}, {t.y for t in tiles}
        pool += [
            (t.z, t.x, t.y) for t in tiles if t.x not in (min(xs), max(xs)) and t.y not in (min(ys), max(ys))
        ]
    rng.shuffle(pool)
    return pool[:count]


def rendering_of(query: str) -> Rendering:
    from urllib.parse import parse_qsl

    return Rendering.from_args(MultiDict(parse_qsl(query)))


def in_process(path: Path, tiles: list[tuple[int, int, int]], queries: list[str]) -> list[float]:
    """CPU ms per tile of each query: read, ``to_pixels`` and PNG, each on a freshly opened file."""
    set_block_cache(worker_cache_bytes(Settings()))  # a worker's, as the server's default
    renderings = [rendering_of(q) for q in queries]
    spent = [0.0] * len(queries)
    with rasterio.open(path) as dataset:
        info = describe(dataset, float("inf"))
    for n, (z, x, y) in enumerate(tiles):
        for k in range(len(queries)):
            i = (n + k) % len(queries)  # rotate which rendering goes first
            rendering = renderings[i]
            with rasterio.open(path) as dataset, Reader(None, dataset=dataset, tms=TMS) as reader:
                bands = rendering.bands(info.bands, info.count)
                started = time.process_time()
                img = reader.tile(x, y, z, tilesize=256, indexes=bands, **rendering.read_options())
                encode(to_pixels(img, info, rendering), "png")
                spent[i] += time.process_time() - started
    return [s * 1000 / len(tiles) for s in spent]


def through_the_app(
    paths: dict[str, Path], tiles: dict[str, list[tuple[int, int, int]]]
) -> dict[str, list[float]]:
    """CPU ms per tile of each rendering through the tile route, the files over HTTP."""
    out: dict[str, list[float]] = {}
    with FileServer(WORK) as server:
        doc = {
            "type": "FeatureCollection",
            "features": [
                {"type": "Feature", "id": role, "geometry": None,
                 "properties": {"source_url": f"{server.url}/{path.name}"}}
                for role, path in paths.items()
            ],
        }  # fmt: skip
        app = create_app({"OAM_PREVIEW_BASEMAP_URL": ""}, catalog=load_document(doc))
        client = app.test_client()
        for role, renderings in RENDERINGS.items():
            queries = [q for _, q in renderings]
            z, x, y = tiles[role][0]
            for q in queries:  # the description, the first HEAD and GDAL's headers: not counted
                assert client.get(f"/api/images/{role}/tiles/{z}/{x}/{y + 1}.png?{q}").status_code in (
                    200,
                    404,
                )
            spent = [0.0] * len(queries)
            for n, (z, x, y) in enumerate(tiles[role]):
                for k in range(len(queries)):
                    i = (n + k) % len(queries)
                    started = time.process_time()
                    r = client.get(f"/api/images/{role}/tiles/{z}/{x}/{y}.png?{queries[i]}")
                    spent[i] += time.process_time() - started
                    assert r.status_code == 200, (role, queries[i], r.data[:200])
            out[role] = [s * 1000 / len(tiles[role]) for s in spent]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--tiles", type=int, default=120, help="tiles per image and rendering")
    args = parser.parse_args(argv)
    paths = ensure_images()
    rng = random.Random(SEED)
    tiles = {role: inner_tiles(path, args.tiles, rng) for role, path in paths.items()}
    figures: dict[str, Any] = {"tiles": {r: len(t) for r, t in tiles.items()}, "images": {}}
    app = through_the_app(paths, tiles)
    for role, renderings in RENDERINGS.items():
        local = in_process(paths[role], tiles[role], [q for _, q in renderings])
        rows = {}
        for (name, query), cpu_local, cpu_app in zip(renderings, local, app[role], strict=True):
            rows[name] = {"query": query, "in_process_ms": cpu_local, "app_ms": cpu_app}
        plain = rows["plain"]
        for row in rows.values():
            row["in_process_ratio"] = row["in_process_ms"] / plain["in_process_ms"]
            row["app_ratio"] = row["app_ms"] / plain["app_ms"]
        figures["images"][role] = rows
    print(
        f"CPU ms per 256 px PNG tile ({args.tiles} tiles per image and rendering; goal: rescale+colormap <= 1.2x)"
    )
    print(f"{'image':7} {'rendering':30} {'in-process':>10} {'ratio':>6} {'app':>7} {'ratio':>6}")
    for role, rows in figures["images"].items():
        for name, row in rows.items():
            print(
                f"{role:7} {name:30} {row['in_process_ms']:10.2f} {row['in_process_ratio']:6.2f} "
                f"{row['app_ms']:7.2f} {row['app_ratio']:6.2f}"
            )
    RESULTS.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"rendering-{stamp}.json"
    out.write_text(json.dumps(figures, indent=2))
    print(f"written {out.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
