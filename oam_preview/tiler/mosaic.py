"""The whole catalog as one layer: API.md's "Mosaic", one Web Mercator tile at a time.

A query (the listing's filters and an order) selects and orders images; a
:class:`~oam_preview.tiler.selection.Selection` holds them with their footprints in
EPSG:3857 metres and a spatial index, built once per catalog and query. A tile then takes, in
order, the first valid pixel of each image, reading an image only while its
footprint covers a pixel still unfilled, and at most ``max_images`` of them.
Images too small to read at the tile's zoom, those past the cap and those
that fail are drawn as **coverage marks**: the footprint filled in a
translucent orange with a solid outline, from the catalog's geometry alone.
"""

from __future__ import annotations

import contextvars
import hashlib
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from rasterio.features import rasterize
from rasterio.transform import Affine, from_bounds
from shapely.geometry import Point

from ..cache.entry import SingleFlight
from ..catalog import Catalog, Image
from ..catalog.query import ImageQuery
from ..errors import BadRequest, NotFound, OamPreviewError, OutsideBounds, ZoomOutOfRange
from ..geo.tiles import OVERZOOM, resolution, xy_bounds
from ..memo import Memo
from ..remote.freshness import Version
from .imagery import Imagery
from .render import Pixels
from .rendering import Rendering
from .renders import AS_CATALOG_SAYS, Asked
from .selection import Selection, mercator

log = logging.getLogger(__name__)

#: Coverage marks: OpenAerialMap's orange, which reads over both imagery and light base maps.
MARK_RGB = (232, 89, 12)
MARK_FILL_ALPHA = 80  # of 255: the base map shows through
MARK_OUTLINE_ALPHA = 230
#: Marks at most this many pixels across (of a 256 px tile) are drawn as solid dots of this
#: size: visible at world zooms, and a world view of 20,000 images is mostly these.
DOT_PIXELS = 3
#: Selections (query and catalog) kept per worker.
SELECTIONS_KEPT = 32


@dataclass(frozen=True)
class TilePlan:
    """Tile ``z/x/y``'s candidates (selection indexes, in order), their extents' longer side in
    256 px tile pixels, and which are too small to read."""

    z: int
    x: int
    y: int
    found: np.ndarray
    span: np.ndarray
    small: np.ndarray


@dataclass
class MosaicTile:
    """A composited tile: its pixels, the images it shows (top first), how many it drew as
    coverage marks, and whether one of them failed (the tile must not be cached)."""

    pixels: Pixels
    images: list[str] = field(default_factory=list)
    coverage: int = 0
    failed: bool = False


def _asked(rendering: Asked | Rendering) -> Asked:
    """What a mosaic request asks of each image (a bare rendering: its fields, over each image's
    default render)."""
    return rendering if isinstance(rendering, Asked) else Asked.of(rendering)


