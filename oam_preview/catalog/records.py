"""Catalog records and the parsing of their values: dates, numbers, GSD units, :class:`Image`.

A format module turns each record of a document into an :class:`Image` with
:func:`build_image`, or into a :class:`Skip` naming it and why; a whole
document that cannot be read is a :class:`CatalogError`. Nothing here does
I/O or knows a format.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shapely.geometry.base import BaseGeometry

from ..geo.geometry import degrees_to_metres, footprint_bbox, footprint_from_bbox, footprint_from_geojson
from .model import Image
from .render_hints import RenderHint

#: Properties the server sets itself on each Feature (API.md); a source's own
#: values under these names would be mistaken for the server's URLs.
RESERVED_PROPERTIES = frozenset(
    {
        "title",
        "source_url",
        "gsd",
        "acquisition_start",
        "acquisition_end",
        "provider",
        "license",
        "platform",
        "thumbnail",
        "tilejson",
        "tiles",
        "wmts",
        "renders",
        "product_type_source",
    }
)


class CatalogError(Exception):
    """A catalog source that cannot be read at all (as opposed to one bad record)."""


@dataclass(frozen=True)
class Skip:
    """A record that could not be used: its name and why."""

    name: str
    reason: str


Record = Image | Skip
#: A format's loader: ``(parsed document, base) -> records``.
Loader = Callable[[Any, str], Iterator[Record]]


def parse_datetime(value: Any) -> datetime | None:
    """An ISO 8601 date or datetime as an aware UTC datetime (naive means UTC)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        # ValueError, not TypeError: callers parsing query strings catch ValueError.
        raise ValueError(f"not a date: {value!r}")  # noqa: TRY004
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def ordered_interval(start: datetime | None, end: datetime | None) -> tuple[datetime | None, datetime | None]:
    """``(start, end)`` swapped when a source gave them the wrong way round."""
    if start is not None and end is not None and start > end:
        return end, start
    return start, end


def optional_str(value: Any) -> str | None:
    """A text field stripped, ``None`` when absent or blank; ``ValueError`` for a non-scalar."""
    if value is None:
        return None
    if isinstance(value, str | int | float):
        text = str(value).strip()
        return text or None
    raise ValueError(f"expected text, got {type(value).__name__}")


def positive_number(value: Any, what: str) -> float | None:
    """``value`` as a finite number > 0, ``None`` if absent; ``ValueError`` otherwise."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise TypeError(f"{what} {value!r} is not a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} {value!r} is not a number") from None
    if not math.isfinite(number) or number <= 0:
        raise ValueError(f"{what} {value!r} is not a positive number")
    return number


# -- Ground sample distance -----------------------------------------------------------


@functools.lru_cache(maxsize=256)
def crs_units(crs: str) -> tuple[str, float] | None:
    """``("degree", 1.0)`` for a geographic CRS, ``("metre", metres per unit)`` for a projected one.

    ``crs`` is WKT, ``EPSG:n`` or any string GDAL understands; ``None`` when it
    is not understood. Cached: catalogs repeat a handful of CRSs thousands of times.
    """
    from rasterio.crs import CRS  # rasterio is heavy; only records with a CRS need it
    from rasterio.errors import CRSError

    try:
        parsed = CRS.from_user_input(crs)
    except (CRSError, ValueError, TypeError):
        return None
    if parsed.is_geographic:
        return ("degree", 1.0)
    try:
        return ("metre", float(parsed.linear_units_factor[1]))
    except (CRSError, ValueError, TypeError, IndexError):
        return None


def footprint_latitude(footprint: BaseGeometry | None) -> float | None:
    """Latitude of a footprint's centre (degrees), where a GSD in degrees is converted."""
    if footprint is None:
        return None
    _, south, _, north = footprint.bounds
    return (south + north) / 2.0


def gsd_in_metres(
    gsd: float | None, crs: str | None, latitude: float | None, *, in_crs_units: bool
) -> float | None:
    """A GSD as metres on the ground.

    ``in_crs_units`` says the source measured ``gsd`` in the image CRS's units
    (OAM does: degrees for EPSG:4326 images, e.g. 1.9e-07). Otherwise the
    source meant metres (STAC) but a geographic image with a GSD below
    0.001 is still taken as degrees: no imagery has sub-millimetre pixels.
    Without a known CRS the same 0.001 rule decides. Degrees are converted
    at ``latitude``; without a latitude such a GSD is unknown (``None``).
    """
    if gsd is None:
        return None
    units = crs_units(crs) if crs else None
    if units is None:
        is_degrees = gsd < 0.001
    elif units[0] == "degree":
        is_degrees = in_crs_units or gsd < 0.001
    else:
        return gsd * units[1] if in_crs_units else gsd
    if not is_degrees:
        return gsd
    if latitude is None:
        return None
    return degrees_to_metres(gsd, latitude)


def build_image(
    *,
    image_id: str,
    source_url: str,
    title: str | None,
    footprint: BaseGeometry | None,
    gsd: float | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    provider: str | None = None,
    license: str | None = None,
    platform: str | None = None,
    properties: Mapping[str, Any] | None = None,
    renders: tuple[RenderHint, ...] = (),
    band_names: tuple[str, ...] = (),
) -> Image:
    """An :class:`Image` with its bbox derived from the footprint and its dates ordered.

    ``platform`` is lower-cased: real OAM data has both ``uav`` and ``UAV``.
    """
    start, end = ordered_interval(start, end)
    extra = {k: v for k, v in (properties or {}).items() if k not in RESERVED_PROPERTIES}
    return Image(
        id=image_id,
        source_url=source_url,
        title=title or image_id,
        footprint=footprint,
        bbox=footprint_bbox(footprint) if footprint is not None else None,
        gsd=gsd,
        acquisition_start=start,
        acquisition_end=end,
        provider=provider,
        license=license,
        platform=platform.lower() if platform else None,
        properties=extra,
        renders=renders,
        band_names=band_names,
    )


def feature_footprint(feature: Mapping[str, Any]) -> BaseGeometry | None:
    """A GeoJSON Feature's (or STAC Item's) footprint: its ``geometry``, else its ``bbox``."""
    if feature.get("geometry") is not None:
        return footprint_from_geojson(feature["geometry"])
    if feature.get("bbox") is not None:
        return footprint_from_bbox(feature["bbox"])
    return None
