"""Pixels of one catalog image: XYZ tiles and thumbnails, with their versions and cache keys.

:class:`Imagery` is the tile path's one service: the routes ask it for a
response's cache key (which holds the upstream file's version) and for the
pixels; it asks the :class:`~oam_preview.remote.opener.Opener` for datasets and
keeps, per worker and per file version, each image's :class:`ImageInfo` and
statistics, and (:mod:`~oam_preview.tiler.stripped_thumbnails`) whether it has a
``.ovr`` sidecar and the thumbnails of files without overviews. What a lent dataset is
read for is :mod:`~oam_preview.tiler.dataset_reads`'. Every read is of the file
:class:`~oam_preview.remote.freshness.Version` it is given (a request checks it once).
Tiles are Web Mercator XYZ tiles (:mod:`oam_preview.geo.tiles`).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from typing import Any

from affine import Affine
from cachetools import LRUCache
from shapely.geometry.base import BaseGeometry

from ..catalog.model import Image
from ..catalog.offsets import OperatorOffsets, offset_of
from ..config import Settings
from ..geo.alignment import Offset, mercator_shift, shift_geometry, shift_point
from ..geo.geometry import footprint_bbox
from ..memo import Memo
from ..remote.freshness import Version
from ..remote.opener import Opener
from .budget import check_read, read_cost, thumbnail_size, tile_read_cost
from .collar import GRID_SIZE, GRIDS_KEPT_BYTES, CollarGrid, decollared
from .dataset_reads import read_point, read_statistics, read_thumbnail, read_tile
from .description import describe
from .info import ImageInfo
from .render import Pixels
from .rendering import DEFAULT, Rendering, nodata_fits
from .renders import (
    DEFAULT_NAMES,
    Asked,
    ImageRenders,
    Render,
    RenderReport,
    catalog_renders,
    compose,
    image_renders,
    pick,
)
from .stripped_thumbnails import StrippedThumbnails

log = logging.getLogger(__name__)

#: Descriptions (and statistics) kept per worker.
INFO_ENTRIES = 4096


def shown_as(image: Image, rendering: Rendering) -> Rendering:
    """``rendering`` with ``image``'s catalog ``nodata`` hint when the request gave no ``nodata``
    (as cache keys name it: whether the hint fits the file is known once it is described)."""
    return rendering.with_nodata_hint(image.nodata_hint())


def key_version(version: Version) -> str:
    """The version part of a cache key: the token, which every worker and instance that saw the
    same HEAD answer shares (the shared cache must not give a worker that first used the new
    file what one rendered of the old), else this worker's generation."""
    return version.token or f"g{version.generation}"


