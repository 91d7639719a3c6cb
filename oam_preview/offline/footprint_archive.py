"""The footprint tiles of a catalog query over a zoom range, as one PMTiles v3 file (offline use).

The tiles are those of ``/api/footprints/{z}/{x}/{y}.mvt`` for the same query
(:func:`~oam_preview.tiler.footprint_tiles.encode_tile`), gzip-compressed as PMTiles
readers expect of MVT, written by :func:`~oam_preview.offline.package.write_pmtiles`. Only
tiles that meet an image's bounds are written (:func:`~oam_preview.offline.coverage.covering`);
a reader answers the others as empty.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

from ..catalog import Catalog
from ..catalog.query import ImageQuery
from ..geo.geometry import crosses_antimeridian
from ..tiler.footprint_tiles import LAYER, MAXZOOM, VECTOR_LAYERS, FootprintSet, encode_tile
from ..tiler.ogc import center
from .coverage import covering
from .package import pmtiles_header
from .package import write_pmtiles as write_package

#: Zooms a footprint archive has unless asked: a client overzooms the last one.
DEFAULT_MAXZOOM = 14


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
    from pmtiles.tile import Compression, TileType, zxy_to_tileid

    if not 0 <= minzoom <= maxzoom <= MAXZOOM:
        raise ValueError(f"zooms must satisfy 0 <= minzoom <= maxzoom <= {MAXZOOM}")
    footprints = FootprintSet.build(catalog, query)
    if not len(footprints):
        raise ValueError("the query selects no image with a footprint")
    boxes = [i.bbox for i in footprints.selection.images if i.bbox is not None]
    tiles = sorted(
        {(z, x, y) for z in range(minzoom, maxzoom + 1) for x, y in covering(boxes, z)},
        key=lambda t: zxy_to_tileid(*t),
    )

    def encoded() -> Iterator[tuple[int, bytes]]:
        for z, x, y in tiles:
            yield zxy_to_tileid(z, x, y), gzip.compress(encode_tile(footprints, z, x, y), mtime=0)

    bounds = footprints.selection.layer(LAYER).bounds
    # A PMTiles header's bounds cannot cross the antimeridian: the world's width then.
    w, s, e, n = (-180.0, bounds[1], 180.0, bounds[3]) if crosses_antimeridian(bounds) else bounds
    lon, lat, zoom = center((w, s, e, n), minzoom)
    header = pmtiles_header(TileType.MVT, Compression.GZIP, (w, s, e, n), (lon, lat, int(zoom)))
    metadata = {
        "name": "oam-preview footprints",
        "format": "pbf",
        "description": "Image footprints of an oam-preview catalog query",
        "query": query.to_args(),
        "vector_layers": [{**layer, "maxzoom": maxzoom} for layer in VECTOR_LAYERS],
    }
    return write_package(Path(path), encoded(), header, metadata)
