"""Footprint geometry in EPSG:4326 degrees: antimeridian splitting and bboxes."""

from __future__ import annotations

import math

import shapely
from shapely import make_valid
from shapely.geometry import MultiPolygon, Polygon, box, shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

from .mercator import RADIUS

#: (west, south, east, north) in EPSG:4326 degrees; west > east crosses the antimeridian.
BBox = tuple[float, float, float, float]


def crosses_antimeridian(bbox: BBox) -> bool:
    """Whether a (west, south, east, north) bbox in degrees crosses ±180°: the one rule, west > east."""
    w, _, e, _ = bbox
    return w > e


def split_antimeridian(bbox: BBox) -> tuple[BBox, ...]:
    """The boxes (degrees, each west <= east) a bbox is on a map: one crossing ±180° is two, west
    of it up to 180° and east of it from -180°; any other is itself."""
    w, s, e, n = bbox
    if crosses_antimeridian(bbox):
        return ((w, s, 180.0, n), (-180.0, s, e, n))
    return ((w, s, e, n),)


def bbox_geometry(bbox: BBox) -> BaseGeometry:
    """The area of a (west, south, east, north) bbox; west > east crosses the antimeridian."""
    parts = split_antimeridian(bbox)
    return MultiPolygon([box(*p) for p in parts]) if len(parts) > 1 else box(*parts[0])


def normalize_footprint(geom: BaseGeometry) -> BaseGeometry | None:
    """Make a footprint valid and, if it crosses the antimeridian, split it there.

    A polygon crosses when its longitudes go past ±180 or span more than 180°
    (a ring drawn the short way across the date line). Returns ``None`` for an
    empty or area-less geometry.
    """
    if geom.is_empty:
        return None
    if not geom.is_valid:
        geom = make_valid(geom)
    polys = [g for g in getattr(geom, "geoms", [geom]) if isinstance(g, Polygon | MultiPolygon)]
    if not polys:
        return None
    geom = unary_union(polys)
    minx, _, maxx, _ = geom.bounds
    # Wider than 180° without reaching ±180: a ring drawn across the date line
    # with wrapped longitudes. (A cap around a pole spans exactly -180..180.)
    if maxx - minx > 180.0 and minx > -180.0 and maxx < 180.0:
        # Drawn across the date line with wrapped coordinates: unwrap west part.
        parts = []
        for poly in getattr(geom, "geoms", [geom]):
            coords = [((x + 360.0) if x < 0 else x, y) for x, y in poly.exterior.coords]
            parts.append(Polygon(coords))
        geom = unary_union(parts)
        minx, _, maxx, _ = geom.bounds
    if minx < -180.0 or maxx > 180.0:
        world = box(-180.0, -90.0, 180.0, 90.0)
        inside = geom.intersection(world)
        east = geom.intersection(box(180.0, -90.0, 540.0, 90.0))
        west = geom.intersection(box(-540.0, -90.0, -180.0, 90.0))
        from shapely.affinity import translate

        pieces = [inside, translate(east, -360.0), translate(west, 360.0)]
        geom = unary_union([p for p in pieces if not p.is_empty])
    if geom.is_empty or geom.area == 0:
        return None
    if isinstance(geom, Polygon):
        return geom
    return MultiPolygon(
        [
            p
            for g in getattr(geom, "geoms", [geom])
            for p in getattr(g, "geoms", [g])
            if isinstance(p, Polygon)
        ]
    )


def footprint_bbox(geom: BaseGeometry) -> BBox:
    """(west, south, east, north) of a split footprint; west > east when it crosses ±180."""
    minx, miny, maxx, maxy = geom.bounds
    parts = list(getattr(geom, "geoms", [geom]))
    touches_east = any(p.bounds[2] >= 180.0 for p in parts)
    touches_west = any(p.bounds[0] <= -180.0 for p in parts)
    if touches_east and touches_west and not (minx <= -180.0 and maxx >= 180.0 and len(parts) == 1):
        west = min(p.bounds[0] for p in parts if p.bounds[2] >= 180.0)
        east = max(p.bounds[2] for p in parts if p.bounds[0] <= -180.0)
        if west > east:
            return (west, miny, east, maxy)
    return (minx, miny, maxx, maxy)


