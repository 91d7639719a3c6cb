"""Tile packages for offline use: MBTiles 1.3 or PMTiles v3 of one image, an ids group or a mosaic.

The tiles are asked of the app itself (a Flask test client, as ``oam-preview
seed`` does), so a package holds the tile routes' very bytes: same render
path, rendering options, cache and versions. One image's tiles come from
``/api/images/{id}/tiles``; an ids group is the mosaic of ``ids=…&order=catalog``;
a mosaic query is the listing's filters on ``/api/mosaic/tiles``.

Every package is first an MBTiles file (:mod:`oam_preview.tile_package`), committed
a batch at a time, so a killed export run again asks only for the tiles not yet
done; a PMTiles package is written from it once every tile is done.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .catalog import Catalog, Image
from .catalog.model import ID_PATTERN
from .catalog.query import ImageQuery
from .catalog.render_hints import MAX_NAME as MAX_RENDER_NAME
from .config import Settings
from .errors import BadRequest, NotFound, OutsideBounds, ZoomOutOfRange
from .geo.tiles import MAX_ZOOM, tile_range
from .local_app import LocalApp
from .seed import batches
from .tile_package import (
    CONTAINERS,
    BBox4,
    ExportError,
    Layer,
    Tile,
    TileStore,
    working_path,
    write_pmtiles,
)
from .tiler.rendering import DEFAULT, Rendering

#: Tile formats a package may hold (the tile routes' names).
TILE_FORMATS = ("png", "jpg", "webp")
BATCH = 32  # tiles per task handed to a process, and per commit
#: The 404 codes of a tile with nothing there (API.md), noted as done: not asked again.
EMPTY_CODES = (OutsideBounds.code, ZoomOutOfRange.code)


class TooManyTiles(ExportError):
    """More tiles than the cap allows."""

    def __init__(self, count: int, cap: int) -> None:
        super().__init__(
            f"{count} tiles to export, more than the limit of {cap}: narrow the bbox or the zoom range"
        )
        self.count, self.cap = count, cap


class _Args:
    """A mapping of lists, what :meth:`Rendering.from_args` reads, built from JSON values."""

    def __init__(self, values: Mapping[str, list[str]]) -> None:
        self.values = values

    def getlist(self, key: str) -> list[str]:
        return list(self.values.get(key, []))


def rendering_from_json(doc: Mapping[str, Any]) -> Rendering:
    """The tile API's rendering options from JSON: ``bidx`` (a number, a list or ``"3,2,1"``),
    ``nodata`` (a number or ``"nan"``), ``rescale`` (``"min,max"``, ``[min, max]`` or a list of
    them), ``colormap_name``, ``expression``, ``algorithm``, ``colormap`` and
    ``algorithm_params`` (JSON: as a value or as its text), ``collar`` and ``collar_tolerance``; :class:`BadRequest` as the tile
    routes answer."""
    values: dict[str, list[str]] = {}
    bidx = doc.get("bidx")
    if bidx is not None:
        values["bidx"] = [",".join(str(b) for b in bidx)] if isinstance(bidx, list) else [str(bidx)]
    if doc.get("nodata") is not None:
        values["nodata"] = [str(doc["nodata"])]
    rescale = doc.get("rescale")
    if rescale is not None:
        if isinstance(rescale, str) or (
            isinstance(rescale, list) and rescale and not isinstance(rescale[0], list | str)
        ):
            rescale = [rescale]
        if not isinstance(rescale, list):
            raise BadRequest("rescale must be 'min,max', [min, max] or a list of them")
        values["rescale"] = [r if isinstance(r, str) else ",".join(str(v) for v in r) for r in rescale]
    if doc.get("colormap_name") is not None:
        values["colormap_name"] = [str(doc["colormap_name"])]
    if doc.get("expression") is not None:
        values["expression"] = [str(doc["expression"])]
    if doc.get("algorithm") is not None:
        values["algorithm"] = [str(doc["algorithm"])]
    for name in ("colormap", "algorithm_params"):
        value = doc.get(name)
        if value is not None:
            values[name] = [value if isinstance(value, str) else json.dumps(value)]
    for name in ("collar", "collar_tolerance"):
        if doc.get(name) is not None:
            values[name] = [json.dumps(doc[name]).strip('"')]  # a bool is no tolerance: its 400
    return Rendering.from_args(_Args(values))


def _render_name(value: Any) -> str | None:
    """An export's ``render``: a render name (as the tile routes' ``render=``), or absent."""
    if value is None:
        return None
    if (
        not isinstance(value, str)
        or not value.strip()
        or len(value) > MAX_RENDER_NAME
        or not value.isprintable()
    ):
        raise BadRequest('render must be the name of a render of the images, e.g. "browse"')
    return value.strip()


@dataclass(frozen=True)
class ExportRequest:
    """What to package: one image (``ids`` of one), an ids group (several: the mosaic of
    ``ids=…&order=catalog``) or a mosaic (``mosaic``: the listing's canonical query string).
    ``bbox`` (west, south, east, north, EPSG:4326 degrees) and the zooms default to the
    layer's own; ``tile_format`` png, jpg or webp; ``container`` mbtiles or pmtiles."""

    ids: tuple[str, ...] = ()
    mosaic: str | None = None
    tile_format: str = "png"
    container: str = "mbtiles"
    bbox: BBox4 | None = None
    minzoom: int | None = None
    maxzoom: int | None = None
    rendering: Rendering = field(default=DEFAULT)
    #: The render each image is drawn with, by name (its default one when ``None``).
    render: str | None = None

    def __post_init__(self) -> None:
        if bool(self.ids) == (self.mosaic is not None):
            raise BadRequest("give ids or a mosaic, one of them")
        for image_id in self.ids:  # they go into tile URL paths
            if not ID_PATTERN.match(image_id):
                raise NotFound(f"no image with id {image_id[:128]!r} in the catalog")
        if self.tile_format not in TILE_FORMATS:
            raise BadRequest(f"tile_format must be one of {', '.join(TILE_FORMATS)}")
        self.rendering.output_format(self.tile_format)  # heights encoded: png only (a 400)
        if self.container not in CONTAINERS:
            raise BadRequest(f"format must be one of {', '.join(CONTAINERS)}")
        for name in ("minzoom", "maxzoom"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, int) and 0 <= value <= MAX_ZOOM):
                raise BadRequest(f"{name} must be a whole number from 0 to {MAX_ZOOM}")
        if self.minzoom is not None and self.maxzoom is not None and self.minzoom > self.maxzoom:
            raise BadRequest("minzoom is larger than maxzoom")
        if self.bbox is not None:
            w, s, e, n = self.bbox
            if not (-180 <= w < e <= 180 and -90 <= s < n <= 90):
                raise BadRequest("bbox must be west,south,east,north in degrees, west < east, south < north")

    @classmethod
    def build(
        cls,
        ids: Sequence[str] = (),
        mosaic: Mapping[str, str] | None = None,
        **options: Any,
    ) -> ExportRequest:
        """A request whose mosaic query is in canonical form (``ImageQuery`` parses it: a bad
        filter is a :class:`BadRequest`) and whose ids are each named once (the first time: as
        the listing's ``ids=``), so two spellings of one request are one request."""
        query = None
        if mosaic is not None:
            query = urllib.parse.urlencode(ImageQuery.from_args(mosaic, default_order="newest").to_args())
        return cls(ids=tuple(dict.fromkeys(ids)), mosaic=query, **options)

    @classmethod
    def from_json(cls, doc: Any) -> ExportRequest:
        """The request of ``POST /api/exports``' JSON body (API.md "Exports")."""
        if not isinstance(doc, dict):
            raise BadRequest("the body must be a JSON object")
        known = {"ids", "mosaic", "format", "tile_format", "bbox", "minzoom", "maxzoom"}
        known |= {"bidx", "nodata", "rescale", "colormap_name", "expression", "render"}
        known |= {"colormap", "algorithm", "algorithm_params", "collar", "collar_tolerance"}
        unknown = sorted(set(doc) - known)
        if unknown:
            raise BadRequest(f"unknown field {unknown[0][:40]!r}; the fields are {', '.join(sorted(known))}")
        ids = doc.get("ids") or []
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids) or len(ids) > 1000:
            raise BadRequest("ids must be a list of at most 1000 image ids")
        mosaic = doc.get("mosaic")
        if mosaic is not None:
            if not isinstance(mosaic, dict) or not all(
                isinstance(v, str | int | float) for v in mosaic.values()
            ):
                raise BadRequest('mosaic must be an object of listing filters, e.g. {"gsd_max": "1"}')
            mosaic = {str(k): str(v) for k, v in mosaic.items()}
        bbox = doc.get("bbox")
        if bbox is not None:
            if not (isinstance(bbox, list) and len(bbox) == 4 and all(_is_number(v) for v in bbox)):
                raise BadRequest("bbox must be [west, south, east, north] in degrees (EPSG:4326)")
            bbox = tuple(float(v) for v in bbox)
        for name in ("minzoom", "maxzoom"):
            if doc.get(name) is not None and (not isinstance(doc[name], int) or isinstance(doc[name], bool)):
                raise BadRequest(f"{name} must be a whole number from 0 to {MAX_ZOOM}")
        return cls.build(
            ids,
            mosaic,
            tile_format=str(doc.get("tile_format", "png")),
            container=str(doc.get("format", "mbtiles")),
            bbox=bbox,
            minzoom=doc.get("minzoom"),
            maxzoom=doc.get("maxzoom"),
            rendering=rendering_from_json(doc),
            render=_render_name(doc.get("render")),
        )

    @property
    def single(self) -> bool:
        return len(self.ids) == 1 and self.mosaic is None

    @property
    def base(self) -> str:
        return f"/api/images/{self.ids[0]}" if self.single else "/api/mosaic"

    @property
    def query(self) -> str:
        """The tile URLs' query string: the mosaic's selection (none for one image), then the
        rendering options, which the image and the mosaic tile routes both take."""
        named = [("render", self.render)] if self.render is not None else []
        rendering = urllib.parse.urlencode([*named, *self.rendering.to_args()], safe=",")
        if self.single:
            selection = ""
        elif self.mosaic is not None:
            selection = self.mosaic
        else:
            selection = urllib.parse.urlencode(ImageQuery(ids=self.ids, order="catalog").to_args())
        return "&".join(part for part in (selection, rendering) if part)

    def path(self, z: int, x: int, y: int) -> str:
        """The tile's URL path, relative to the blueprint's root."""
        query = f"?{self.query}" if self.query else ""
        return f"{self.base}/tiles/{z}/{x}/{y}.{self.tile_format}{query}"

    def canonical(self) -> str:
        """The request as canonical JSON: the same for every spelling of one request."""
        doc = {
            "ids": list(self.ids),
            "mosaic": self.mosaic,
            "tile_format": self.tile_format,
            "format": self.container,
            "bbox": list(self.bbox) if self.bbox else None,
            "minzoom": self.minzoom,
            "maxzoom": self.maxzoom,
            "rendering": self.rendering.key(),
            "render": self.render,
        }
        return json.dumps(doc, sort_keys=True, separators=(",", ":"))

    def digest(self) -> str:
        return hashlib.blake2b(self.canonical().encode(), digest_size=16).hexdigest()


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _overlap(a: Sequence[float], b: Sequence[float]) -> BBox4 | None:
    w, s, e, n = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    return (w, s, e, n) if w < e and s < n else None


