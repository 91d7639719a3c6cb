"""Pixels of one catalog image: its description, XYZ tiles and thumbnails.

Coordinates: tiles are Web Mercator (EPSG:3857) XYZ tiles of the Google/OSM
scheme (y counts from the north); geographic bounds are EPSG:4326 degrees,
(west, south, east, north), west > east when the image crosses the
antimeridian; resolutions are metres per pixel.
"""

from __future__ import annotations

import math
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import mercantile
import morecantile
import numpy as np
from cachetools import LRUCache
from rasterio.crs import CRS
from rasterio.enums import ColorInterp
from rasterio.transform import Affine
from rasterio.warp import calculate_default_transform, transform_bounds
from rio_tiler.errors import TileOutsideBounds
from rio_tiler.io import Reader
from rio_tiler.models import ImageData
from rio_tiler.reader import read as rio_read
from shapely.geometry.base import BaseGeometry

from .cache import KeyedLocks
from .catalog.model import BBox, Image
from .config import Settings
from .errors import NotGeoreferenced, OutsideBounds, TooLarge, ZoomOutOfRange
from .geometry import MAX_LATITUDE, bbox_intersects, footprint_bbox
from .georeference import footprint_of_grid, georeference, ground_resolution
from .opener import Opener
from .render import Pixels

WGS84 = CRS.from_epsg(4326)
WEB_MERCATOR = CRS.from_epsg(3857)
WEB_MERCATOR_QUAD = morecantile.tms.get("WebMercatorQuad")
#: Length of the equator in Web Mercator metres.
EARTH_CIRCUMFERENCE = 2 * math.pi * 6378137.0
MAX_ZOOM = 30
#: Zooms past the native one that are still served (upsampled).
OVERZOOM = 3
#: Longest side of the overview read to compute rescaling statistics, pixels.
STATS_SIZE = 256
#: Decoded thumbnails of files without overviews kept per worker, bytes (a 1024 px RGB one is 4 MB).
THUMBNAIL_CACHE_BYTES = 32 * 1024 * 1024


def mercator_resolution(zoom: int, tilesize: int = 256) -> float:
    """Web Mercator metres per pixel of a ``tilesize`` tile at ``zoom``."""
    return EARTH_CIRCUMFERENCE / (tilesize * 2**zoom)


def zoom_for_resolution(resolution: float, tilesize: int = 256) -> int:
    """The smallest zoom whose pixels are at least as fine as ``resolution`` (Web Mercator m)."""
    if not resolution > 0 or not math.isfinite(resolution):
        return 0
    zoom = math.ceil(math.log2(EARTH_CIRCUMFERENCE / (tilesize * resolution)) - 1e-9)
    return max(0, min(MAX_ZOOM, zoom))


def select_bands(colorinterp: Sequence[ColorInterp], count: int) -> tuple[tuple[int, ...], str]:
    """Bands to show and how: ``("rgb" | "grey" | "palette")`` (1-based band indexes).

    By colour interpretation (RGB, palette, grey), else the first three
    non-alpha bands as RGB, else the first band as grey.
    """
    ci = list(colorinterp)
    if all(c in ci for c in (ColorInterp.red, ColorInterp.green, ColorInterp.blue)):
        return (
            ci.index(ColorInterp.red) + 1,
            ci.index(ColorInterp.green) + 1,
            ci.index(ColorInterp.blue) + 1,
        ), "rgb"
    if ci and ci[0] == ColorInterp.palette:
        return (1,), "palette"
    non_alpha = [i + 1 for i, c in enumerate(ci) if c != ColorInterp.alpha] or [1]
    if len(non_alpha) >= 3:
        return tuple(non_alpha[:3]), "rgb"
    return (non_alpha[0],), "grey"


