"""The catalog's footprints as Mapbox Vector Tiles 2.1 (API.md "Footprint tiles").

A query (the listing's filters) selects images; :class:`FootprintSet` holds
them as the mosaic does (:class:`~oam_preview.tiler.selection.Selection`: footprints in
EPSG:3857 metres), each footprint as the parts a map draws apart (one; two, one
each side, for an image across the antimeridian) with their spatial index, and
a digest of everything a tile shows. :func:`encode_tile` makes one tile of
layer :data:`LAYER`: each part whose extent is larger than
:data:`POINT_PIXELS` is clipped to the tile and a buffer and simplified to a
pixel of that zoom; smaller ones are points at their extent's middle, gathered
by a grid of :data:`CELL_PIXELS` cells aligned across tiles: a cell with one
image is that image's point, a cell with more a cluster point carrying
``point_count``. So a world tile over 20,000 images holds at most a few
thousand points, whatever the catalog's size.

Tile coordinates are MVT's: :data:`EXTENT` units a tile side, y down.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import mapbox_vector_tile
import numpy as np
import shapely
from mapbox_vector_tile.encoder import on_invalid_geometry_make_valid
from shapely import STRtree
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

from ..catalog import Catalog, Image
from ..catalog.query import ImageQuery
from ..geo.geometry import antimeridian_sides
from ..geo.tiles import xy_bounds
from ..memo import Memo
from .selection import Selection

#: The one layer of a footprint tile.
LAYER = "footprints"
MEDIA_TYPE = "application/vnd.mapbox-vector-tile"
#: MVT units a tile side (the spec's default).
EXTENT = 4096
#: Zooms served; clients overzoom the last one.
MINZOOM, MAXZOOM = 0, 18
#: A footprint whose extent's longer side is at most this many pixels (of a 256 px tile) is a point.
POINT_PIXELS = 4.0
#: Side of a cluster cell in pixels (of a 256 px tile); a tile side is a whole number of them.
CELL_PIXELS = 8
#: Pixels around a tile (of 256) whose geometries a tile also holds, so outlines and symbols
#: that cross a tile edge are drawn whole: one cluster cell, so a cell is always whole too.
BUFFER_PIXELS = CELL_PIXELS
#: Polygons in one tile at most; the smaller ones past this are points, so a tile over a dense
#: survey stays bounded.
MAX_POLYGONS = 2000
#: What each feature's properties may hold (TileJSON ``vector_layers`` fields).
FIELDS = {
    "id": "String: the image id (single footprints and points)",
    "title": "String: the image's title",
    "acquisition_start": "String: ISO 8601 UTC datetime the acquisition began",
    "acquisition_end": "String: ISO 8601 UTC datetime the acquisition ended",
    "gsd": "Number: ground sample distance, metres",
    "provider": "String: who provided the image",
    "platform": "String: uav, aircraft, satellite...",
    "point_count": "Number: images a cluster point stands for (clusters only, > 1)",
}
#: The TileJSON ``vector_layers`` of footprint tiles (also in a PMTiles export's metadata).
VECTOR_LAYERS = (
    {
        "id": LAYER,
        "description": "Image footprints; small ones as points, clustered by cell",
        "minzoom": MINZOOM,
        "maxzoom": MAXZOOM,
        "fields": FIELDS,
    },
)
#: Footprint sets (catalog and query) kept per worker.
SETS_KEPT = 16


def tile_properties(image: Image) -> dict[str, Any]:
    """An image's properties in a tile: :data:`FIELDS` but ``point_count``; unknown ones left out."""
    props = image.feature_properties()
    doc = {"id": image.id, "title": image.title}
    for name in ("acquisition_start", "acquisition_end", "gsd", "provider", "platform"):
        if props.get(name) is not None:
            doc[name] = props[name]
    return doc


