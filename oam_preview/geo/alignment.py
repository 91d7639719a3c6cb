"""Alignment offsets: an image moved ``dx`` metres east and ``dy`` metres north on the ground.

A drone survey georeferenced a few metres off is shown where it belongs by a
translation in Web Mercator: ground metres at the image's latitude are
``1 / cos(latitude)`` Web Mercator metres (its scale factor), the same east
and north, so the shift of the whole image is one constant vector in EPSG:3857
metres (:func:`mercator_shift`), computed at the latitude of the image's
middle. Tiles read the unshifted file at the tile's bounds minus that vector;
footprints and points are moved by it (:func:`shift_point`, :func:`shift_geometry`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from .geometry import normalize_footprint
from .mercator import MAX_LATITUDE, RADIUS

#: The largest offset taken, metres each way: a bigger one is a mistake, not a misalignment.
MAX_OFFSET_METRES = 1000.0


@dataclass(frozen=True)
class Offset:
    """``dx`` metres east and ``dy`` metres north on the ground; ``source`` says who gave it
    (``"catalog"``: the record's property, ``"operator"``: ``OAM_PREVIEW_OFFSETS``)."""

    dx: float
    dy: float
    source: str

    def __post_init__(self) -> None:
        for value in (self.dx, self.dy):
            if not (math.isfinite(value) and abs(value) <= MAX_OFFSET_METRES):
                raise ValueError(f"an offset is a finite number of metres up to {MAX_OFFSET_METRES:g}")

    def to_dict(self) -> dict[str, float | str]:
        return {"dx": self.dx, "dy": self.dy, "source": self.source}

    def key(self) -> str:
        """A short form for cache keys: what the pixels depend on (not the source)."""
        return f"{self.dx!r},{self.dy!r}"


def mercator_shift(offset: Offset, latitude: float) -> tuple[float, float]:
    """The offset as EPSG:3857 metres ``(east, north)`` at ``latitude`` (degrees; Web Mercator's
    scale factor there, the sphere's: ``1 / cos(latitude)``)."""
    scale = 1.0 / math.cos(math.radians(min(abs(latitude), MAX_LATITUDE)))
    return offset.dx * scale, offset.dy * scale


def to_mercator(lon: float, lat: float) -> tuple[float, float]:
    """EPSG:4326 degrees to EPSG:3857 metres (latitude clamped to Web Mercator's)."""
    phi = math.radians(max(-MAX_LATITUDE, min(MAX_LATITUDE, lat)))
    return RADIUS * math.radians(lon), RADIUS * math.log(math.tan(math.pi / 4 + phi / 2))


def from_mercator(x: float, y: float) -> tuple[float, float]:
    """EPSG:3857 metres to EPSG:4326 degrees; longitudes past ±180 wrapped."""
    lon = math.degrees(x / RADIUS)
    lon = (lon + 180.0) % 360.0 - 180.0 if abs(lon) > 180.0 else lon
    return lon, math.degrees(2 * math.atan(math.exp(y / RADIUS)) - math.pi / 2)


def shift_point(lon: float, lat: float, shift: tuple[float, float], sign: int = 1) -> tuple[float, float]:
    """``lon, lat`` (degrees) moved by ``sign`` times ``shift`` (EPSG:3857 metres); ``sign=-1``
    finds where a point of the shown image lies in the file."""
    x, y = to_mercator(lon, lat)
    return from_mercator(x + sign * shift[0], y + sign * shift[1])


def shift_geometry(geom: BaseGeometry, shift: tuple[float, float]) -> BaseGeometry | None:
    """A footprint (EPSG:4326 degrees) moved by ``shift`` (EPSG:3857 metres), split again at the
    antimeridian if the move takes it across."""

    def move(coords: np.ndarray) -> np.ndarray:
        lon, lat = coords[:, 0], coords[:, 1]
        phi = np.radians(np.clip(lat, -MAX_LATITUDE, MAX_LATITUDE))
        y = RADIUS * np.log(np.tan(np.pi / 4 + phi / 2)) + shift[1]
        new_lon = lon + np.degrees(shift[0] / RADIUS)  # may pass ±180: normalize splits it
        new_lat = np.degrees(2 * np.arctan(np.exp(y / RADIUS)) - np.pi / 2)
        return np.column_stack([new_lon, new_lat])

    moved = shapely.transform(geom, move)
    return normalize_footprint(moved)