@dataclass(frozen=True, eq=False)
class ImageInfo:
    """What oam-preview needs to know of a GeoTIFF, computed once per image.

    ``crs``/``transform`` place the pixel grid (from GCPs for GCP-only files);
    both are ``None`` when the file is not georeferenced. ``bounds`` is the
    geographic bbox, ``gsd`` metres per pixel on the ground.
    """

    width: int
    height: int
    count: int
    dtype: str
    crs: CRS | None
    transform: Affine | None
    georeference: str | None  # "transform", "gcps" or None
    bounds: BBox | None
    footprint: BaseGeometry | None
    gsd: float | None
    native_zoom: int | None
    min_zoom: int | None
    bands: tuple[int, ...]
    mode: str  # "rgb", "grey" or "palette"
    palette: np.ndarray | None  # (256, 4) uint8 lookup table
    rescale: tuple[tuple[float, float], ...] | None  # per band (low, high)
    overviews: tuple[int, ...]
    block_shape: tuple[int, int]  # rows, cols of one block (a strip for stripped files)
    bytes_per_pixel: int  # all bands, as stored

    def mercator_bounds(self) -> BBox | None:
        """Geographic bounds with latitudes clamped to Web Mercator's range."""
        if self.bounds is None:
            return None
        w, s, e, n = self.bounds
        return (w, max(s, -MAX_LATITUDE), e, min(n, MAX_LATITUDE))


def mercator_pixel_size(crs: CRS, affine: Affine, width: int, height: int, gsd: float, bounds: BBox) -> float:
    """Web Mercator metres per pixel of the image as a web map would warp it."""
    corners = [affine @ (col, row) for col in (0, width) for row in (0, height)]
    xs, ys = [x for x, _ in corners], [y for _, y in corners]
    try:
        dst, _, _ = calculate_default_transform(
            crs, WEB_MERCATOR, width, height, min(xs), min(ys), max(xs), max(ys)
        )
        res = abs(dst.a)
        if math.isfinite(res) and res > 0:
            return res
    except Exception:  # warping polar or off-Earth grids can fail; fall back to the GSD
        pass
    lat = min(abs(bounds[1] + bounds[3]) / 2, MAX_LATITUDE)
    return gsd / math.cos(math.radians(lat))


def describe(dataset: Any, max_read_bytes: float) -> ImageInfo:
    """Describe an open dataset; reads a small overview for the statistics of non-8-bit data."""
    crs, affine, kind = georeference(dataset)
    bounds = footprint = gsd = native = minz = None
    if crs is not None and affine is not None:
        footprint = footprint_of_grid(crs, affine, dataset.width, dataset.height)
        if footprint is not None:
            bounds = footprint_bbox(footprint)
            gsd = ground_resolution(crs, affine, (bounds[1] + bounds[3]) / 2)
            if gsd:
                res = mercator_pixel_size(crs, affine, dataset.width, dataset.height, gsd, bounds)
                native = zoom_for_resolution(res)
                # The zoom at which the whole image is about one tile.
                minz = max(0, native - math.ceil(math.log2(max(dataset.width, dataset.height) / 256)))
    if bounds is None:
        crs = affine = kind = None
    bands, mode = select_bands(dataset.colorinterp, dataset.count)
    palette = None
    if mode == "palette":
        try:
            palette = palette_lut(dataset.colormap(1))
        except ValueError:  # says palette but has no table: show as grey
            mode = "grey"
    dtype = dataset.dtypes[bands[0] - 1]
    block = dataset.block_shapes[0]
    info = ImageInfo(
        width=dataset.width,
        height=dataset.height,
        count=dataset.count,
        dtype=dtype,
        crs=crs,
        transform=affine,
        georeference=kind,
        bounds=bounds,
        footprint=footprint,
        gsd=gsd,
        native_zoom=native,
        min_zoom=minz,
        bands=bands,
        mode=mode,
        palette=palette,
        rescale=None,
        overviews=tuple(dataset.overviews(1)),
        block_shape=(int(block[0]), int(block[1])),
        bytes_per_pixel=sum(np.dtype(t).itemsize for t in dataset.dtypes),
    )
    if dtype != "uint8" and mode != "palette":
        info = _with_statistics(dataset, info, max_read_bytes)
    return info