@dataclass(frozen=True, eq=False)
class FootprintSet:
    """The images of a query that have a footprint, as the mosaic selects them, drawn as
    ``parts`` (EPSG:3857 metres, in the selection's order): each footprint's
    :func:`~oam_preview.geo.geometry.antimeridian_sides`, so an image across the antimeridian
    is two parts, one each side, each drawn as its own size says (not one spanning the world).
    ``owners`` is each part's image (selection index), ``extents`` the parts' (minx, miny,
    maxx, maxy) as (m, 4), ``centres`` their middles as (m, 2), ``tree`` their spatial index,
    and ``digest`` names all a tile may show (ids, properties, geometries) in cache keys.
    Properties are made per tile, not kept: a worker keeps several sets of 20,000 images."""

    selection: Selection
    owners: np.ndarray
    parts: tuple[BaseGeometry, ...]
    extents: np.ndarray
    centres: np.ndarray
    tree: STRtree
    digest: str

    @classmethod
    def build(
        cls, catalog: Catalog, query: ImageQuery, allowed: Callable[[Image], bool] | None = None
    ) -> FootprintSet:
        selection = Selection.build(catalog, query, allowed)
        owners: list[int] = []
        parts: list[BaseGeometry] = []
        for i, (image, footprint) in enumerate(zip(selection.images, selection.footprints, strict=True)):
            sides = antimeridian_sides(footprint, image.bbox) if image.bbox is not None else (footprint,)
            owners.extend([i] * len(sides))
            parts.extend(sides)
        ext = shapely.bounds(np.array(parts, dtype=object)).reshape(-1, 4)
        centres = np.column_stack([(ext[:, 0] + ext[:, 2]) / 2, (ext[:, 1] + ext[:, 3]) / 2])
        digest = hashlib.blake2b(digest_size=12)
        wkb = shapely.to_wkb(np.array(selection.footprints, dtype=object)) if selection.images else []
        for image, geometry in zip(selection.images, wkb, strict=True):
            digest.update(json.dumps(tile_properties(image), sort_keys=True).encode())
            digest.update(geometry)
        return cls(
            selection,
            np.array(owners, dtype=np.int64),
            tuple(parts),
            ext,
            centres.reshape(-1, 2),
            STRtree(parts),
            digest.hexdigest(),
        )

    def properties(self, i: int) -> dict[str, Any]:
        """The tile properties of image ``i`` of the selection."""
        return tile_properties(self.selection.images[i])

    def owner(self, part: int) -> int:
        """The image (selection index) of part ``part``."""
        return int(self.owners[part])

    def __len__(self) -> int:
        return len(self.selection.images)


class FootprintTiles:
    """Footprint sets by catalog and query, built once per worker (a world of 20,000 records
    takes a few hundred ms), and their tiles."""

    def __init__(self, kept: int = SETS_KEPT) -> None:
        self._sets: Memo[tuple[int, ImageQuery, frozenset[str]], FootprintSet] = Memo(kept)

    def footprints(
        self, catalog: Catalog, query: ImageQuery, allowed: Callable[[Image], bool] | None = None
    ) -> FootprintSet:
        """The footprints of ``query`` in ``catalog``, private images as ``allowed`` admits them
        (an API token's scope; none without it)."""
        # By the catalog's id: a kept set holds its catalog, so that id is not reused meanwhile;
        # and by the marked images it holds now (an embargo's end, a token's scope: another set).
        key = (id(catalog), query, catalog.seen_marked(allowed))
        return self._sets.get(key, lambda: FootprintSet.build(catalog, query, allowed))

    def key(self, footprints: FootprintSet, z: int, x: int, y: int) -> str:
        """The response cache key of a tile."""
        return f"footprints|{footprints.digest}|{z}/{x}/{y}"