def _split(box: Sequence[float]) -> list[BBox4]:
    """A box crossing the antimeridian (west > east) as the two it is."""
    w, s, e, n = box
    return [(w, s, 180.0, n), (-180.0, s, e, n)] if w > e else [(w, s, e, n)]


def plan(request: ExportRequest, tilejson: Mapping[str, Any], areas: Sequence[Sequence[float]]) -> Layer:
    """The layer to package: ``areas`` (the imagery's boxes, degrees) within the request's bbox,
    its zooms or the TileJSON's (the overview zooms to native); :class:`ExportError` when they
    do not meet."""
    wanted = request.bbox or (-180.0, -90.0, 180.0, 90.0)
    # Each box once: images of one footprint would each be walked again by tiles().
    kept = list(
        dict.fromkeys(
            o for area in areas for part in _split(area) if (o := _overlap(part, wanted)) is not None
        )
    )
    if not kept:
        raise ExportError("the bbox does not meet the imagery's bounds")
    bounds = (
        min(a[0] for a in kept),
        min(a[1] for a in kept),
        max(a[2] for a in kept),
        max(a[3] for a in kept),
    )
    low = tilejson["minzoom"] if request.minzoom is None else request.minzoom
    high = tilejson["maxzoom"] if request.maxzoom is None else request.maxzoom
    if request.maxzoom is None and request.minzoom is not None:
        high = max(high, low)
    if request.minzoom is None and request.maxzoom is not None:
        low = min(low, high)
    name = str(tilejson.get("name") or "oam-preview")
    return Layer(name, tilejson.get("attribution"), bounds, low, high, tuple(kept))