class Mosaic:
    """Mosaic tiles of catalog selections; ``imagery`` reads each image as its own tile would."""

    def __init__(self, imagery: Imagery, max_images: int = 8, min_pixels: int = 16) -> None:
        self.imagery = imagery
        self.max_images = max_images
        self.min_pixels = min_pixels
        self._selections: Memo[tuple[int, ImageQuery, frozenset[str]], Selection] = Memo(SELECTIONS_KEPT)
        # By tile, not by cache key: a key holds the versions of the files a tile reads, which
        # the first render learns, so concurrent first requests may ask under two keys.
        self._rendering = SingleFlight()
        self._lock = threading.Lock()
        # The images a tile surely reads are read at once, not one after the other: a cold tile
        # over four images costs about one upstream round trip, not four. (The Opener's per-host
        # and per-image read slots still bound what reaches one host.)
        self._readers = ThreadPoolExecutor(max_workers=max_images, thread_name_prefix="oam-preview-mosaic")
        self.failures = 0  # image reads that failed inside a mosaic tile, for /healthz
        self.rendered = 0  # tiles composited, for /healthz

    def selection(
        self, catalog: Catalog, query: ImageQuery, allowed: Callable[[Image], bool] | None = None
    ) -> Selection:
        """The selection of ``query`` in ``catalog``, private images as ``allowed`` admits them
        (built once per worker, catalog, query and the marked images it holds now)."""
        # By the catalog's id: a kept Selection holds its catalog, so that id is not reused.
        key = (id(catalog), query, catalog.seen_marked(allowed))
        return self._selections.get(key, lambda: Selection.build(catalog, query, allowed))

    def plan(self, selection: Selection, z: int, x: int, y: int) -> TilePlan:
        """The images tile ``z/x/y`` may show, in order, and which of them are too small to read;
        the API error of a tile that shows nothing. Made once per request: a world-zoom tile
        over 20,000 images costs about 9 ms of it."""
        if not selection.images:
            raise NotFound("the query selects no image")
        found = selection.candidates(z, x, y)
        if found.size == 0:
            raise OutsideBounds(f"tile {z}/{x}/{y} is outside every selected image")
        native = selection.native[found]
        # An unknown native zoom is learnt from the header if the image is read.
        found = found[np.isnan(native) | (z <= native + OVERZOOM)]
        if found.size == 0:
            raise ZoomOutOfRange(f"zoom {z} is beyond every selected image's native zoom + {OVERZOOM}")
        extents = selection.extents[found]
        span = np.maximum(extents[:, 2] - extents[:, 0], extents[:, 3] - extents[:, 1]) / resolution(z)
        return TilePlan(z, x, y, found, span, span < self.min_pixels)

    def key(
        self,
        selection: Selection,
        plan: TilePlan,
        size: int,
        fmt: str,
        rendering: Asked | Rendering = AS_CATALOG_SAYS,
    ) -> str:
        """The response cache key of a tile: the canonical query's selection, the version tokens of
        the files it may read (as this worker knows them: no upstream request), the tile and the
        rendering's canonical form. Coverage marks come from the catalog alone, so images too
        small to read do not count."""
        versions = hashlib.blake2b(digest_size=8)
        for i in plan.found[~plan.small]:
            known = self.imagery.known_version(selection.images[int(i)])
            offset = self.imagery.offset(selection.images[int(i)])  # a new offset, new pixels
            versions.update(f"{known.token or known.generation}{offset.key() if offset else ''},".encode())
        tile = f"{plan.z}/{plan.x}/{plan.y}"
        asked = _asked(rendering).key()  # each image's render from the selection's digest and version
        return f"mosaic|{selection.digest}|{versions.hexdigest()}|{tile}|{size}|{fmt}|{asked}"

    def tile(
        self,
        selection: Selection,
        plan: TilePlan,
        size: int = 256,
        rendering: Asked | Rendering = AS_CATALOG_SAYS,
    ) -> MosaicTile:
        """The ``size``-pixel tile of ``plan`` (API.md's compositing and bounded work), each image
        drawn with its own render (:meth:`look`) and shown as ``rendering`` asks (its ``nodata``
        decides which pixels are valid, so a masked collar lets the next image show), composited
        once for concurrent requests of this worker."""
        asked = _asked(rendering)
        tile_id = (selection.digest, plan.z, plan.x, plan.y, size, asked.key())
        return self._rendering.run(tile_id, lambda: self._tile(selection, plan, size, asked))[0]

    def look(self, image: Image, asked: Asked, version: Version | None = None) -> Rendering:
        """How one image of a mosaic is drawn (its file's ``version``, :meth:`Imagery.info`): the
        render ``asked`` names when the image has it, else its own default render; the request's
        parameters over either."""
        try:
            return self.imagery.rendering(image, asked, version=version)
        except BadRequest:
            if asked.render is None:
                raise
        return self.imagery.rendering(image, Asked(None, asked.params), version=version)

    def resolve(self, image: Image, asked: Asked) -> tuple[Version, Rendering]:
        """One image of a mosaic, resolved as an image route's request is: its file's version
        checked once (at most one HEAD, the file opened beside it: it is read next) and its look
        (:meth:`look`) for that version, which the read is then given."""
        version = self.imagery.current_version(image, reading=True)
        return version, self.look(image, asked, version)

    def point(
        self, selection: Selection, lon: float, lat: float, rendering: Asked | Rendering = AS_CATALOG_SAYS
    ) -> dict[str, Any]:
        """Which image gives the first valid pixel at ``lon, lat`` (EPSG:4326 degrees), in the
        selection's order, and its values (:meth:`Imagery.point`); at most ``max_images`` images
        are read. ``checked``: the ids of the images read before it (outside, invalid there, or
        failed). :class:`OutsideBounds` when none gives a valid pixel."""
        if not selection.images:
            raise NotFound("the query selects no image")
        where = mercator([Point(lon, lat)])[0]
        found = np.sort(selection.tree.query(where, predicate="intersects"))
        checked: list[str] = []
        for i in (int(i) for i in found[: self.max_images]):
            image = selection.images[i]
            try:
                version, look = self.resolve(image, _asked(rendering))
                doc = self.imagery.point(image, lon, lat, look, version=version)
            except OutsideBounds:
                checked.append(image.id)
                continue
            except OamPreviewError as exc:  # as in a tile: one failing image is passed over
                log.warning("mosaic point %s,%s: image %s failed: %s", lon, lat, image.id, exc.message)
                checked.append(image.id)
                continue
            except Exception:  # a bug one image meets: logged as one, passed over all the same
                log.exception("mosaic point %s,%s: image %s failed unexpectedly", lon, lat, image.id)
                checked.append(image.id)
                continue
            if doc["mask"]:
                return {"id": image.id, **doc, "checked": checked}
            checked.append(image.id)
        raise OutsideBounds(f"no selected image has a valid pixel at {lon},{lat}")

    def _tile(self, selection: Selection, plan: TilePlan, size: int, rendering: Asked) -> MosaicTile:
        with self._lock:
            self.rendered += 1
        z, x, y = plan.z, plan.x, plan.y
        found, span, small = plan.found, plan.span, plan.small
        transform = from_bounds(*xy_bounds(z, x, y), size, size)

        data = np.zeros((3, size, size), dtype=np.uint8)
        alpha = np.zeros((size, size), dtype=np.uint8)
        filled = np.zeros((size, size), dtype=bool)
        result = MosaicTile(Pixels(data, alpha))
        marks = [int(i) for i in found[small]]
        failures: list[Exception] = []
        readable = [int(i) for i in found[~small]]
        covers: dict[int, np.ndarray] = {}

        def cover(i: int) -> np.ndarray:
            """The tile's pixels under image ``i``'s footprint (rasterized once, when first asked)."""
            if i not in covers:
                shape = [selection.footprints[i]]
                covers[i] = rasterize(shape, (size, size), transform=transform, all_touched=True).astype(bool)
            return covers[i]

        reading = self._read_ahead(selection, readable, cover, plan, size, rendering)
        reads = 0
        for i in readable:
            if filled.all():
                break
            if not (cover(i) & ~filled).any():
                continue  # entirely under pixels already filled: never opened
            if reads >= self.max_images:
                marks.append(i)
                continue
            reads += 1
            image = selection.images[i]
            try:
                pixels = reading[i].result() if i in reading else self._read(image, plan, size, rendering)
            except (OutsideBounds, ZoomOutOfRange):
                continue
            except OamPreviewError as exc:  # one failing image never fails the tile
                log.warning("mosaic tile %d/%d/%d: image %s failed: %s", z, x, y, image.id, exc.message)
                failures.append(exc)
                marks.append(i)
                continue
            except Exception as exc:  # nor does a bug one image meets: logged as one, drawn as a mark
                log.exception("mosaic tile %d/%d/%d: image %s failed unexpectedly", z, x, y, image.id)
                failures.append(exc)
                marks.append(i)
                continue
            valid = pixels.mask > 0
            new = valid & ~filled
            if new.any():
                rgb = pixels.data if pixels.data.shape[0] == 3 else np.repeat(pixels.data[:1], 3, axis=0)
                data[:, new] = rgb[:, new]
                alpha[new] = pixels.mask[new]
                filled |= valid
                result.images.append(image.id)
        if failures:
            result.failed = True
            with self._lock:
                self.failures += len(failures)
            if not result.images and len(marks) == len(failures):
                raise failures[0]  # nothing but failures to show: say why
        result.coverage = len(marks)
        spans = dict(zip(found.tolist(), (span * size / 256).tolist(), strict=True))  # in output pixels
        self._draw_marks(selection, marks, spans, transform, result, filled)
        return result

    def _read(self, image: Image, plan: TilePlan, size: int, rendering: Asked) -> Pixels:
        """One image's pixels under the tile, of its file's version and drawn as :meth:`look` says
        (:meth:`resolve`: a changed file is read anew)."""
        version, look = self.resolve(image, rendering)
        return self.imagery.tile(image, plan.z, plan.x, plan.y, size, look, version=version)

    def _read_ahead(
        self,
        selection: Selection,
        readable: Sequence[int],
        cover: Callable[[int], np.ndarray],
        plan: TilePlan,
        size: int,
        rendering: Asked,
    ) -> dict[int, Future[Pixels]]:
        """Start reading, all at once, the images the tile surely reads: those whose footprint
        covers a pixel no footprint above them covers (no image above can fill it), up to the
        read cap. The others (under a collar or a hole of the ones above) wait for the
        compositing to say whether they are needed."""
        surely: list[int] = []
        covered = np.zeros((size, size), dtype=bool)
        for i in readable:
            if len(surely) >= self.max_images or covered.all():
                break
            if (cover(i) & ~covered).any():
                surely.append(i)
            covered |= cover(i)
        if len(surely) < 2:
            return {}  # nothing to overlap: read in the compositing loop
        reading: dict[int, Future[Pixels]] = {}
        for i in surely:
            # The request's deadline (a context variable) goes with each read.
            context = contextvars.copy_context()
            reading[i] = self._readers.submit(
                context.run, self._read, selection.images[i], plan, size, rendering
            )
        return reading

    def _draw_marks(
        self,
        selection: Selection,
        marks: Sequence[int],
        spans: dict[int, float],
        transform: Affine,
        result: MosaicTile,
        filled: np.ndarray,
    ) -> None:
        """Coverage marks over the pixels no image filled: dots for the tiny, polygons otherwise."""
        if not marks:
            return
        size = filled.shape[0]
        fill = np.zeros((size, size), dtype=bool)
        outline = np.zeros((size, size), dtype=bool)
        polygons = [selection.footprints[i] for i in marks if spans[i] > DOT_PIXELS]
        dots = [i for i in marks if spans[i] <= DOT_PIXELS]
        if polygons:
            fill |= rasterize(polygons, (size, size), transform=transform, all_touched=True).astype(bool)
            rings = [p.boundary for p in polygons]
            outline |= rasterize(rings, (size, size), transform=transform, all_touched=True).astype(bool)
        if dots:
            inverse = ~transform
            ext = selection.extents[dots]
            # A dot of DOT_PIXELS (more at @2x) centred on the footprint, however small it is.
            cols, rows = inverse @ ((ext[:, 0] + ext[:, 2]) / 2, (ext[:, 1] + ext[:, 3]) / 2)
            half = DOT_PIXELS * size // 256 / 2
            r0 = np.clip(np.round(rows - half), 0, size).astype(int)
            c0 = np.clip(np.round(cols - half), 0, size).astype(int)
            r1 = np.clip(np.round(rows + half), 0, size).astype(int)
            c1 = np.clip(np.round(cols + half), 0, size).astype(int)
            for a, b, c, d in zip(r0, r1, c0, c1, strict=True):
                outline[a:b, c:d] = True
        data, alpha = result.pixels.data, result.pixels.mask
        paint_fill = fill & ~outline & ~filled
        paint_line = outline & ~filled
        for band, value in enumerate(MARK_RGB):
            data[band][paint_fill | paint_line] = value
        alpha[paint_fill] = MARK_FILL_ALPHA
        alpha[paint_line] = MARK_OUTLINE_ALPHA
