"""What oam-preview needs to know of one GeoTIFF, read once from its header: :func:`describe` gives
its :class:`~oam_preview.tiler.info.ImageInfo`.

Geographic bounds are EPSG:4326 degrees ``(west, south, east, north)``, west
> east when the image crosses the antimeridian; resolutions are metres per
pixel (GSD on the ground, Web Mercator metres for zooms).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
from rasterio.crs import CRS
from rasterio.enums import ColorInterp
from rasterio.transform import Affine
from rasterio.warp import calculate_default_transform
from rasterio.warp import transform as transform_points
from rio_tiler.reader import read as rio_read

from ..geo.geometry import BBox, footprint_bbox
from ..geo.georeference import footprint_of_grid, georeference, ground_resolution
from ..geo.mercator import HALF_EQUATOR, MAX_LATITUDE
from ..geo.tiles import zoom_for_resolution
from .budget import check_read, read_cost, thumbnail_size
from .decimated import read_whole
from .info import ImageInfo, select_bands

WEB_MERCATOR = CRS.from_epsg(3857)
#: Longest side of the overview read to compute rescaling statistics, pixels.
STATS_SIZE = 256
#: Most bands given an automatic stretch (a multispectral file's bands are shown by name).
STRETCHED_BANDS = 16
#: A warped extent whose pixels come out this many times coarser than the image's own
#: pixels (measured at its centre) misleads: the image crosses the antimeridian or a pole.
MISLEADING_WARP = 2.0


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
    half = HALF_EQUATOR
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
    bands, mode = select_bands(dataset.colorinterp)
    palette = None
    if mode == "palette":
        try:
            palette = palette_lut(dataset.colormap(1))
        except ValueError:  # says palette but has no table: show as grey
            mode = "grey"
    dtype = dataset.dtypes[bands[0] - 1]
    block = dataset.block_shapes[0]
    alpha = ColorInterp.alpha in dataset.colorinterp
    data_bands = tuple(i + 1 for i, c in enumerate(dataset.colorinterp) if c != ColorInterp.alpha)
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
        alpha=alpha,
        descriptions=tuple(d or "" for d in dataset.descriptions),
        # Every band a rendering may show by name, when they are few; else the bands shown.
        rescale_bands=data_bands if len(data_bands) <= STRETCHED_BANDS else bands,
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
    histogram: [counts, edges]}, …}`` of the valid, finite pixels of ``array`` (bands, rows,
    cols) whose bands are called ``names``; ``nodata`` also masks (a band's own value).

    Every figure is a finite number, whatever the values (an expression's output may be
    boolean, or reach float64's end: ``b1/0`` gives its largest value): they are computed in
    float64 scaled by a power of two (exact) that keeps sums and squares within range."""
    doc: dict[str, Any] = {}
    for name, band in zip(names, array, strict=True):
        values = band.compressed()
        if nodata is not None:
            values = values[~np.isnan(values)] if math.isnan(nodata) else values[values != nodata]
        values = values.astype(np.float64)  # booleans too (an expression's comparison)
        values = values[np.isfinite(values)]
        total = band.size
        if values.size == 0:
            doc[name] = {"count": 0, "valid_percent": 0.0}
            continue
        low, high = float(values.min()), float(values.max())
        scale = _statistics_scale(max(abs(low), abs(high)))
        scaled = values * scale
        p2, p98 = (float(v) / scale for v in np.percentile(scaled, (2, 98)))
        doc[name] = {
            "min": low,
            "max": high,
            "mean": float(scaled.mean()) / scale,
            "std": float(scaled.std()) / scale,
            "count": int(values.size),
            "valid_percent": round(100.0 * values.size / total, 2),
            "percentile_2": p2,
            "percentile_98": p98,
            "histogram": _histogram(scaled, scale),
        }
    return doc


def _histogram(scaled: np.ndarray, scale: float) -> list[list[Any]]:
    """``[counts, edges]`` of 10 bins of ``scaled / scale`` (numpy's: equal values get one unit
    around them); all in the first bin where numpy cannot make 10 distinct finite edges (values
    a rounding apart, or so large that one unit around them does not change them)."""
    try:
        counts, edges = np.histogram(scaled, bins=10)
        with np.errstate(over="ignore"):  # checked below
            edges = edges / scale
        if np.isfinite(edges).all():
            return [counts.tolist(), edges.tolist()]
    except ValueError:  # "Too many bins for data range"
        pass
    low, high = float(scaled.min()) / scale, float(scaled.max()) / scale
    return [[int(scaled.size)] + [0] * 9, np.linspace(low, high, 11).tolist()]


#: Largest magnitude whose squares and sums over a statistics read stay finite in float64.
_STATISTICS_RANGE = 2.0**400


def _statistics_scale(peak: float) -> float:
    """1, or the power of two that brings values up to ``peak`` in magnitude below 1 (a scaling
    that rounds nothing), when they would overflow a sum of squares."""
    if peak < _STATISTICS_RANGE:
        return 1.0
    return 2.0 ** -math.ceil(math.log2(peak))


def _with_statistics(dataset: Any, info: ImageInfo, max_read_bytes: float) -> ImageInfo:
    """``info`` with per-band 2nd-98th percentile ranges of valid pixels from a small overview."""
    width, height = thumbnail_size(info.width, info.height, STATS_SIZE)
    check_read(read_cost(info, info.width, info.height, width, height), max_read_bytes)
    stretched = info.rescale_bands or info.bands
    if info.overviews:
        img = rio_read(dataset, width=width, height=height, indexes=stretched)
    else:  # a decimated read of the full resolution: each strip fetched once (see decimated)
        img = read_whole(dataset, width, height, stretched, info.block_shape[0])
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
