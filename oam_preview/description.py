"""What oam-preview needs to know of one GeoTIFF, read once from its header: :class:`ImageInfo`.

Geographic bounds are EPSG:4326 degrees ``(west, south, east, north)``, west
> east when the image crosses the antimeridian; resolutions are metres per
pixel (GSD on the ground, Web Mercator metres for zooms).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from rasterio.crs import CRS
from rasterio.enums import ColorInterp
from rasterio.transform import Affine
from rasterio.warp import calculate_default_transform
from rasterio.warp import transform as transform_points
from rio_tiler.reader import read as rio_read
from shapely.geometry.base import BaseGeometry

from .budget import check_read, read_cost, thumbnail_size
from .catalog.model import BBox
from .decimated import read_whole
from .errors import NotGeoreferenced, OutsideBounds, ZoomOutOfRange
from .geometry import MAX_LATITUDE, bbox_intersects, footprint_bbox
from .georeference import footprint_of_grid, georeference, ground_resolution
from .tiles import OVERZOOM, geographic_bounds, zoom_for_resolution

WEB_MERCATOR = CRS.from_epsg(3857)
#: Longest side of the overview read to compute rescaling statistics, pixels.
STATS_SIZE = 256
#: A warped extent whose pixels come out this many times coarser than the image's own
#: pixels (measured at its centre) misleads: the image crosses the antimeridian or a pole.
MISLEADING_WARP = 2.0


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
    """What oam-preview needs to know of a GeoTIFF, computed once per image version.

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

    def require_tiles(self) -> ImageInfo:
        """``self``, or :class:`NotGeoreferenced` for an image that has no tiles."""
        if self.georeference is None or self.bounds is None or self.native_zoom is None:
            raise NotGeoreferenced(
                "this image has no georeferencing (no CRS, geotransform or GCPs), so it has no tiles; "
                "its thumbnail works"
            )
        return self

    def check_tile(self, z: int, x: int, y: int) -> None:
        """Raise the API error for a tile this image cannot serve."""
        native = self.require_tiles().native_zoom
        assert native is not None
        if z > native + OVERZOOM:
            raise ZoomOutOfRange(f"zoom {z} is beyond this image's native zoom {native} + {OVERZOOM}")
        image_bounds = self.mercator_bounds()
        assert image_bounds is not None
        if image_bounds[1] >= image_bounds[3] or not bbox_intersects(
            image_bounds, geographic_bounds(z, x, y)
        ):
            raise OutsideBounds(f"tile {z}/{x}/{y} is outside this image's bounds")


def centre_pixel_size(crs: CRS, affine: Affine, width: int, height: int) -> float | None:
    """Web Mercator metres per pixel at the image's centre: the square root of the area
    of one pixel there, warped to EPSG:3857; ``None`` when it cannot be warped."""
    col, row = width / 2, height / 2
    points = [affine @ (col, row), affine @ (col + 1, row), affine @ (col, row + 1)]
    try:
        xs, ys = transform_points(crs, WEB_MERCATOR, [p[0] for p in points], [p[1] for p in points])
    except Exception:  # an off-Earth centre: no answer
        return None
    # Near the antimeridian one step may wrap to the other side of the world.
    half = math.pi * 6378137.0
    for i in (1, 2):
        if xs[i] - xs[0] > half:
            xs[i] -= 2 * half
        elif xs[0] - xs[i] > half:
            xs[i] += 2 * half
    area = abs((xs[1] - xs[0]) * (ys[2] - ys[0]) - (xs[2] - xs[0]) * (ys[1] - ys[0]))
    return math.sqrt(area) if math.isfinite(area) and area > 0 else None


def mercator_pixel_size(crs: CRS, affine: Affine, width: int, height: int, gsd: float, bounds: BBox) -> float:
    """Web Mercator metres per pixel of the image as a web map would warp it.

    GDAL's suggested warp of the whole extent, unless that comes out much
    coarser than the pixels at the image's centre: the warped extent of an
    image across the antimeridian spans the world, and its pixels would be
    kilometres wide. Then the centre's pixel size; the GSD as a last resort.
    """
    local = centre_pixel_size(crs, affine, width, height)
    corners = [affine @ (col, row) for col in (0, width) for row in (0, height)]
    xs, ys = [x for x, _ in corners], [y for _, y in corners]
    try:
        dst, _, _ = calculate_default_transform(
            crs, WEB_MERCATOR, width, height, min(xs), min(ys), max(xs), max(ys)
        )
        res = abs(dst.a)
        if math.isfinite(res) and res > 0 and (local is None or res <= local * MISLEADING_WARP):
            return res
    except Exception:  # warping polar or off-Earth grids can fail; fall back
        pass
    if local is not None:
        return local
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


def band_statistics(array: np.ma.MaskedArray, names: Sequence[str], nodata: float | None) -> dict[str, Any]:
    """``{"b1": {min, max, mean, std, count, valid_percent, percentile_2, percentile_98,
    histogram: [counts, edges]}, …}`` of the valid pixels of ``array`` (bands, rows, cols)
    whose bands are called ``names``; ``nodata`` also masks (a band's own value)."""
    doc: dict[str, Any] = {}
    for name, band in zip(names, array, strict=True):
        values = band.compressed()
        if nodata is not None:
            values = values[~np.isnan(values)] if math.isnan(nodata) else values[values != nodata]
        if values.dtype.kind == "f":
            values = values[np.isfinite(values)]
        total = band.size
        if values.size == 0:
            doc[name] = {"count": 0, "valid_percent": 0.0}
            continue
        counts, edges = np.histogram(values, bins=10)
        p2, p98 = (float(v) for v in np.percentile(values, (2, 98)))
        doc[name] = {
            "min": float(values.min()),
            "max": float(values.max()),
            "mean": float(values.mean()),
            "std": float(values.std()),
            "count": int(values.size),
            "valid_percent": round(100.0 * values.size / total, 2),
            "percentile_2": p2,
            "percentile_98": p98,
            "histogram": [counts.tolist(), edges.tolist()],
        }
    return doc


def _with_statistics(dataset: Any, info: ImageInfo, max_read_bytes: float) -> ImageInfo:
    """``info`` with per-band 2nd-98th percentile ranges of valid pixels from a small overview."""
    width, height = thumbnail_size(info.width, info.height, STATS_SIZE)
    check_read(read_cost(info, info.width, info.height, width, height), max_read_bytes)
    if info.overviews:
        img = rio_read(dataset, width=width, height=height, indexes=info.bands)
    else:  # a decimated read of the full resolution: each strip fetched once (see decimated)
        img = read_whole(dataset, width, height, info.bands, info.block_shape[0])
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