def encode_tile(footprints: FootprintSet, z: int, x: int, y: int) -> bytes:
    """Tile ``z/x/y`` of ``footprints`` as MVT bytes: always the one layer, maybe without features."""
    west, south, east, north = xy_bounds(z, x, y)
    pixel = (east - west) / 256  # metres
    pad = BUFFER_PIXELS * pixel
    found = np.empty(0, dtype=np.int64)  # parts, in the selection's order
    if len(footprints):
        # Envelopes only: clipping drops what does not reach the tile, and that is cheaper than a
        # predicate over 20,000 polygons at zoom 0.
        found = np.sort(footprints.tree.query(shapely.box(west - pad, south - pad, east + pad, north + pad)))
    ext = footprints.extents[found]
    span = np.maximum(ext[:, 2] - ext[:, 0], ext[:, 3] - ext[:, 1]) / pixel
    polygons = found[span > POINT_PIXELS]
    if polygons.size > MAX_POLYGONS:
        largest = np.sort(np.argsort(-span[span > POINT_PIXELS], kind="stable")[:MAX_POLYGONS])
        polygons = polygons[largest]
    points = np.setdiff1d(found, polygons, assume_unique=True)

    scale = EXTENT / (east - west)

    def to_tile(coords: np.ndarray) -> np.ndarray:
        return np.column_stack([(coords[:, 0] - west) * scale, (north - coords[:, 1]) * scale])

    features: list[dict[str, Any]] = []
    if polygons.size:
        geoms = np.array([footprints.parts[int(i)] for i in polygons], dtype=object)
        geoms = shapely.clip_by_rect(geoms, west - pad, south - pad, east + pad, north + pad)
        geoms = shapely.transform(shapely.simplify(geoms, pixel, preserve_topology=True), to_tile)
        for part, geometry in zip(polygons.tolist(), geoms, strict=True):
            if not geometry.is_empty and geometry.geom_type in ("Polygon", "MultiPolygon"):
                i = footprints.owner(part)
                features.append({"geometry": geometry, "properties": footprints.properties(i), "id": i})
    if points.size:
        features.extend(_point_features(footprints, points, (west, north), pixel, to_tile))
    return mapbox_vector_tile.encode(  # type: ignore[no-any-return]
        {"name": LAYER, "features": features},
        default_options={
            "extents": EXTENT,
            "y_coord_down": True,
            "on_invalid_geometry": on_invalid_geometry_make_valid,
        },
    )


def _point_features(
    footprints: FootprintSet,
    points: np.ndarray,
    corner: tuple[float, float],
    pixel: float,
    to_tile: Any,
) -> list[dict[str, Any]]:
    """The point features of the parts ``points`` (:class:`FootprintSet` part indexes): one per occupied cluster
    cell of the tile and its buffer, at the mean of its images' middles. ``corner`` is the tile's
    (west, north) in EPSG:3857 metres, ``pixel`` metres a pixel."""
    west, north = corner
    cell = CELL_PIXELS * pixel
    cells = 256 // CELL_PIXELS
    centres = footprints.centres[points]
    col = np.floor((centres[:, 0] - west) / cell).astype(np.int64)
    row = np.floor((north - centres[:, 1]) / cell).astype(np.int64)
    # The buffer is one cell: cells -1 to `cells` of each axis, every one whole.
    inside = (col >= -1) & (col <= cells) & (row >= -1) & (row <= cells)
    points, centres, col, row = points[inside], centres[inside], col[inside], row[inside]
    if points.size == 0:
        return []
    _, first, inverse, counts = np.unique(
        (row + 1) * (cells + 2) + (col + 1), return_index=True, return_inverse=True, return_counts=True
    )
    sums = np.zeros((counts.size, 2))
    np.add.at(sums, inverse, centres)
    where = to_tile(sums / counts[:, None])
    features = []
    # In the selection's order of each cell's first image, so a tile's order follows the query's.
    for g in np.argsort(first, kind="stable").tolist():
        geometry = Point(float(where[g, 0]), float(where[g, 1]))
        if counts[g] == 1:
            i = footprints.owner(int(points[first[g]]))
            features.append({"geometry": geometry, "properties": footprints.properties(i), "id": i})
        else:
            features.append({"geometry": geometry, "properties": {"point_count": int(counts[g])}})
    return features