def palette_lut(colormap: dict[int, Sequence[int]]) -> np.ndarray:
    """A (256, 4) uint8 RGBA lookup table from a GDAL colour table; missing entries are transparent."""
    lut = np.zeros((256, 4), dtype=np.uint8)
    for index, rgba in colormap.items():
        if 0 <= index < 256:
            lut[index] = tuple(rgba)[:4] if len(rgba) >= 4 else (*tuple(rgba)[:3], 255)
    return lut


def _with_statistics(dataset: Any, info: ImageInfo, max_read_bytes: float) -> ImageInfo:
    """``info`` with per-band 2nd-98th percentile ranges of valid pixels from a small overview."""
    width, height = thumbnail_size(info.width, info.height, STATS_SIZE)
    check_read(read_cost(info, info.width, info.height, width, height), max_read_bytes)
    img = rio_read(dataset, width=width, height=height, indexes=info.bands)
    ranges = []
    for band in img.array:
        valid = band.compressed()
        valid = valid[np.isfinite(valid)] if valid.dtype.kind == "f" else valid
        if valid.size == 0:
            ranges.append((0.0, 1.0))
            continue
        low, high = (float(v) for v in np.percentile(valid, (2, 98)))
        ranges.append((low, high if high > low else low + 1.0))
    return replace(info, rescale=tuple(ranges))