def _area_count(area: BBox4, z: int) -> int:
    (x0, x1), (y0, y1) = tile_range(area, z)
    return (x1 - x0 + 1) * (y1 - y0 + 1)


def tiles(layer: Layer, cap: int) -> list[Tile]:
    """The XYZ tiles covering ``layer``'s areas, zoom by zoom, each once;
    :class:`TooManyTiles` when more than ``cap``."""
    bound = sum(_area_count(a, z) for z in range(layer.minzoom, layer.maxzoom + 1) for a in layer.areas)
    if bound > cap and len(layer.areas) == 1:
        raise TooManyTiles(bound, cap)
    if bound > 16 * cap:  # overlaps would not bring it under the cap: not worth listing
        raise TooManyTiles(bound, cap)
    found: dict[Tile, None] = {}
    for z in range(layer.minzoom, layer.maxzoom + 1):
        for area in layer.areas:
            (x0, x1), (y0, y1) = tile_range(area, z)
            for y in range(y0, y1 + 1):
                for x in range(x0, x1 + 1):
                    found[(z, x, y)] = None
        if len(found) > cap:
            raise TooManyTiles(len(found), cap)
    return list(found)


# -- the tiles: asked of the app ------------------------------------------------------------


class TileSource(LocalApp):
    """The app of one exporting process, asked for tiles through its test client.

    ``images``: the images to serve (a job's snapshot); ``None``: the settings' catalog.
    """

    def __init__(self, settings: Settings, images: Sequence[Image] | None = None) -> None:
        super().__init__(settings, None if images is None else Catalog.from_images(images))

    def tilejson(self, request: ExportRequest) -> dict[str, Any]:
        """The TileJSON of what ``request`` packages; :class:`ExportError` with the API's message."""
        if not request.single:
            self.wait_for_footprints()
        query = f"?{request.query}" if request.query else ""
        answer = self.client.get(f"{request.base}/tilejson.json{query}")
        if answer.status_code != 200:
            error = answer.get_json(silent=True) or {}
            message = error.get("error", {}).get("message") or answer.get_data(as_text=True)[:200]
            raise ExportError(message)  # the API's own words: the route asked is no business of a user
        doc: dict[str, Any] = answer.get_json()
        return doc

    def areas(self, request: ExportRequest, tilejson: Mapping[str, Any]) -> list[Sequence[float]]:
        """The boxes (degrees) of the imagery: one image's TileJSON bounds, or each placed
        image of the mosaic (those with a footprint, as the mosaic places them)."""
        if request.single:
            return [tilejson["bounds"]]
        args = dict(urllib.parse.parse_qsl(request.query, keep_blank_values=True))
        query = ImageQuery.from_args(args, default_order="newest")
        return [i.bbox for i in self.catalog().select(query) if i.footprint is not None and i.bbox]

    def render(self, request: ExportRequest, batch: Sequence[Tile]) -> list[tuple[Tile, bytes | None]]:
        """Each tile of ``batch`` with its bytes, ``None`` when answered 404 (nothing there); a
        tile answered anything else is left out (not done: a later run asks again)."""
        done: list[tuple[Tile, bytes | None]] = []
        for z, x, y in batch:
            answer = self.client.get(request.path(z, x, y))
            if answer.status_code == 200:
                done.append(((z, x, y), answer.get_data()))
            elif answer.status_code == 404 and self._nothing_there(answer):
                done.append(((z, x, y), None))
        return done

    @staticmethod
    def _nothing_there(answer: Any) -> bool:
        """A 404 that says the tile is empty (outside the imagery, past its zooms), not that the
        image or the selection is missing (which a later run may find)."""
        error = (answer.get_json(silent=True) or {}).get("error", {})
        return error.get("code") in EMPTY_CODES