def antimeridian_sides(footprint: BaseGeometry, bbox: BBox) -> tuple[BaseGeometry, ...]:
    """The parts of a footprint a map draws apart: for one whose ``bbox`` crosses the
    antimeridian (west > east), its parts east of 0° (those up to 180°) and its parts west of
    0° (those from -180°), each side one geometry; any other footprint alone.

    ``footprint`` is split at ±180 (:func:`normalize_footprint`), in degrees or any projection
    that keeps the sign of longitude (EPSG:3857 does). Drawn as one, such a footprint's extent
    spans the world's width, however small the image.
    """
    if not crosses_antimeridian(bbox):
        return (footprint,)
    parts = list(getattr(footprint, "geoms", [footprint]))
    sides = ([p for p in parts if p.centroid.x >= 0], [p for p in parts if p.centroid.x < 0])
    return tuple(side[0] if len(side) == 1 else MultiPolygon(side) for side in sides if side)


def footprint_from_geojson(obj: object) -> BaseGeometry | None:
    """A normalised footprint from a GeoJSON geometry mapping; ``ValueError`` if unusable."""
    if not isinstance(obj, dict):
        raise ValueError("geometry is not a GeoJSON object")  # documented as ValueError
    try:
        geom = shape(obj)
    except Exception as exc:  # shapely raises several types for bad GeoJSON
        raise ValueError(f"bad geometry: {exc}") from None
    return normalize_footprint(geom)


def bbox_intersects(a: BBox, b: BBox) -> bool:
    """Whether two bboxes (either may cross the antimeridian) share a point, their edges included
    (as their areas' ``intersects``): by their sides' numbers, no geometry made (a tile's check)."""
    return any(
        aw <= be and bw <= ae and a_s <= bn and bs <= an
        for aw, a_s, ae, an in split_antimeridian(a)
        for bw, bs, be, bn in split_antimeridian(b)
    )


# WGS84 ellipsoid, for converting degrees to metres on the ground.
_WGS84_A = RADIUS  # semi-major axis, metres: Web Mercator's sphere has this radius
_WGS84_E2 = 6.69437999014e-3  # first eccentricity squared


def metres_per_degree(latitude: float) -> tuple[float, float]:
    """Ground length of one degree (east-west, north-south) at ``latitude``, metres.

    Uses the WGS84 ellipsoid's radii of curvature, so it is exact for a small
    step of longitude or latitude at that latitude (degrees, clamped to ±90).
    """
    phi = math.radians(max(-90.0, min(90.0, latitude)))
    w = math.sqrt(1.0 - _WGS84_E2 * math.sin(phi) ** 2)
    prime_vertical = _WGS84_A / w
    meridional = _WGS84_A * (1.0 - _WGS84_E2) / w**3
    return (math.radians(1.0) * prime_vertical * math.cos(phi), math.radians(1.0) * meridional)


def degrees_to_metres(size_degrees: float, latitude: float) -> float:
    """A square pixel of ``size_degrees`` as a ground sample distance in metres at ``latitude``.

    The pixel is narrower east-west than north-south away from the equator;
    the GSD is the side of the square of the same area (geometric mean), which
    is what a projected image of the same pixels would report.
    """
    east_west, north_south = metres_per_degree(latitude)
    return size_degrees * math.sqrt(east_west * north_south)


def footprint_from_wkt(text: str) -> BaseGeometry | None:
    """A normalised footprint from WKT in EPSG:4326 degrees; ``ValueError`` if unusable."""
    try:
        geom = shapely.from_wkt(text)
    except Exception as exc:  # shapely raises GEOSException and others
        raise ValueError(f"bad footprint WKT: {exc}") from None
    return normalize_footprint(geom)


def footprint_from_bbox(values: object) -> BaseGeometry | None:
    """A normalised footprint from a ``[west, south, east, north]`` bbox in degrees.

    West > east means the box crosses the antimeridian. A 3-D STAC bbox
    (six numbers) is accepted. ``ValueError`` if it is not a usable bbox.
    """
    if not isinstance(values, list | tuple) or len(values) not in (4, 6):
        raise ValueError(f"bbox {values!r} is not [west, south, east, north]")
    try:
        numbers = [float(v) for v in values]
    except (TypeError, ValueError):
        raise ValueError(f"bbox {values!r} is not numbers") from None
    if len(numbers) == 6:
        numbers = [numbers[0], numbers[1], numbers[3], numbers[4]]
    w, s, e, n = numbers
    if not all(math.isfinite(v) for v in numbers) or not (-90.0 <= s < n <= 90.0):
        raise ValueError(f"bbox {values!r} is not a valid area in degrees")
    return normalize_footprint(bbox_geometry((w, s, e, n)))
