"""Tile packages for offline use: MBTiles 1.3 or PMTiles v3 of one image, an ids group or a mosaic.

The tiles are asked of the app itself (a Flask test client, as ``oam-preview
seed`` does), so a package holds the tile routes' very bytes: same render
path, rendering options, cache and versions. One image's tiles come from
``/api/images/{id}/tiles``; an ids group is the mosaic of ``ids=…&order=catalog``;
a mosaic query is the listing's filters on ``/api/mosaic/tiles``.

Every package is first an MBTiles file (sqlite3): tiles are committed a batch
at a time, and the tiles answered 404 (nothing there) are noted in a table of
their own, so a killed export run again asks only for the tiles not yet done.
A PMTiles package is written from that MBTiles (kept beside it as
``FILE.pmtiles.part.mbtiles``) once every tile is done, with the ``pmtiles``
package's writer, then the sidecar is removed.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import sqlite3
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .catalog import Catalog, Image
from .catalog.model import ID_PATTERN
from .catalog.query import ImageQuery
from .config import Settings
from .errors import BadRequest, NotFound, OutsideBounds, ZoomOutOfRange
from .geo.tiles import MAX_ZOOM, tile_range
from .local_app import LocalApp
from .seed import batches
from .tiler.rendering import DEFAULT, Rendering

#: Tile formats a package may hold (the tile routes' names).
TILE_FORMATS = ("png", "jpg", "webp")
#: Containers, by file name extension.
CONTAINERS = ("mbtiles", "pmtiles")
BATCH = 32  # tiles per task handed to a process, and per commit
#: The sqlite table of the tiles answered 404, so that a resumed export does not ask again.
EMPTY_TABLE = "oam_preview_empty"
#: The 404 codes of a tile with nothing there (API.md), noted as done: not asked again.
EMPTY_CODES = (OutsideBounds.code, ZoomOutOfRange.code)
#: The metadata row holding the canonical request an MBTiles file is being written for.
REQUEST_KEY = "oam_preview_request"

Tile = tuple[int, int, int]  # z, x, y (XYZ: y counts from the north)
BBox4 = tuple[float, float, float, float]


class ExportError(Exception):
    """An export that cannot be done as asked (a message for a person)."""


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
    them), ``colormap_name``, ``expression``; :class:`BadRequest` as the tile routes answer."""
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
    return Rendering.from_args(_Args(values))


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

    def __post_init__(self) -> None:
        if bool(self.ids) == (self.mosaic is not None):
            raise BadRequest("give ids or a mosaic, one of them")
        for image_id in self.ids:  # they go into tile URL paths
            if not ID_PATTERN.match(image_id):
                raise NotFound(f"no image with id {image_id[:128]!r} in the catalog")
        if self.tile_format not in TILE_FORMATS:
            raise BadRequest(f"tile_format must be one of {', '.join(TILE_FORMATS)}")
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
        filter is a :class:`BadRequest`), so two spellings of one request are one request."""
        query = None
        if mosaic is not None:
            query = urllib.parse.urlencode(ImageQuery.from_args(mosaic, default_order="newest").to_args())
        return cls(ids=tuple(ids), mosaic=query, **options)

    @classmethod
    def from_json(cls, doc: Any) -> ExportRequest:
        """The request of ``POST /api/exports``' JSON body (API.md "Exports")."""
        if not isinstance(doc, dict):
            raise BadRequest("the body must be a JSON object")
        known = {"ids", "mosaic", "format", "tile_format", "bbox", "minzoom", "maxzoom"}
        known |= {"bidx", "nodata", "rescale", "colormap_name", "expression"}
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
        rendering = urllib.parse.urlencode(self.rendering.to_args())
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
        }
        return json.dumps(doc, sort_keys=True, separators=(",", ":"))

    def digest(self) -> str:
        return hashlib.blake2b(self.canonical().encode(), digest_size=16).hexdigest()


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class Layer:
    """What a package holds: ``bounds`` (EPSG:4326 degrees) the union of ``areas``, the boxes
    whose tiles are asked for (one per image of a mosaic: far-apart images are not one huge
    box of empty tiles), zooms of 256 px tiles."""

    name: str
    attribution: str | None
    bounds: BBox4
    minzoom: int
    maxzoom: int
    areas: tuple[BBox4, ...]

    @property
    def center(self) -> tuple[float, float, int]:
        w, s, e, n = self.bounds
        return ((w + e) / 2, (s + n) / 2, min(self.maxzoom, self.minzoom + 2))


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
    kept = [o for area in areas for part in _split(area) if (o := _overlap(part, wanted)) is not None]
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
            raise ExportError(f"{request.base}: {message}")
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


# -- the package: MBTiles (sqlite3), PMTiles written from it ----------------------------------


def flip(z: int, y: int) -> int:
    """An XYZ row as an MBTiles (TMS) row, and back: MBTiles counts rows from the south."""
    return (1 << z) - 1 - y