class Imagery:
    """Tiles and thumbnails of catalog images; what it keeps is per worker and per file version."""

    def __init__(self, opener: Opener, settings: Settings) -> None:
        self.opener = opener
        self.max_read_bytes = settings.max_read_mb * 1e6
        self.offsets = OperatorOffsets(settings.offsets)
        self._infos: Memo[tuple[str, int], ImageInfo] = Memo(INFO_ENTRIES)
        self._statistics: Memo[tuple[str, int, str], dict[str, Any]] = Memo(INFO_ENTRIES)
        self._collars: Memo[tuple[str, int, str], CollarGrid] = Memo(GRIDS_KEPT_BYTES, lambda g: g.nbytes)
        #: The thumbnails of files without internal overviews, kept.
        self.stripped = StrippedThumbnails(opener, self.max_read_bytes)
        # The records whose nodata hint was found unfit for their file (warned once per worker).
        self._unfit_hints: LRUCache[tuple[str, str, str], bool] = LRUCache(INFO_ENTRIES)
        self._lock = threading.Lock()
        #: The catalog's render hints in use and skipped (``/healthz``), and their warnings.
        self.render_report = RenderReport()

    # -- alignment -----------------------------------------------------------------------
    #
    # The one place an image's placement is decided: its file's georeference (the header)
    # moved by its offset (the operator's OAM_PREVIEW_OFFSETS, else the record's
    # `alignment_offset`). Tiles, points, the description's bounds and footprint (so TileJSON,
    # WMTS and tile checks) and the Feature's footprint all go through it; a mosaic reads its
    # images' tiles, an export the tile routes.

    def offset(self, image: Image) -> Offset | None:
        """``image``'s alignment offset, if it has one (not zero)."""
        return offset_of(image, self.offsets)

    def shift(self, image: Image, info: ImageInfo | None = None) -> tuple[float, float] | None:
        """``image``'s offset as one EPSG:3857 vector (metres), at the latitude of the middle of
        its footprint (the catalog's, else the header's); ``None`` without an offset."""
        offset = self.offset(image)
        if offset is None:
            return None
        bounds = image.bbox or (info.bounds if info is not None else None)
        return mercator_shift(offset, (bounds[1] + bounds[3]) / 2 if bounds else 0.0)

    def placed_footprint(self, image: Image) -> BaseGeometry | None:
        """The catalog footprint where the image is shown: moved by its offset."""
        shift = self.shift(image)
        if shift is None or image.footprint is None:
            return image.footprint
        return shift_geometry(image.footprint, shift)

    def _placed(self, image: Image, info: ImageInfo) -> ImageInfo:
        """``info`` with ``bounds`` and ``footprint`` where the image is shown (its ``crs`` and
        ``transform`` stay the file's: where its pixels are read)."""
        shift = self.shift(image, info)
        if shift is None or info.footprint is None:
            return info
        footprint = shift_geometry(info.footprint, shift)
        if footprint is None:
            return info
        return replace(info, footprint=footprint, bounds=footprint_bbox(footprint))

    # -- versions and cache keys ---------------------------------------------------------

    def current_version(self, image: Image, asked: str | None = None, reading: bool = False) -> Version:
        """The :class:`Version` of ``image``'s file (generation, and the token of its URLs'
        ``v=``), rechecked upstream when due: the first use of a file costs one HEAD.
        ``asked``: the request's ``v``; another than the known token makes a recheck due sooner.
        ``reading``: the caller reads the file next (unless its answer is cached), so a first
        use opens it while the HEAD is out (:meth:`Opener.checked`)."""
        return self.opener.checked(image.source_url, asked, reading)

    def known_version(self, image: Image) -> Version:
        """The :class:`Version` of ``image``'s file as this worker last saw it, asking upstream
        nothing: a listing gives ``v=`` only to files already used (token ``None`` otherwise)."""
        return self.opener.known(image.source_url)

    def tile_key(
        self,
        image: Image,
        z: int,
        x: int,
        y: int,
        size: int,
        fmt: str,
        version: Version,
        rendering: Rendering = DEFAULT,
    ) -> str:
        """The response cache key of a tile: changes when the upstream file does (``version``:
        as :meth:`current_version` said for this request); ``rendering`` in canonical form."""
        version_part = key_version(version)
        shown = shown_as(image, rendering).key()
        offset = self.offset(image)
        placed = f"|offset={offset.key()}" if offset is not None else ""  # a new offset, new pixels
        return f"tile|{image.source_url}|{version_part}|{z}/{x}/{y}|{size}|{fmt}|{shown}{placed}"

    def thumbnail_key(
        self,
        image: Image,
        max_size: int,
        fmt: str,
        version: Version,
        rendering: Rendering = DEFAULT,
    ) -> str:
        """The response cache key of a thumbnail: changes when the upstream file does."""
        version_part = key_version(version)
        return f"thumb|{image.source_url}|{version_part}|{max_size}|{fmt}|{shown_as(image, rendering).key()}"

    def _key(self, image: Image, version: Version | None) -> tuple[str, int]:
        """What this worker keeps of ``image``'s file is keyed by: its URL and the generation of
        ``version`` (``None``: the version this worker last knew, asking upstream nothing)."""
        known = version if version is not None else self.known_version(image)
        return (image.source_url, known.generation)

    def shown(self, image: Image, rendering: Rendering, info: ImageInfo) -> Rendering:
        """``rendering`` checked against ``image``'s file (:meth:`Rendering.check`: a 400 for what
        it cannot show), with the record's ``nodata`` hint when the request gave none and the hint
        is a value of the file's data type; an unfit hint is a catalog's mistake, not the
        client's: it is left out, with a warning naming the record (once per worker)."""
        rendering.check(info)
        hint = image.nodata_hint()
        if hint is None or rendering.nodata is not None or nodata_fits(hint, info.dtype):
            return rendering.with_nodata_hint(hint)
        unfit = (image.id, info.dtype, repr(hint))  # by spelling: NaN is no dictionary key
        with self._lock:
            warned = self._unfit_hints.get(unfit, False)
            self._unfit_hints[unfit] = True
        if not warned:
            log.warning(
                "catalog record %s: its nodata hint %s is no value of its %s image; shown without it",
                image.id, hint, info.dtype,
            )  # fmt: skip
        return rendering

    # -- renders -------------------------------------------------------------------------
    #
    # The one place a request's look is decided: the render it names (else the image's
    # default: the catalog's browse or default render, else its product type's), its own
    # parameters over that render's (:mod:`.renders`), then `shown` (the record's nodata
    # hint, and what the file cannot show). Every route and the mosaic go through `pick`.

    def renders(self, image: Image, info: ImageInfo) -> ImageRenders:
        """``image``'s renders and product type, its file described by ``info``; a catalog render
        its file cannot show is warned about, once."""
        found = image_renders(image, info)
        for name, why in found.unfit:
            self.render_report.warn(image.id, name, why)
        return found

    def pick(
        self, image: Image, asked: Asked | Rendering, read: bool = True, *, version: Version | None = None
    ) -> tuple[Render | None, Rendering]:
        """The render ``asked`` names (else the default) and the rendering it resolves to, the
        request's parameters over the render's: what keys, URLs and pixels all use, for the
        file's ``version`` (:meth:`info`). :class:`BadRequest` for a render ``image`` does not
        have. ``read=False`` (a listing, a Feature): from what this worker knows, asking upstream
        nothing; an image whose file is not yet described is then drawn as its catalog's
        default render says, else as asked."""
        if isinstance(asked, Rendering):
            asked = Asked.of(asked)
        info = self._infos.peek(self._key(image, version)) if not read else self.info(image, version=version)
        if info is None:
            catalog, _ = catalog_renders(image.renders)
            name = asked.render or next((n for n in DEFAULT_NAMES if n in catalog), None)
            render = catalog.get(name) if name is not None else None
            return render, compose(render, asked)
        render = pick(self.renders(image, info), asked)
        return render, compose(render, asked)

    def rendering(
        self, image: Image, asked: Asked | Rendering, read: bool = True, *, version: Version | None = None
    ) -> Rendering:
        """The rendering ``asked`` resolves to for ``image`` (:meth:`pick`)."""
        return self.pick(image, asked, read, version=version)[1]

    # -- descriptions --------------------------------------------------------------------

    def info(self, image: Image, *, version: Version | None = None) -> ImageInfo:
        """The description of ``image``'s GeoTIFF, computed once per worker and file version
        (``version``: as the request checked it, :meth:`current_version`; ``None``: as this
        worker last knew it); its bounds and footprint where the image is shown (moved by its
        offset)."""
        key = self._key(image, version)
        known = self._infos.peek(key)
        if known is None:
            known = self.opener.read(image.source_url, lambda dataset: self._described(key, dataset))
        return self._placed(image, known)

    def known_info(self, image: Image) -> ImageInfo | None:
        """The description of ``image``'s file this worker already has, asking upstream nothing
        (a listing's documents use it when it is there), placed by its offset."""
        info = self._infos.peek(self._key(image, None))
        return self._placed(image, info) if info is not None else None

    def tiled_info(self, image: Image, *, version: Version | None = None) -> ImageInfo:
        """The description (:meth:`info`) of an image that has tiles; :class:`NotGeoreferenced`
        otherwise."""
        return self.info(image, version=version).require_tiles()

    def _described(self, key: tuple[str, int], dataset: Any) -> ImageInfo:
        """The description of ``key``'s file, from ``dataset`` (already lent) when not yet known."""
        return self._infos.get(key, lambda: describe(dataset, self.max_read_bytes))

    # -- pixels --------------------------------------------------------------------------

    def tile(
        self,
        image: Image,
        z: int,
        x: int,
        y: int,
        size: int = 256,
        rendering: Rendering = DEFAULT,
        *,
        version: Version | None = None,
    ) -> Pixels:
        """The ``size``-pixel Web Mercator tile ``z/x/y`` of ``image`` (one dataset checkout),
        shown as ``rendering`` asks (the record's ``nodata`` hint when it gives none), of the
        file's ``version`` (:meth:`info`)."""
        key = self._key(image, version)
        known = self._infos.peek(key)
        info = self._placed(image, known) if known is not None else None
        if info is not None:  # a tile it can't serve costs no checkout
            self._check_tile(info, z, x, y, size)
            self.shown(image, rendering, info)
        grid = self.collar_grid(image, rendering, version) if rendering.collar is not None else None

        def work(dataset: Any) -> Pixels:
            described = info or self._placed(image, self._described(key, dataset))
            if info is None:
                self._check_tile(described, z, x, y, size)
            shown = self.shown(image, rendering, described)
            return read_tile(dataset, described, shown, z, x, y, size, self.shift(image, described), grid)

        return self.opener.read(image.source_url, work)

    def point(
        self,
        image: Image,
        lon: float,
        lat: float,
        rendering: Rendering = DEFAULT,
        *,
        version: Version | None = None,
    ) -> dict[str, Any]:
        """The values of every band (or ``bidx``'s, or the expression's outputs) at ``lon, lat``
        (EPSG:4326 degrees), read at full resolution: one block. Also the pixel's validity
        (``mask``: 255 valid, 0 not, with ``nodata`` applied) and the point in the image's CRS,
        of the file's ``version`` (:meth:`info`). :class:`OutsideBounds` outside."""
        info = self.tiled_info(image, version=version)
        shown = self.shown(image, rendering, info)
        shift = self.shift(image, info)
        # Where the shown point's pixel is in the file.
        file_lonlat = (lon, lat) if shift is None else shift_point(lon, lat, shift, sign=-1)
        return self.opener.read(
            image.source_url, lambda dataset: read_point(dataset, info, shown, lon, lat, file_lonlat)
        )

    def statistics(
        self, image: Image, rendering: Rendering = DEFAULT, *, version: Version | None = None
    ) -> dict[str, Any]:
        """Per shown band (every band, or ``bidx``'s): min, max, mean, std, valid percent, the 2nd
        and 98th percentiles and a 10-bin histogram, of the valid pixels of a read of at most
        :data:`STATS_SIZE` px a side (from an overview; the read budget applies), kept per worker
        and file version like the description. With an expression: of its outputs, named by
        their canonical spelling. Of the file's ``version`` (:meth:`info`)."""
        key = self._key(image, version)
        info = self.info(image, version=version)
        shown = self.shown(image, rendering, info)

        def work(dataset: Any) -> dict[str, Any]:
            return read_statistics(dataset, info, shown, self.max_read_bytes)

        return self._statistics.get((*key, shown.key()), lambda: self.opener.read(image.source_url, work))

    def collar_grid(self, image: Image, rendering: Rendering, version: Version | None = None) -> CollarGrid:
        """The collar ``rendering`` asks of ``image``, found on a thumbnail of :data:`GRID_SIZE` px
        once per worker, file version and rendering: what its tiles and thumbnails decide by."""
        collar = rendering.collar
        assert collar is not None

        def find() -> CollarGrid:
            whole = self.thumbnail(image, GRID_SIZE, replace(rendering, collar=None), version=version)
            info = self.info(image, version=version)  # no georeference: a thumbnail's grid is enough
            size = (info.width, info.height)
            return CollarGrid.found(whole, collar, info.transform or Affine.identity(), info.crs, size)

        return self._collars.get((*self._key(image, version), shown_as(image, rendering).key()), find)

    def _check_tile(self, info: ImageInfo, z: int, x: int, y: int, size: int) -> None:
        info.check_tile(z, x, y)
        check_read(tile_read_cost(info, z, x, y, size), self.max_read_bytes)

    def thumbnail(
        self,
        image: Image,
        max_size: int = 256,
        rendering: Rendering = DEFAULT,
        *,
        version: Version | None = None,
    ) -> Pixels:
        """The whole image in its own pixel grid, longest side ``max_size`` (never upscaled), of
        the file's ``version`` (:meth:`info`).

        From the smallest internal overview that suffices; those of files without internal
        overviews are read once and kept (:class:`StrippedThumbnails`).
        """
        if rendering.collar is not None:  # the whole image's collar, on this thumbnail's grid
            plain = self.thumbnail(image, max_size, replace(rendering, collar=None), version=version)
            zone = self.collar_grid(image, rendering, version).resized(*plain.mask.shape)
            return decollared(plain, zone, rendering.collar)
        key = self._key(image, version)
        info = self._infos.peek(key)

        def from_overviews(dataset: Any) -> Pixels | ImageInfo:
            """The thumbnail, or the description of a file that has no internal overviews."""
            described = info or self._described(key, dataset)
            shown = self.shown(image, rendering, described)
            if not described.overviews:
                return described
            width, height = thumbnail_size(described.width, described.height, max_size)
            check_read(
                read_cost(described, described.width, described.height, width, height), self.max_read_bytes
            )
            return read_thumbnail(dataset, described, max_size, shown)

        if info is None or info.overviews:
            result = self.opener.read(image.source_url, from_overviews)
            if isinstance(result, Pixels):
                return result
            info = result
        return self.stripped.thumbnail(image, key[1], info, max_size, self.shown(image, rendering, info))
