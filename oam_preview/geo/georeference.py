"""Where a GeoTIFF lies on the Earth, from its header: CRS, pixel grid, footprint, GSD.

Footprints are EPSG:4326 degrees, split at the antimeridian (RFC 7946);
GSDs are metres per pixel on the ground.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from rasterio.crs import CRS
from rasterio.transform import Affine, from_gcps
from rasterio.warp import transform as transform_points
from shapely.geometry import Polygon, box
from shapely.geometry.base import BaseGeometry

from .geometry import bbox_geometry, degrees_to_metres, normalize_footprint

WGS84 = CRS.from_epsg(4326)
#: Points per edge of the image when its outline is reprojected to EPSG:4326.
EDGE_POINTS = 21
#: Grid points per side sampled when an outline falls off the Earth.
GRID_POINTS = 33


def georeference(dataset: Any) -> tuple[CRS | None, Affine | None, str | None]:
    """The CRS and pixel-to-CRS transform of a dataset, from its geotransform or else its GCPs.

    The third value says which: ``"transform"``, ``"gcps"`` (a transform fitted
    to the GCPs) or ``None`` for a file that is not georeferenced.
    """
    if dataset.crs is not None and not dataset.transform.is_identity:
        return dataset.crs, dataset.transform, "transform"
    gcps, gcp_crs = dataset.gcps
    if gcps and gcp_crs is not None:
        return gcp_crs, from_gcps(gcps), "gcps"
    if dataset.crs is not None:  # a CRS with an identity transform: still a grid in that CRS
        return dataset.crs, dataset.transform, "transform"
    return None, None, None


def outline(width: int, height: int, affine: Affine) -> tuple[list[float], list[float]]:
    """Points along the image's edges, clockwise from the top left, in its CRS."""
    steps = [i / (EDGE_POINTS - 1) for i in range(EDGE_POINTS)]
    cols_rows = (
        [(t * width, 0.0) for t in steps]
        + [(width, t * height) for t in steps[1:]]
        + [((1 - t) * width, height) for t in steps[1:]]
        + [(0.0, (1 - t) * height) for t in steps[1:]]
    )
    xs, ys = zip(*(affine @ (col, row) for col, row in cols_rows), strict=True)
    return list(xs), list(ys)


def ring_footprint(points: list[tuple[float, float]]) -> BaseGeometry | None:
    """A footprint from a closed ring of lon/lat points that may cross the antimeridian.

    Longitudes are made continuous (no jump over 180°), so a ring across the
    date line goes past ±180 and :func:`normalize_footprint` splits it. A
    ring that still does not close around in longitude circles a pole: the
    footprint is then everything from its farthest latitude to that pole.
    """
    lons = [points[0][0]]
    for lon, _ in points[1:]:
        lons.append(lon + 360.0 * round((lons[-1] - lon) / 360.0))
    lats = [lat for _, lat in points]
    if abs(lons[-1] - lons[0]) > 180.0:
        if sum(lats) < 0:
            return box(-180.0, -90.0, 180.0, max(lats))
        return box(-180.0, min(lats), 180.0, 90.0)
    return normalize_footprint(Polygon(list(zip(lons, lats, strict=True))))


def visible_footprint(crs: CRS, affine: Affine, width: int, height: int) -> BaseGeometry | None:
    """The bbox of the grid points that land on the Earth, for grids whose corners do not
    (a geostationary disk); ``None`` if none does."""
    steps = np.linspace(0.0, 1.0, GRID_POINTS)
    cols, rows = np.meshgrid(steps * width, steps * height)
    xs, ys = affine @ (cols.ravel(), rows.ravel())
    with np.errstate(all="ignore"):
        lons, lats = (np.asarray(v) for v in transform_points(crs, WGS84, list(xs), list(ys)))
    ok = np.isfinite(lons) & np.isfinite(lats) & (np.abs(lons) <= 180) & (np.abs(lats) <= 90)
    if not ok.any():
        return None
    bounds = (float(lons[ok].min()), float(lats[ok].min()), float(lons[ok].max()), float(lats[ok].max()))
    return normalize_footprint(bbox_geometry(bounds))


def ground_resolution(crs: CRS, affine: Affine, latitude: float) -> float | None:
    """Metres per pixel on the ground: the side of a square of the pixel's area (so rotation
    does not matter), degrees converted at ``latitude``."""
    side = math.sqrt(abs(affine.a * affine.e - affine.b * affine.d))
    if not side > 0:
        return None
    if crs.is_geographic:
        return degrees_to_metres(side, latitude)
    try:
        return side * crs.linear_units_factor[1]
    except Exception:  # a CRS whose units PROJ cannot name
        return None


def footprint_of_grid(crs: CRS, affine: Affine, width: int, height: int) -> BaseGeometry | None:
    """The footprint of a pixel grid: its reprojected outline, else its visible part."""
    xs, ys = outline(width, height, affine)
    try:
        with np.errstate(all="ignore"):
            lons, lats = transform_points(crs, WGS84, xs, ys)
    except Exception:  # PROJ refuses some grids outright
        lons, lats = [math.inf], [math.inf]
    points = [(x, y) for x, y in zip(lons, lats, strict=True) if math.isfinite(x) and math.isfinite(y)]
    if len(points) == len(xs):
        return ring_footprint(points)
    return visible_footprint(crs, affine, width, height)


def geographic_footprint(dataset: Any) -> tuple[BaseGeometry | None, float | None]:
    """Footprint (EPSG:4326, split at the antimeridian) and GSD (m) of an open dataset.

    ``(None, None)`` when the file is not georeferenced; the footprint alone
    is ``None`` when no part of the grid lands on the Earth.
    """
    crs, affine, _ = georeference(dataset)
    if crs is None or affine is None:
        return None, None
    footprint = footprint_of_grid(crs, affine, dataset.width, dataset.height)
    if footprint is None:
        return None, None
    latitude = (footprint.bounds[1] + footprint.bounds[3]) / 2
    return footprint, ground_resolution(crs, affine, latitude)
