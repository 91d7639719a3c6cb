"""Parsing of the tile routes' path and query values; a bad one is a 400 ``bad_request``.

The listing's query is the catalog's :class:`~oam_preview.catalog.query.ImageQuery`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from flask import request

from ..catalog.query import parse_int
from ..errors import BadRequest
from ..geo.tiles import MAX_ZOOM
from ..tiler.render import MEDIA_TYPES

TILE_NAME = re.compile(r"^(\d{1,10})(@2x)?\.([a-z]{3,4})$")
INT = re.compile(r"^\d{1,10}$")
#: Smallest and largest ``max_size`` of a thumbnail, pixels.
THUMBNAIL_SIZES = (16, 1024)


@dataclass(frozen=True)
class TileName:
    """The numbers of a tile route's path ``{z}/{x}/{y}[@2x].{ext}``, as given (not yet checked
    against a zoom range or the zoom's grid)."""

    z: int
    x: int
    y: int
    retina: bool  # ``@2x``: twice the pixels a side
    ext: str


def tile_name(z: str, x: str, name: str, usage: str) -> TileName:
    """The tile a ``{z}/{x}/{y}[@2x].{ext}`` path names; a 400 saying ``usage`` when malformed."""
    m = TILE_NAME.match(name)
    if not (INT.match(z) and INT.match(x) and m):
        raise BadRequest(usage)
    return TileName(int(z), int(x), int(m.group(1)), m.group(2) is not None, m.group(3))


def on_grid(tile: TileName) -> TileName:
    """``tile`` if its x and y are on its zoom's grid (from 0 to 2^z - 1); a 400 otherwise. The
    caller has bounded the zoom."""
    if tile.x >= 2**tile.z or tile.y >= 2**tile.z:
        raise BadRequest(f"x and y must be from 0 to {2**tile.z - 1} at zoom {tile.z}")
    return tile


@dataclass(frozen=True)
class TileAddress:
    """A tile of a tile route's path: ``z/x/y``, its size in pixels and output format."""

    z: int
    x: int
    y: int
    size: int
    fmt: str


def tile_address(z: str, x: str, name: str) -> TileAddress:
    """The tile named by a ``/tiles/{z}/{x}/{y}[@2x].{fmt}`` path."""
    t = tile_name(z, x, name, "tiles are /tiles/{z}/{x}/{y}.{fmt} or {y}@2x.{fmt} with whole numbers")
    fmt = output_format(t.ext)
    if t.z > MAX_ZOOM:
        raise BadRequest(f"z must be from 0 to {MAX_ZOOM}")
    on_grid(t)
    return TileAddress(t.z, t.x, t.y, 512 if t.retina else 256, fmt)


def output_format(fmt: str) -> str:
    """``fmt`` if it is one of API.md's image formats."""
    if fmt not in MEDIA_TYPES:
        raise BadRequest(f"unknown format {fmt[:20]!r}: use png, jpg, jpeg, webp or auto")
    return fmt


def query_int(name: str, default: int, low: int, high: int) -> int:
    """Query value ``name`` as a whole number from ``low`` to ``high``; ``default`` when absent."""
    return parse_int(request.args, name, default, low, high)


def lonlat(text: str) -> tuple[float, float]:
    """``lon,lat`` of a point route: EPSG:4326 degrees, -180..180 and -90..90."""
    try:
        lon, lat = (float(v) for v in text.split(","))
    except ValueError:
        raise BadRequest("a point is /point/{lon},{lat} in degrees (EPSG:4326)") from None
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise BadRequest("a point needs -180 <= lon <= 180 and -90 <= lat <= 90")
    return lon, lat
