"""Which tiles a request covers: one enumerator over boxes split at the antimeridian.

Boxes are (west, south, east, north) in EPSG:4326 degrees (:data:`~oam_preview.geo.geometry.BBox`;
west > east crosses ±180°, :func:`~oam_preview.geo.geometry.split_antimeridian`); tiles are XYZ
``(z, x, y)`` of Web Mercator (:mod:`oam_preview.geo.tiles`). An export's layer (:func:`plan`,
:func:`tiles`), a seed's tiles (:func:`tiles_within`) and a footprint archive's
(:func:`covering`) are all listed by :func:`covering`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ..catalog.model import Image
from ..catalog.store import CatalogStore
from ..geo.geometry import BBox, split_antimeridian
from ..geo.mercator import MAX_LATITUDE
from ..geo.tiles import tile_range
from ..tiler.imagery import Imagery
from ..tiler.mosaic import Mosaic
from ..tiler.ogc import image_layer, render_layer, tilejson
from ..tiler.selection import LAYER_TITLE
from .request import ExportError, ExportRequest

Tile = tuple[int, int, int]  # z, x, y (XYZ: y counts from the north)
#: The whole world, when a request names no bbox.
WORLD_BOX: BBox = (-180.0, -90.0, 180.0, 90.0)


class TooManyTiles(ExportError):
    """More tiles than the cap allows."""

    def __init__(self, count: int, cap: int) -> None:
        super().__init__(
            f"{count} tiles to export, more than the limit of {cap}: narrow the bbox or the zoom range"
        )
        self.count, self.cap = count, cap


@dataclass(frozen=True)
class Layer:
    """What a package holds: ``bounds`` (EPSG:4326 degrees) the union of ``areas``, the boxes
    whose tiles are asked for (one per image of a mosaic: far-apart images are not one huge
    box of empty tiles; none across ±180°), zooms of 256 px tiles."""

    name: str
    attribution: str | None
    bounds: BBox
    minzoom: int
    maxzoom: int
    areas: tuple[BBox, ...]

    @property
    def center(self) -> tuple[float, float, int]:
        w, s, e, n = self.bounds
        return ((w + e) / 2, (s + n) / 2, min(self.maxzoom, self.minzoom + 2))


def covering(boxes: Iterable[BBox], zoom: int) -> Iterator[tuple[int, int]]:
    """``(x, y)`` of the tiles at ``zoom`` that meet each of ``boxes`` (degrees; one across the
    antimeridian on both sides, latitudes within Web Mercator's), box by box, row by row: a
    tile two boxes meet comes twice."""
    for box in boxes:
        for w, s, e, n in split_antimeridian(box):
            s, n = max(s, -MAX_LATITUDE), min(n, MAX_LATITUDE)
            if s >= n:
                continue
            (x0, x1), (y0, y1) = tile_range((w, s, e, n), zoom)
            for y in range(y0, y1 + 1):
                for x in range(x0, x1 + 1):
                    yield x, y


def overlap(a: BBox, b: BBox) -> BBox | None:
    """The overlap of two boxes neither of which crosses the antimeridian; ``None`` when disjoint."""
    w, s, e, n = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    return (w, s, e, n) if w < e and s < n else None


def within(areas: Iterable[BBox], wanted: BBox | None) -> list[BBox]:
    """The parts of ``areas`` within ``wanted`` (``None``: the world), both split at the
    antimeridian, each once, in order: images of one footprint are walked once."""
    bounds = split_antimeridian(wanted or WORLD_BOX)
    found = (overlap(part, bound) for area in areas for part in split_antimeridian(area) for bound in bounds)
    return list(dict.fromkeys(o for o in found if o is not None))


def tiles_within(areas: Iterable[BBox], zooms: Iterable[int], wanted: BBox | None = None) -> Iterator[Tile]:
    """The XYZ tiles of ``areas`` within ``wanted`` at ``zooms``, zoom by zoom, each once."""
    parts = within(areas, wanted)
    for z in zooms:
        yield from ((z, x, y) for x, y in dict.fromkeys(covering(parts, z)))


def plan(request: ExportRequest, doc: Mapping[str, Any], areas: Sequence[BBox]) -> Layer:
    """The layer to package: ``areas`` (the imagery's boxes, degrees) within the request's bbox,
    its zooms or the TileJSON ``doc``'s (the overview zooms to native); :class:`ExportError`
    when they do not meet."""
    kept = within(areas, request.bbox)
    if not kept:
        raise ExportError("the bbox does not meet the imagery's bounds")
    bounds = (
        min(a[0] for a in kept),
        min(a[1] for a in kept),
        max(a[2] for a in kept),
        max(a[3] for a in kept),
    )
    low = doc["minzoom"] if request.minzoom is None else request.minzoom
    high = doc["maxzoom"] if request.maxzoom is None else request.maxzoom
    if request.maxzoom is None and request.minzoom is not None:
        high = max(high, low)
    if request.minzoom is None and request.maxzoom is not None:
        low = min(low, high)
    name = str(doc.get("name") or "oam-preview")
    return Layer(name, doc.get("attribution"), bounds, low, high, tuple(kept))


def _count(area: BBox, z: int) -> int:
    (x0, x1), (y0, y1) = tile_range(area, z)
    return (x1 - x0 + 1) * (y1 - y0 + 1)


def tiles(layer: Layer, cap: int) -> list[Tile]:
    """The XYZ tiles covering ``layer``'s areas, zoom by zoom, each once;
    :class:`TooManyTiles` when more than ``cap``."""
    bound = sum(_count(a, z) for z in range(layer.minzoom, layer.maxzoom + 1) for a in layer.areas)
    if bound > cap and len(layer.areas) == 1:
        raise TooManyTiles(bound, cap)
    if bound > 16 * cap:  # overlaps would not bring it under the cap: not worth listing
        raise TooManyTiles(bound, cap)
    found: dict[Tile, None] = {}
    for z in range(layer.minzoom, layer.maxzoom + 1):
        found.update(((z, x, y), None) for x, y in covering(layer.areas, z))
        if len(found) > cap:
            raise TooManyTiles(len(found), cap)
    return list(found)


class CoverageServices(Protocol):
    """What :func:`covered` reads: the catalog, and the imagery and mosaic it is drawn with."""

    @property
    def store(self) -> CatalogStore: ...

    @property
    def imagery(self) -> Imagery: ...

    @property
    def mosaic(self) -> Mosaic: ...


@dataclass(frozen=True)
class Covered:
    """What a request covers: the TileJSON of its layer (``doc``), the imagery's boxes
    (degrees), the catalog records a job reads, and a name for its file."""

    doc: dict[str, Any]
    areas: list[BBox]
    images: tuple[Image, ...]
    name: str


def covered(
    services: CoverageServices,
    request: ExportRequest,
    find: Callable[[str], Image] | None = None,
    allowed: Callable[[Image], bool] | None = None,
) -> Covered:
    """What ``request`` covers, as the tile routes' TileJSON says it; the API's errors (404 an
    unknown id or an empty selection, 400 a look an image cannot show). ``find``: how an id
    becomes a catalog record (the web's :func:`~oam_preview.web.image_request.catalog_image`;
    by default the catalog's :meth:`~oam_preview.catalog.search.Catalog.require`); ``allowed``:
    the private images a mosaic may hold (an API token's; none by default)."""
    catalog = services.store.catalog
    find = find or catalog.require
    if request.single:
        image = find(request.ids[0])
        imagery = services.imagery
        version = imagery.current_version(image)  # a changed file is described anew
        info = imagery.tiled_info(image, version=version)
        render, rendering = imagery.pick(image, request.asked, version=version)
        imagery.shown(image, rendering, info)  # what it cannot show as asked: the tiles' 400, now
        doc = tilejson(render_layer(image_layer(image, info), render), "")
        return Covered(doc, [tuple(doc["bounds"])], (image,), image.id)
    if request.mosaic is None:
        images = tuple(find(i) for i in request.ids)
        name = "group"
    else:
        images = catalog.select(request.mosaic, allowed)
        name = "mosaic"
    selection = services.mosaic.selection(catalog, request.selection, allowed)
    doc = tilejson(selection.layer(LAYER_TITLE), "")
    return Covered(doc, [i.bbox for i in selection.images if i.bbox is not None], images, name)
