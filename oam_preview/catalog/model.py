"""The catalog's record of one image, whatever source it came from."""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shapely.geometry.base import BaseGeometry

from ..geo.geometry import BBox
from .render_hints import RenderHint

#: Ids are opaque strings of these characters (API.md).
ID_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
#: OpenAerialMap's product types (its upload pipeline's tags).
PRODUCT_TYPES = ("visual", "multispectral", "sar", "elevation", "pseudocolor")


@dataclass(frozen=True)
class Image:
    """One catalog image: metadata only; the pixels stay on ``source_url``.

    ``footprint`` is in EPSG:4326, split into a MultiPolygon at the antimeridian
    (RFC 7946), so ``bbox`` = (west, south, east, north) in degrees has
    west > east when it crosses it. Both are ``None`` when the source gave no
    footprint and the file is not georeferenced. ``gsd`` is in metres.
    Datetimes are timezone-aware UTC with ``acquisition_start <= acquisition_end``.
    """

    id: str
    source_url: str
    title: str = ""
    footprint: BaseGeometry | None = None
    bbox: BBox | None = None
    gsd: float | None = None
    acquisition_start: datetime | None = None
    acquisition_end: datetime | None = None
    provider: str | None = None
    license: str | None = None
    platform: str | None = None  # lower case: "uav", "aircraft", "satellite"…
    properties: Mapping[str, Any] = field(default_factory=dict)
    #: The catalog's render hints for the served asset (STAC render extension), in its order.
    renders: tuple[RenderHint, ...] = ()
    #: Each band's common name (``red``, ``nir``…; ``""`` unknown) from the catalog's band metadata.
    band_names: tuple[str, ...] = ()
    #: The record's own ``private``/``embargo_until`` (those it has) when an operator's marks
    #: changed ``properties``; ``None`` when they are the record's own (:mod:`.privacy`).
    record_privacy: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if not ID_PATTERN.match(self.id):
            raise ValueError(f"invalid image id {self.id!r}")

    def nodata_hint(self) -> float | None:
        """The record's ``nodata`` property (a number, or ``"nan"``): the value its tiles show
        transparent when a request gives no ``nodata``; ``None`` when absent or not a number."""
        return nodata_value(self.properties.get("nodata"))

    def declared_product_type(self) -> str | None:
        """The record's product type (``oam:product_type``, else ``product_type``) when it is one of
        :data:`PRODUCT_TYPES`; ``None`` otherwise."""
        for key in ("oam:product_type", "product_type"):
            value = self.properties.get(key)
            if isinstance(value, str) and value.strip().lower() in PRODUCT_TYPES:
                return value.strip().lower()
        return None

    def feature_properties(self) -> dict[str, Any]:
        """The GeoJSON properties of API.md that come from the catalog itself."""
        props: dict[str, Any] = dict(self.properties)
        props.update(
            title=self.title,
            source_url=self.source_url,
            gsd=self.gsd,
            acquisition_start=_iso(self.acquisition_start),
            acquisition_end=_iso(self.acquisition_end),
            provider=self.provider,
            license=self.license,
            platform=self.platform,
        )
        return props


def nodata_value(value: Any) -> float | None:
    """A catalog's nodata value as a float (NaN allowed, infinities not); ``None`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return None if math.isinf(number) else number


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.isoformat().replace("+00:00", "Z")


_SLUG_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_SLUG_MAX = 128


def slugify(name: str) -> str:
    """An image id (``[A-Za-z0-9._-]{1,128}``, API.md) made from a file name.

    Accents are dropped (``é`` → ``e``), every run of other characters becomes
    one ``-``, and leading dots and dashes are stripped so that an id is never
    ``.`` or ``..`` (which would be path segments in URLs). A name longer than
    128 characters is cut and ends with a hash of the whole name, so two long
    names that share a prefix still get different ids.
    """
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    slug = _SLUG_UNSAFE.sub("-", ascii_name).strip("-").lstrip(".-")
    if not slug:
        slug = "image-" + hashlib.sha1(name.encode("utf-8")).hexdigest()[:10]
    if len(slug) > _SLUG_MAX:
        digest = hashlib.sha1(name.encode("utf-8")).hexdigest()[:10]
        slug = slug[: _SLUG_MAX - len(digest) - 1].rstrip("-") + "-" + digest
    return slug
