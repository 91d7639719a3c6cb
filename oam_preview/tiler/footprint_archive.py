"""The footprint tiles of a catalog query over a zoom range, as one PMTiles v3 file (offline use).

The tiles are those of ``/api/footprints/{z}/{x}/{y}.mvt`` for the same query
(:func:`~oam_preview.tiler.footprint_tiles.encode_tile`), gzip-compressed as PMTiles
readers expect of MVT, written with the ``pmtiles`` package's writer. Only
tiles that meet an image's bounds are written; a reader answers the others as
empty.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

from pmtiles.tile import Compression, TileType, zxy_to_tileid
from pmtiles.writer import write

from ..catalog import Catalog
from ..catalog.model import BBox
from ..catalog.query import ImageQuery
from ..geo.mercator import WORLD
from ..geo.tiles import tile_range
from .footprint_tiles import LAYER, MAXZOOM, VECTOR_LAYERS, FootprintSet, encode_tile
from .ogc import center

#: Zooms a footprint archive has unless asked: a client overzooms the last one.
DEFAULT_MAXZOOM = 14


def covering_tiles(footprints: FootprintSet, zoom: int) -> set[tuple[int, int]]:
    """``(x, y)`` of the tiles at ``zoom`` that meet some image's bounds (degrees; one across
    the antimeridian counts on both sides)."""
    found: set[tuple[int, int]] = set()
    for image in footprints.selection.images:
        if image.bbox is None:
            continue
        for bounds in _unwrapped(image.bbox):
            (x0, x1), (y0, y1) = tile_range(bounds, zoom)
            found.update((x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1))
    return found


def _unwrapped(bbox: BBox) -> Iterator[BBox]:
    w, s, e, n = bbox
    s, n = max(s, WORLD[1]), min(n, WORLD[3])
    if w > e:
        yield (w, s, 180.0, n)
        yield (-180.0, s, e, n)
    else:
        yield (w, s, e, n)


def write_pmtiles(
    path: str | Path,
    catalog: Catalog,
    query: ImageQuery,
    minzoom: int = 0,
    maxzoom: int = DEFAULT_MAXZOOM,
) -> int:
    """Write the footprint tiles of ``query`` in ``catalog``, zooms ``minzoom`` to ``maxzoom``,
    to the PMTiles v3 file ``path``; returns how many tiles it holds. ``ValueError`` for a zoom
    range outside 0 to :data:`~oam_preview.tiler.footprint_tiles.MAXZOOM` or a query selecting no
    footprint (a PMTiles file cannot be empty)."""
    if not 0 <= minzoom <= maxzoom <= MAXZOOM:
        raise ValueError(f"zooms must satisfy 0 <= minzoom <= maxzoom <= {MAXZOOM}")
    footprints = FootprintSet.build(catalog, query)
    if not len(footprints):
        raise ValueError("the query selects no image with a footprint")
    tiles = sorted(
        ((z, x, y) for z in range(minzoom, maxzoom + 1) for x, y in covering_tiles(footprints, z)),
        key=lambda t: zxy_to_tileid(*t),
    )
    bounds = footprints.selection.layer(LAYER).bounds
    w, s, e, n = (-180.0, bounds[1], 180.0, bounds[3]) if bounds[0] > bounds[2] else bounds
    lon, lat, zoom = center((w, s, e, n), minzoom)
    with write(str(path)) as writer:
        for z, x, y in tiles:
            writer.write_tile(
                zxy_to_tileid(z, x, y), gzip.compress(encode_tile(footprints, z, x, y), mtime=0)
            )
        writer.finalize(
            {
                "tile_type": TileType.MVT,
                "tile_compression": Compression.GZIP,
                "min_lon_e7": int(w * 1e7),
                "min_lat_e7": int(s * 1e7),
                "max_lon_e7": int(e * 1e7),
                "max_lat_e7": int(n * 1e7),
                "center_zoom": int(zoom),
                "center_lon_e7": int(lon * 1e7),
                "center_lat_e7": int(lat * 1e7),
            },
            {
                "name": "oam-preview footprints",
                "format": "pbf",
                "description": "Image footprints of an oam-preview catalog query",
                "query": query.to_args(),
                "vector_layers": [{**layer, "maxzoom": maxzoom} for layer in VECTOR_LAYERS],
            },
        )
    return len(tiles)
