"""Parsing of the request's path and query values; a bad one is a 400 ``bad_request``."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, time

from flask import request

from .catalog.model import BBox
from .errors import BadRequest
from .render import MEDIA_TYPES
from .tiles import MAX_ZOOM

TILE_NAME = re.compile(r"^(\d{1,10})(@2x)?\.([a-z]{3,4})$")
INT = re.compile(r"^\d{1,10}$")
#: Smallest and largest ``max_size`` of a thumbnail, pixels.
THUMBNAIL_SIZES = (16, 1024)


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
    m = TILE_NAME.match(name)
    if not (INT.match(z) and INT.match(x) and m):
        raise BadRequest("tiles are /tiles/{z}/{x}/{y}.{fmt} or {y}@2x.{fmt} with whole numbers")
    zi, xi, yi = int(z), int(x), int(m.group(1))
    fmt = output_format(m.group(3))
    if zi > MAX_ZOOM:
        raise BadRequest(f"z must be from 0 to {MAX_ZOOM}")
    if xi >= 2**zi or yi >= 2**zi:
        raise BadRequest(f"x and y must be from 0 to {2**zi - 1} at zoom {zi}")
    return TileAddress(zi, xi, yi, 512 if m.group(2) else 256, fmt)


def output_format(fmt: str) -> str:
    """``fmt`` if it is one of API.md's image formats."""
    if fmt not in MEDIA_TYPES:
        raise BadRequest(f"unknown format {fmt[:20]!r}: use png, jpg, jpeg, webp or auto")
    return fmt


def query_int(name: str, default: int, low: int, high: int) -> int:
    """Query value ``name`` as a whole number from ``low`` to ``high``; ``default`` when absent."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if not INT.match(raw):
        raise BadRequest(f"{name} must be a whole number from {low} to {high}, not {raw[:40]!r}")
    value = int(raw)
    if not low <= value <= high:
        raise BadRequest(f"{name} must be from {low} to {high}, not {value}")
    return value


def query_bbox() -> BBox | None:
    """Query value ``bbox`` as (west, south, east, north) EPSG:4326 degrees."""
    raw = request.args.get("bbox")
    if raw is None or raw == "":
        return None
    parts = raw.split(",")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise BadRequest("bbox must be west,south,east,north in degrees (EPSG:4326)")
    w, s, e, n = values
    if not (-180 <= w <= 180 and -180 <= e <= 180 and -90 <= s <= n <= 90):
        raise BadRequest("bbox must have -180 <= west, east <= 180 and -90 <= south <= north <= 90")
    return (w, s, e, n)


def query_date(name: str, end_of_day: bool) -> datetime | None:
    """An ISO 8601 date or datetime (UTC if naive); a bare date covers its whole day."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    text = raw.strip()
    try:
        if len(text) == 10:
            day = datetime.fromisoformat(text).date()
            return datetime.combine(day, time.max if end_of_day else time.min, tzinfo=UTC)
        value = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        raise BadRequest(f"{name} must be an ISO 8601 date or datetime, not {raw[:40]!r}") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
