"""Web Mercator tile maths, in one home: morecantile's WebMercatorQuad, zooms 0 to 30.

Tiles are XYZ tiles of the Google/OSM scheme (y counts from the north).
Projected bounds are EPSG:3857 metres, geographic bounds EPSG:4326 degrees,
both ``(west, south, east, north)``; resolutions are Web Mercator metres per
pixel. morecantile's registered WebMercatorQuad stops at zoom 24 and warns
past it, but a 2 cm drone survey has native zoom 23 and is served to
native + 3, so :data:`TMS` is the same grid defined down to :data:`MAX_ZOOM`.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import morecantile
from pyproj import CRS as ProjCRS

from .mercator import HALF_EQUATOR, MAX_LATITUDE

#: The finest zoom a tile URL may ask for.
MAX_ZOOM = 30
#: Zooms past an image's native one that are still served (upsampled).
OVERZOOM = 3

TMS = morecantile.TileMatrixSet.custom(
    [-HALF_EQUATOR, -HALF_EQUATOR, HALF_EQUATOR, HALF_EQUATOR],
    ProjCRS.from_epsg(3857),
    id="WebMercatorQuad",
    minzoom=0,
    maxzoom=MAX_ZOOM,
)


def resolution(zoom: int, tilesize: int = 256) -> float:
    """Web Mercator metres per pixel of a ``tilesize`` tile at ``zoom``."""
    return TMS.matrix(zoom).cellSize * 256 / tilesize


@functools.cache
def _resolutions() -> tuple[float, ...]:
    """Metres per pixel of zooms 0 to :data:`MAX_ZOOM`, coarsest first (from :data:`TMS`)."""
    return tuple(TMS.matrix(z).cellSize for z in range(MAX_ZOOM + 1))


def zoom_for_resolution(res: float) -> int:
    """The coarsest zoom whose 256 px tiles are at least as fine as ``res`` (Web Mercator m/px);
    0 for a resolution that is not a positive number. morecantile's ``zoom_for_res`` with the
    ``upper`` strategy, without its cost (0.1 ms a call: a catalog of 20,000 asks it as often)."""
    if not (res > 0 and math.isfinite(res)):
        return 0
    for zoom, cell in enumerate(_resolutions()):
        if cell <= res * (1 + 1e-8):  # morecantile's tolerance
            return zoom
    return MAX_ZOOM


def xy_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """EPSG:3857 bounds of tile ``z/x/y``."""
    b = TMS.xy_bounds(x, y, z)
    return (b.left, b.bottom, b.right, b.top)


def geographic_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """EPSG:4326 bounds of tile ``z/x/y``: ``TMS.bounds``, the same numbers, with the transformer
    looked up once (morecantile looks it up by its CRSs' hash, their WKT: 0.3 ms a tile)."""
    left, bottom, right, top = xy_bounds(z, x, y)
    west, north = _to_geographic().transform(left, top)
    east, south = _to_geographic().transform(right, bottom)
    return (west, south, east, north)


@functools.cache
def _to_geographic() -> Any:
    """:data:`TMS`'s own EPSG:3857 -> EPSG:4326 transformer (the object ``TMS.bounds`` uses)."""
    return TMS._to_geographic


def tile_range(
    bounds: tuple[float, float, float, float], zoom: int
) -> tuple[tuple[int, int], tuple[int, int]]:
    """``((min col, max col), (min row, max row))`` of the tiles at ``zoom`` that cover
    geographic ``bounds`` (degrees; not crossing the antimeridian)."""
    w, s, e, n = bounds
    ul = TMS.tile(w, n, zoom)
    lr = TMS.tile(min(e, 179.9999999), max(s, -MAX_LATITUDE + 1e-9), zoom)
    return (ul.x, lr.x), (ul.y, lr.y)