_SOURCE: TileSource | None = None  # one per pool process


def _init(settings: Settings, images: Sequence[Image] | None) -> None:
    global _SOURCE
    _SOURCE = TileSource(settings, images)
    # Its own catalog's footprints, as the first process's: a mosaic needs them placed.
    _SOURCE.wait_for_footprints()


def _task(args: tuple[ExportRequest, list[Tile]]) -> tuple[int, list[tuple[Tile, bytes | None]]]:
    assert _SOURCE is not None
    request, batch = args
    return len(batch), _SOURCE.render(request, batch)


@dataclass(frozen=True)
class Outcome:
    """What an export did: ``stored`` tiles with pixels, ``empty`` (404), ``failed`` (anything
    else: not done, a later run asks again), ``skipped`` (done by an earlier run)."""

    total: int
    stored: int = 0
    empty: int = 0
    failed: int = 0
    skipped: int = 0
    complete: bool = False


def export(
    settings: Settings,
    request: ExportRequest,
    output: Path,
    processes: int = 1,
    max_tiles: int = 100_000,
    images: Sequence[Image] | None = None,
    progress: Callable[[int], None] = lambda n: None,
    started: Callable[[int, int], None] = lambda total, pending: None,
    here: TileSource | None = None,
) -> Outcome:
    """Package ``request`` at ``output`` (MBTiles or PMTiles by ``request.container``), resuming an
    earlier run. ``images``: the catalog to serve (``None``: the settings'); ``started(total,
    pending)`` once the plan is known, ``progress(n)`` after every ``n`` tiles asked for.

    :class:`TooManyTiles` past ``max_tiles``; :class:`ExportError` when there is nothing to
    export. With tiles failed the package stays unfinished (``complete`` False)."""
    source = here or TileSource(settings, images)
    tilejson = source.tilejson(request)
    layer = plan(request, tilejson, source.areas(request, tilejson))
    wanted = tiles(layer, max_tiles)
    total = len(wanted)
    store = TileStore(working_path(output), request.canonical())
    try:
        store.write_metadata(layer, request.tile_format)
        done = store.done()
        pending = [t for t in wanted if t not in done]
        started(total, len(pending))
        stored = empty = 0
        # Small exports too are spread over the processes: a few batches each at least.
        size = max(1, min(BATCH, -(-len(pending) // (max(1, processes) * 4))))
        tasks = [(request, batch) for batch in batches(pending, size)]
        for n, results in _run(settings, images, tasks, processes, source):
            store.put(results)
            stored += sum(1 for _, data in results if data is not None)
            empty += sum(1 for _, data in results if data is None)
            progress(n)
        failed = len(pending) - stored - empty
        if not failed and request.container == "pmtiles":
            write_pmtiles(store, layer, request.tile_format, output)
    finally:
        store.close()
    if not failed and request.container == "pmtiles":
        store.path.unlink()
    return Outcome(total, stored, empty, failed, total - len(pending), complete=not failed)


def _run(
    settings: Settings,
    images: Sequence[Image] | None,
    tasks: list[tuple[ExportRequest, list[Tile]]],
    processes: int,
    here: TileSource,
) -> Iterator[tuple[int, list[tuple[Tile, bytes | None]]]]:
    """The tasks' tiles, here or in a pool of *spawned* processes (never forked: GDAL must not
    be inherited half-initialised), each with its own app, as ``seed`` runs."""
    if processes <= 1 or len(tasks) <= 1:
        for request, batch in tasks:
            yield len(batch), here.render(request, batch)
        return
    context = multiprocessing.get_context("spawn")
    with context.Pool(min(processes, len(tasks)), initializer=_init, initargs=(settings, images)) as pool:
        yield from pool.imap_unordered(_task, tasks)