def thumbnail_size(width: int, height: int, max_size: int) -> tuple[int, int]:
    """(cols, rows) with the longest side ``max_size``, aspect kept, never upscaled."""
    scale = min(1.0, max_size / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def read_cost(info: ImageInfo, window_cols: float, window_rows: float, out_cols: int, out_rows: int) -> int:
    """Upper bound of the bytes GDAL reads for a window of full-resolution pixels at an output size.

    GDAL reads from the coarsest overview at least as fine as the output; it
    reads whole blocks, and a decimated read of a file without overviews
    touches at most one block row per output row. Compression is ignored, so
    this overestimates compressed files.
    """
    if window_cols <= 0 or window_rows <= 0:
        return 0
    decimation = min(window_cols / out_cols, window_rows / out_rows)
    factor = max([1, *(f for f in info.overviews if f <= decimation)])
    cols, rows = window_cols / factor, window_rows / factor
    block_rows, block_cols = info.block_shape
    n_cols = min(math.ceil(cols / block_cols) + 1, math.ceil(info.width / factor / block_cols))
    n_rows = min(math.ceil(rows / block_rows) + 1, math.ceil(info.height / factor / block_rows))
    if factor == 1 and decimation > 1:
        n_rows = min(n_rows, out_rows)
    return n_cols * n_rows * block_rows * block_cols * info.bytes_per_pixel


def check_read(cost: int, max_read_bytes: float) -> None:
    if cost > max_read_bytes:
        raise TooLarge(
            f"this image would need about {cost / 1e6:.0f} MB read for this request, over the "
            f"limit of {max_read_bytes / 1e6:.0f} MB (the GeoTIFF has no overviews small enough; "
            "add internal overviews, e.g. make it a cloud-optimized GeoTIFF)"
        )


def to_pixels(img: ImageData, info: ImageInfo) -> Pixels:
    """Display-ready 8-bit pixels from read data: palette expanded, non-8-bit data stretched."""
    array = img.array
    invalid = np.ma.getmaskarray(array).any(axis=0)
    mask = np.where(invalid, 0, 255).astype(np.uint8)
    if img.alpha_mask is not None and img.alpha_mask.dtype == np.uint8:
        mask = np.minimum(mask, img.alpha_mask)
    if info.mode == "palette" and info.palette is not None:
        rgba = info.palette[np.clip(array.data[0], 0, 255).astype(np.uint8)]
        data = np.moveaxis(rgba[..., :3], -1, 0)
        mask = np.minimum(mask, rgba[..., 3])
    elif info.rescale is not None:
        data = np.empty(array.shape, dtype=np.uint8)
        for i, (low, high) in enumerate(info.rescale):
            with np.errstate(invalid="ignore", over="ignore"):
                scaled = (array.data[i].astype(np.float32) - low) * (255.0 / (high - low))
            data[i] = np.nan_to_num(np.clip(scaled, 0, 255), nan=0).astype(np.uint8)
    else:
        data = array.data.astype(np.uint8, copy=False)
    data = np.where(mask[np.newaxis] == 0, np.uint8(0), data)
    return Pixels(np.ascontiguousarray(data), mask)


def tile_bounds_3857(z: int, x: int, y: int) -> BBox:
    b = mercantile.xy_bounds(x, y, z)
    return (b.left, b.bottom, b.right, b.top)


def check_tile(info: ImageInfo, z: int, x: int, y: int) -> None:
    """Raise the API error for a tile this image cannot serve."""
    if info.georeference is None or info.bounds is None:
        raise NotGeoreferenced(
            "this image has no georeferencing (no CRS, geotransform or GCPs), so it has no tiles; its thumbnail works"
        )
    assert info.native_zoom is not None
    if z > info.native_zoom + OVERZOOM:
        raise ZoomOutOfRange(f"zoom {z} is beyond this image's native zoom {info.native_zoom} + {OVERZOOM}")
    tb = mercantile.bounds(x, y, z)
    image_bounds = info.mercator_bounds()
    assert image_bounds is not None
    if image_bounds[1] >= image_bounds[3] or not bbox_intersects(
        image_bounds, (tb.west, tb.south, tb.east, tb.north)
    ):
        raise OutsideBounds(f"tile {z}/{x}/{y} is outside this image's bounds")


def tile_read_cost(info: ImageInfo, z: int, x: int, y: int, size: int) -> int:
    """Upper bound of bytes read for a tile (see :func:`read_cost`); 0 when it can't be told."""
    assert info.crs is not None and info.transform is not None
    try:
        left, bottom, right, top = transform_bounds(
            WEB_MERCATOR, info.crs, *tile_bounds_3857(z, x, y), densify_pts=21
        )
    except Exception:  # the tile can't be expressed in the image's CRS
        return 0
    if not all(math.isfinite(v) for v in (left, bottom, right, top)):
        return 0
    inverse = ~info.transform
    corners = [inverse @ (x, y) for x in (left, right) for y in (bottom, top)]
    col0, col1 = min(c for c, _ in corners), max(c for c, _ in corners)
    row0, row1 = min(r for _, r in corners), max(r for _, r in corners)
    cols = max(0.0, min(col1, info.width) - max(col0, 0.0))
    rows = max(0.0, min(row1, info.height) - max(row0, 0.0))
    # The window is the tile's; the part inside the image scales the output size.
    out_cols = max(1, round(size * cols / (col1 - col0))) if col1 > col0 else 1
    out_rows = max(1, round(size * rows / (row1 - row0))) if row1 > row0 else 1
    return read_cost(info, cols, rows, out_cols, out_rows)


class Imagery:
    """Tiles and thumbnails of catalog images, with image descriptions cached per worker."""

    def __init__(self, opener: Opener, settings: Settings) -> None:
        self.opener = opener
        self.max_read_bytes = settings.max_read_mb * 1e6
        self._infos: LRUCache[str, ImageInfo] = LRUCache(maxsize=4096)
        self._sidecar: LRUCache[str, bool] = LRUCache(maxsize=4096)
        self._thumbnails: LRUCache[tuple[str, int], Pixels] = LRUCache(
            maxsize=THUMBNAIL_CACHE_BYTES, getsizeof=lambda p: p.data.nbytes + p.mask.nbytes
        )
        self._thumbnail_locks = KeyedLocks()
        self._info_locks = KeyedLocks()
        self._lock = threading.Lock()
        opener.on_change(self.forget)

    def forget(self, url: str) -> None:
        """Drop what is kept of ``url`` (its file changed upstream)."""
        with self._lock:
            self._infos.pop(url, None)
            self._sidecar.pop(url, None)
            for key in [k for k in self._thumbnails if k[0] == url]:
                del self._thumbnails[key]

    def info(self, image: Image) -> ImageInfo:
        """The description of ``image``'s GeoTIFF (opened once per worker).

        Described by one thread at a time: the first tiles of a map view arrive
        together, and describing non-8-bit data reads an overview for statistics.
        """
        with self._lock:
            cached = self._infos.get(image.source_url)
        if cached is not None:
            return cached
        with self._info_locks(image.source_url):
            with self._lock:
                cached = self._infos.get(image.source_url)
            if cached is not None:
                return cached
            with self.opener.open(image.source_url) as dataset:
                info = describe(dataset, self.max_read_bytes)
            with self._lock:
                self._infos[image.source_url] = info
        return info

    def tile(self, image: Image, z: int, x: int, y: int, size: int = 256) -> Pixels:
        """The ``size``-pixel Web Mercator tile ``z/x/y`` of ``image``."""
        info = self.info(image)
        check_tile(info, z, x, y)
        check_read(tile_read_cost(info, z, x, y, size), self.max_read_bytes)
        with self.opener.open(image.source_url) as dataset, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reader = Reader(None, dataset=dataset, tms=WEB_MERCATOR_QUAD)
            try:
                img = reader.tile(x, y, z, tilesize=size, indexes=info.bands)
            except TileOutsideBounds:
                raise OutsideBounds(f"tile {z}/{x}/{y} is outside this image's bounds") from None
            finally:
                reader.close()
        return to_pixels(img, info)

    def thumbnail(self, image: Image, max_size: int = 256) -> Pixels:
        """The whole image in its own pixel grid, longest side ``max_size`` (never upscaled).

        Thumbnails of files without internal overviews (a decimated read of
        megabytes of strips, seconds) are kept per worker, and computed by one
        thread at a time: every format of one size then costs one read.
        """
        info = self.info(image)
        if info.overviews:
            return self._read_thumbnail(image, info, max_size)
        key = (image.source_url, max_size)
        with self._thumbnail_locks(key):
            with self._lock:
                cached = self._thumbnails.get(key)
            if cached is None:
                cached = self._read_thumbnail(image, info, max_size)
                with self._lock:
                    self._thumbnails[key] = cached
        return cached

    def _read_thumbnail(self, image: Image, info: ImageInfo, max_size: int) -> Pixels:
        """Read a thumbnail from the file: internal overviews, a ``.ovr`` sidecar, or a decimated read."""
        width, height = thumbnail_size(info.width, info.height, max_size)
        sidecars = not info.overviews and (width < info.width) and self._has_sidecar(image)
        if not sidecars:
            check_read(read_cost(info, info.width, info.height, width, height), self.max_read_bytes)
        with self.opener.open(image.source_url, sidecars=sidecars) as dataset, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if sidecars:
                ovr = dataset.overviews(info.bands[0])
                check_read(
                    read_cost(replace(info, overviews=tuple(ovr)), info.width, info.height, width, height),
                    self.max_read_bytes,
                )
            resampling: Literal["nearest", "average"] = (
                "nearest" if (info.mode == "palette" or not (info.overviews or sidecars)) else "average"
            )
            img = rio_read(
                dataset, width=width, height=height, indexes=info.bands, resampling_method=resampling
            )
        return to_pixels(img, info)

    def _has_sidecar(self, image: Image) -> bool:
        """Whether a ``.ovr`` overview file sits beside an image without internal overviews."""
        with self._lock:
            known = self._sidecar.get(image.source_url)
        if known is not None:
            return known
        try:
            with self.opener.open(image.source_url, sidecars=True) as dataset:
                found = bool(dataset.overviews(1))
        except Exception:
            found = False
        with self._lock:
            self._sidecar[image.source_url] = found
        return found