class TileStore:
    """An MBTiles 1.3 file being written: ``tiles`` and ``metadata`` as the spec has them, plus the
    table of tiles found empty; ``request`` (canonical JSON) is kept in the metadata, and a file
    begun for another request is refused (:class:`ExportError`)."""

    def __init__(self, path: Path, request: str) -> None:
        self.path = path
        self.db = sqlite3.connect(path)
        with self.db:
            self.db.execute("CREATE TABLE IF NOT EXISTS metadata (name TEXT, value TEXT)")
            self.db.execute("CREATE UNIQUE INDEX IF NOT EXISTS name ON metadata (name)")
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS tiles "
                "(zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB)"
            )
            self.db.execute(
                "CREATE UNIQUE INDEX IF NOT EXISTS tile_index ON tiles (zoom_level, tile_column, tile_row)"
            )
            self.db.execute(
                f"CREATE TABLE IF NOT EXISTS {EMPTY_TABLE} (zoom_level INTEGER, tile_column INTEGER, "
                "tile_row INTEGER, PRIMARY KEY (zoom_level, tile_column, tile_row))"
            )
        row = self.db.execute("SELECT value FROM metadata WHERE name = ?", (REQUEST_KEY,)).fetchone()
        if row is None:
            with self.db:
                self.db.execute("INSERT INTO metadata VALUES (?, ?)", (REQUEST_KEY, request))
        elif row[0] != request:
            self.db.close()
            raise ExportError(f"{path} holds tiles of another export: remove it or write elsewhere")

    def done(self) -> set[Tile]:
        """The XYZ tiles already done: stored, or found empty."""
        found: set[Tile] = set()
        for table in ("tiles", EMPTY_TABLE):
            for z, x, row in self.db.execute(f"SELECT zoom_level, tile_column, tile_row FROM {table}"):
                found.add((z, x, flip(z, row)))
        return found

    def put(self, results: Iterable[tuple[Tile, bytes | None]]) -> None:
        """Store tiles (``None``: found empty) in one transaction."""
        rows = [(z, x, flip(z, y), data) for (z, x, y), data in results]
        with self.db:
            self.db.executemany(
                "INSERT OR REPLACE INTO tiles VALUES (?, ?, ?, ?)", [r for r in rows if r[3] is not None]
            )
            self.db.executemany(
                f"INSERT OR REPLACE INTO {EMPTY_TABLE} VALUES (?, ?, ?)",
                [r[:3] for r in rows if r[3] is None],
            )

    def write_metadata(self, layer: Layer, tile_format: str) -> None:
        """MBTiles 1.3's metadata rows of ``layer``."""
        lon, lat, zoom = layer.center
        rows = {
            "name": layer.name,
            "format": tile_format,
            "bounds": ",".join(f"{v:.8f}" for v in layer.bounds),
            "center": f"{lon:.8f},{lat:.8f},{zoom}",
            "minzoom": str(layer.minzoom),
            "maxzoom": str(layer.maxzoom),
            "attribution": layer.attribution or "",
            "type": "overlay",
            "version": "1.3",
            "description": f"{layer.name}: exported by oam-preview",
        }
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO metadata VALUES (?, ?)", list(rows.items()))

    def close(self) -> None:
        self.db.close()


def write_pmtiles(store: TileStore, layer: Layer, tile_format: str, output: Path) -> None:
    """Write the tiles of ``store`` as PMTiles v3 at ``output`` (through a temporary file, so a
    killed write leaves no half file), tiles in tile-id order (a clustered archive)."""
    from pmtiles.tile import Compression, TileType, zxy_to_tileid
    from pmtiles.writer import Writer

    types = {"png": TileType.PNG, "jpg": TileType.JPEG, "webp": TileType.WEBP}
    order = sorted(
        (zxy_to_tileid(z, x, flip(z, row)), rowid)
        for rowid, z, x, row in store.db.execute("SELECT rowid, zoom_level, tile_column, tile_row FROM tiles")
    )
    if not order:
        raise ExportError("no tile of the area has pixels: nothing to write")
    part = output.with_name(output.name + ".tmp")
    with part.open("wb") as f:
        writer = Writer(f)
        for tile_id, rowid in order:
            (data,) = store.db.execute("SELECT tile_data FROM tiles WHERE rowid = ?", (rowid,)).fetchone()
            writer.write_tile(tile_id, data)
        w, s, e, n = layer.bounds
        lon, lat, zoom = layer.center
        header = {
            "tile_type": types[tile_format],
            "tile_compression": Compression.NONE,  # images are compressed already
            "min_lon_e7": int(w * 1e7),
            "min_lat_e7": int(s * 1e7),
            "max_lon_e7": int(e * 1e7),
            "max_lat_e7": int(n * 1e7),
            "center_zoom": zoom,
            "center_lon_e7": int(lon * 1e7),
            "center_lat_e7": int(lat * 1e7),
        }
        metadata = {
            "name": layer.name,
            "attribution": layer.attribution or "",
            "type": "overlay",
            "format": tile_format,
            "minzoom": layer.minzoom,
            "maxzoom": layer.maxzoom,
            "description": f"{layer.name}: exported by oam-preview",
        }
        writer.finalize(header, metadata)
    os.replace(part, output)


def working_path(output: Path) -> Path:
    """Where the tiles of ``output`` are kept while they are being asked for."""
    if output.suffix == ".mbtiles":
        return output
    return output.with_name(output.name + ".part.mbtiles")


def container_of(output: Path) -> str:
    """The container a file name asks for, by its extension."""
    kind = output.suffix.lower().lstrip(".")
    if kind not in CONTAINERS:
        raise ExportError("the output name must end in .mbtiles or .pmtiles")
    return kind


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
