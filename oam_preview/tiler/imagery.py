"""Pixels of one catalog image: XYZ tiles and thumbnails, with their versions and cache keys.

:class:`Imagery` is the tile path's one service: the routes ask it for a
response's cache key (which holds the upstream file's version) and for the
pixels; it asks the :class:`~oam_preview.remote.opener.Opener` for datasets and
keeps, per worker and per file version, each image's :class:`ImageInfo`,
whether it has a ``.ovr`` sidecar, and the thumbnails of files without
overviews. Tiles are Web Mercator XYZ tiles (:mod:`oam_preview.geo.tiles`).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from typing import Any, Literal

import numpy as np
from cachetools import LRUCache
from rasterio.warp import transform as transform_points
from rio_tiler.errors import PointOutsideBounds, TileOutsideBounds
from rio_tiler.io import Reader
from rio_tiler.reader import read as rio_read
from shapely.geometry.base import BaseGeometry

from ..catalog.model import Image
from ..catalog.offsets import OperatorOffsets, offset_of
from ..config import Settings
from ..errors import OutsideBounds
from ..geo.alignment import Offset, mercator_shift, shift_geometry, shift_point
from ..geo.geometry import footprint_bbox
from ..geo.tiles import TMS, xy_bounds
from ..memo import Memo
from ..remote.freshness import Version
from ..remote.opener import Opener
from .budget import check_read, read_cost, thumbnail_size, tile_read_cost
from .decimated import read_size, read_whole, shrink
from .description import STATS_SIZE, band_statistics, describe
from .info import ImageInfo
from .render import Pixels, invalid_pixels, to_pixels
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

log = logging.getLogger(__name__)

#: Descriptions (and sidecar answers) kept per worker.
INFO_ENTRIES = 4096
#: Decoded thumbnails of files without overviews kept per worker, bytes (a 1024 px RGB one is 4 MB).
THUMBNAIL_CACHE_BYTES = 32 * 1024 * 1024


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
        self._sidecars: Memo[tuple[str, int], bool] = Memo(INFO_ENTRIES)
        self._thumbnails: Memo[tuple[str, int, int, str], Pixels] = Memo(
            THUMBNAIL_CACHE_BYTES, getsizeof=lambda p: p.data.nbytes + p.mask.nbytes
        )
        self._statistics: Memo[tuple[str, int, str], dict[str, Any]] = Memo(INFO_ENTRIES)
        # The sizes read of each file without overviews: a smaller thumbnail is shrunk from one.
        self._read_sizes: LRUCache[tuple[str, int], set[int]] = LRUCache(INFO_ENTRIES)
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

        def work(dataset: Any) -> Pixels:
            described = info or self._placed(image, self._described(key, dataset))
            if info is None:
                self._check_tile(described, z, x, y, size)
            shown = self.shown(image, rendering, described)
            shift = self.shift(image, described)
            # An algorithm that reads neighbours reads `buffer` pixels around the tile (rio-tiler's
            # buffer: the same grid, larger), so a pixel at its edge has them: no seams.
            buffer = {"buffer": shown.buffer} if shown.buffer else {}
            with Reader(None, dataset=dataset, tms=TMS) as reader:
                bands = shown.bands(described.bands, described.count)
                try:
                    if shift is None:
                        img = reader.tile(
                            x, y, z, tilesize=size, indexes=bands, **buffer, **shown.read_options()
                        )
                    else:  # the file read where the shown tile's pixels come from
                        w, s, e, n = xy_bounds(z, x, y)
                        dx, dy = shift
                        img = reader.part(
                            (w - dx, s - dy, e - dx, n - dy), dst_crs=TMS.rasterio_crs,
                            bounds_crs=TMS.rasterio_crs, width=size, height=size, max_size=None,
                            indexes=bands, **buffer, **shown.read_options(),
                        )  # fmt: skip
                except TileOutsideBounds:
                    raise OutsideBounds(f"tile {z}/{x}/{y} is outside this image's bounds") from None
            return to_pixels(img, described, shown, shown.buffer)

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
        rendering = self.shown(image, rendering, info)
        bands = rendering.bands(tuple(range(1, info.count + 1)), info.count)
        shift = self.shift(image, info)
        # Where the shown point's pixel is in the file.
        file_lon, file_lat = (lon, lat) if shift is None else shift_point(lon, lat, shift, sign=-1)

        def work(dataset: Any) -> dict[str, Any]:
            with Reader(None, dataset=dataset) as reader:
                try:
                    found = reader.point(file_lon, file_lat, indexes=bands, **rendering.read_options())
                except PointOutsideBounds:
                    raise OutsideBounds(f"the point {lon},{lat} is outside this image") from None
            read = found.array.reshape(len(bands), 1, 1)
            # As the tiles show it (render.to_pixels): with ``nodata``, invalid where every band is.
            valid = not invalid_pixels(read, rendering.nodata)[0, 0]
            assert info.crs is not None  # tiled_info: georeferenced
            (x,), (y,) = transform_points("EPSG:4326", info.crs, [file_lon], [file_lat])
            doc: dict[str, Any] = {
                "coordinates": [lon, lat],
                "crs": info.crs.to_string(),
                "crs_coordinates": [x, y],
                "pixel": list(found.pixel_location) if found.pixel_location is not None else None,
                "bands": list(bands),
            }
            if rendering.expression is not None:
                outputs = rendering.expression.apply(read)
                doc["expression"] = list(rendering.expression.blocks)
                doc["values"] = [v.item() if valid else None for v in outputs.data[:, 0, 0]]
            else:
                # Null where masked, and where a float is not finite (JSON has no NaN).
                bad = np.ma.getmaskarray(read)[:, 0, 0] | ~np.isfinite(read.data[:, 0, 0])
                doc["values"] = [
                    None if b else v.item() for v, b in zip(read.data[:, 0, 0], bad, strict=True)
                ]
            doc["mask"] = 255 if valid else 0
            return doc

        return self.opener.read(image.source_url, work)

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
        rendering = self.shown(image, rendering, info)
        bands = rendering.bands(tuple(range(1, info.count + 1)), info.count)

        def work(dataset: Any) -> dict[str, Any]:
            width, height = thumbnail_size(info.width, info.height, STATS_SIZE)
            check_read(read_cost(info, info.width, info.height, width, height), self.max_read_bytes)
            if info.overviews:
                img = rio_read(dataset, width=width, height=height, indexes=bands, **rendering.read_options())
            else:  # each strip fetched once (see decimated); nodata applied below
                img = read_whole(dataset, width, height, bands, info.block_shape[0])
            if rendering.expression is None:
                return band_statistics(img.array, [f"b{b}" for b in bands], rendering.nodata)
            read = img.array
            read = np.ma.MaskedArray(
                read.data, mask=np.broadcast_to(invalid_pixels(read, rendering.nodata), read.shape)
            )
            outputs = rendering.expression.apply(read)
            return band_statistics(outputs, rendering.expression.blocks, None)

        return self._statistics.get((*key, rendering.key()), lambda: self.opener.read(image.source_url, work))

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

        From the smallest internal overview that suffices. Thumbnails of files
        without internal overviews (a decimated read of megabytes of strips,
        seconds) are kept per worker and computed by one thread at a time, read
        at the largest size that needs no more strips: every format, and every
        size it can be shrunk to, then costs one read.
        """
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
            return self._read_thumbnail(dataset, described, max_size, "average", shown)

        if info is None or info.overviews:
            result = self.opener.read(image.source_url, from_overviews)
            if isinstance(result, Pixels):
                return result
            info = result
        rendering = self.shown(image, rendering, info)
        stripped = info
        width, height = thumbnail_size(info.width, info.height, max_size)
        sidecars = width < info.width and self._has_sidecar(image, key)
        # One read per file serves every size of which it needs the same strips (see decimated).
        size = max_size if sidecars else read_size(info.width, info.height, info.block_shape[0], max_size)
        shown = rendering.key()
        read = self._larger_read(key, size, shown) or self._thumbnails.get(
            (*key, size, shown),
            lambda: self._thumbnail_without_overviews(stripped, size, sidecars, image, rendering),
        )
        with self._lock:
            self._read_sizes.setdefault(key, set()).add(size)
        return shrink(read, width, height)

    def _larger_read(self, key: tuple[str, int], size: int, shown: str) -> Pixels | None:
        """A kept thumbnail read of ``key`` rendered as ``shown`` at ``size`` or larger (the
        smallest such), if any."""
        with self._lock:
            sizes = sorted(s for s in self._read_sizes.get(key, ()) if s >= size)
        for known in sizes:
            pixels = self._thumbnails.peek((*key, known, shown))
            if pixels is not None:
                return pixels
        return None

    def _thumbnail_without_overviews(
        self, info: ImageInfo, max_size: int, sidecars: bool, image: Image, rendering: Rendering
    ) -> Pixels:
        """From a ``.ovr`` sidecar when there is one, else a decimated read of the full resolution."""
        width, height = thumbnail_size(info.width, info.height, max_size)
        if not sidecars:
            check_read(read_cost(info, info.width, info.height, width, height), self.max_read_bytes)

        def work(dataset: Any) -> Pixels:
            bands = rendering.bands(info.bands, info.count)
            if not sidecars:  # nodata is applied by to_pixels: the strips are read as stored
                img = read_whole(dataset, width, height, bands, info.block_shape[0])
                return to_pixels(img, info, rendering)
            with_ovr = replace(info, overviews=tuple(dataset.overviews(info.bands[0])))
            check_read(read_cost(with_ovr, info.width, info.height, width, height), self.max_read_bytes)
            return self._read_thumbnail(dataset, info, max_size, "average", rendering)

        return self.opener.read(image.source_url, work, sidecars=sidecars)

    def _read_thumbnail(
        self,
        dataset: Any,
        info: ImageInfo,
        max_size: int,
        resampling: Literal["nearest", "average"],
        rendering: Rendering = DEFAULT,
    ) -> Pixels:
        width, height = thumbnail_size(info.width, info.height, max_size)
        if info.mode == "palette":  # averaging palette indexes makes colours that aren't there
            resampling = "nearest"
        bands = rendering.bands(info.bands, info.count)
        img = rio_read(
            dataset, width=width, height=height, indexes=bands, resampling_method=resampling,
            **rendering.read_options(),
        )  # fmt: skip
        return to_pixels(img, info, rendering)

    def _has_sidecar(self, image: Image, key: tuple[str, int]) -> bool:
        """Whether a ``.ovr`` overview file sits beside an image without internal overviews.

        Only a definite answer is kept: a probe that fails (a timeout, a 5xx)
        raises and is asked again next time.
        """

        def probe() -> bool:
            return self.opener.read(
                image.source_url, lambda dataset: bool(dataset.overviews(1)), sidecars=True
            )

        return self._sidecars.get(key, probe)
