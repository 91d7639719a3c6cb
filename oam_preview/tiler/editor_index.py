"""The catalog as editors' imagery lists: editor-layer-index GeoJSON and JOSM's ``<imagery>`` XML.

One :class:`IndexEntry` per tiled layer (an image, or the mosaic of a query),
written as an ELI Feature (iD, Vespucci; :func:`eli_collection`) or a JOSM
``<entry>`` (:func:`josm_imagery`). Pure functions: the URLs come in built.

Tile URL templates use ``{zoom}``, ``{x}``, ``{y}`` (what both formats
document). Footprints are EPSG:4326 degrees, split at the antimeridian
(RFC 7946): ELI gets the MultiPolygon as it is, JOSM one ``<shape>`` per
part, with ``<bounds>`` whose ``min-lon`` > ``max-lon`` when the image crosses
the antimeridian (JOSM's bounds may cross it).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from xml.etree import ElementTree

from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

from ..catalog.model import Image
from ..geo.geometry import footprint_bbox
from ..geo.mercator import MAX_LATITUDE, RADIUS
from ..geo.tiles import resolution
from .info import ImageInfo
from .ogc import XML_INVALID, attribution
from .selection import estimated_native_zoom

#: JOSM's namespace of ``maps.xsd`` (the format of https://josm.openstreetmap.de/maps).
JOSM_NAMESPACE = "http://josm.openstreetmap.de/maps-1.0"
#: Every entry's category in both formats: aerial or satellite photos.
CATEGORY = "photo"
#: Prefix of every entry's id: an editor holds entries of many indexes in one list.
ID_PREFIX = "oam-preview-"
#: Licences whose SPDX page is their licence URL: Creative Commons' (what OAM uploads carry).
_CREATIVE_COMMONS = re.compile(r"^CC(0|-BY(-SA|-NC|-ND|-NC-SA|-NC-ND)?)-\d\.\d$")
#: A catalog licence that is itself a link.
_URL = re.compile(r"^https?://\S+$")
#: Digits kept of a JOSM point's degrees: about 1 cm.
JOSM_DIGITS = 7
#: ``maps.xsd``'s limits: zooms 0..24, 100 shapes of 3..999 points each.
JOSM_MAX_ZOOM = 24
JOSM_MAX_SHAPES = 100
JOSM_MAX_POINTS = 999


@dataclass(frozen=True)
class IndexEntry:
    """One layer as both formats describe it.

    ``url``: a tile URL template with ``{zoom}``, ``{x}``, ``{y}``;
    ``footprint``: EPSG:4326 degrees, split at the antimeridian; zooms of 256
    px Web Mercator tiles (``None``: not known, left out); dates are UTC
    ``YYYY-MM-DD``; ``best``: the operator's word that this is the best
    imagery of its area (``OAM_PREVIEW_INDEX_BEST``).
    """

    id: str
    name: str
    url: str
    footprint: BaseGeometry
    min_zoom: int | None = None
    max_zoom: int | None = None
    start_date: str | None = None
    end_date: str | None = None
    attribution_text: str | None = None
    attribution_url: str | None = None
    license_url: str | None = None
    privacy_policy_url: str | None = None
    best: bool = False


def xml_text(text: str) -> str:
    """``text`` without the characters XML 1.0 cannot carry (escaping is the serializer's)."""
    return XML_INVALID.sub("", text)


def day(value: datetime | None) -> str | None:
    """A UTC datetime as ``YYYY-MM-DD``."""
    return value.date().isoformat() if value is not None else None


def mercator_y(latitude: float) -> float:
    """Web Mercator y (metres) of a latitude (degrees, clamped to Web Mercator's)."""
    phi = math.radians(max(-MAX_LATITUDE, min(MAX_LATITUDE, latitude)))
    return RADIUS * math.log(math.tan(math.pi / 4 + phi / 2))


def license_url(image: Image) -> str | None:
    """The URL of an image's licence: the record's when it is a URL, the SPDX page of a Creative
    Commons licence (``CC-BY-4.0``, ``CC BY 4.0``, ``CC0-1.0``), else ``None``."""
    text = (image.license or "").strip()
    if _URL.match(text):
        return text
    spdx = re.sub(r"\s+", "-", text).upper()
    if _CREATIVE_COMMONS.match(spdx):
        return f"https://spdx.org/licenses/{spdx}.html"
    return None


def credit(image: Image) -> str | None:
    """The attribution line: provider and licence, the licence left out when it is a URL (the
    entry links it)."""
    if _URL.match((image.license or "").strip()):
        return image.provider or None
    return attribution(image)


def zoom_range(image: Image, info: ImageInfo | None) -> tuple[int | None, int | None]:
    """``(min_zoom, max_zoom)`` of an image's tiles: the header's when this worker has read it,
    else from the catalog's GSD (native zoom) and footprint (the zoom where the image is about
    one tile); ``(None, None)`` when neither says. Tiles are served above ``max_zoom`` too
    (upsampled, API.md): editors upsample those themselves."""
    if info is not None and info.native_zoom is not None:
        return (info.min_zoom if info.min_zoom is not None else 0), info.native_zoom
    native = estimated_native_zoom(image)
    if native is None or image.bbox is None:
        return None, None
    w, s, e, n = image.bbox
    across = max(((e - w) % 360.0 or 360.0) * math.radians(1.0) * RADIUS, mercator_y(n) - mercator_y(s))
    tiles = max(1.0, across / (resolution(native) * 256))  # Web Mercator metres / metres per tile
    return max(0, native - math.ceil(math.log2(tiles))), native


def image_entry(
    image: Image,
    tiles_url: str,
    info: ImageInfo | None = None,
    best: bool = False,
    privacy_policy_url: str | None = None,
    footprint: BaseGeometry | None = None,
) -> IndexEntry | None:
    """The entry of one image whose tiles are at ``tiles_url`` (``{z}`` or ``{zoom}``), its
    area ``footprint`` (default the catalog's; the one moved by an alignment offset);
    ``None`` for an image without a footprint, which an editor could not place."""
    footprint = footprint or image.footprint
    if footprint is None:
        return None
    min_zoom, max_zoom = zoom_range(image, info)
    start = image.acquisition_start or image.acquisition_end
    end = image.acquisition_end or image.acquisition_start
    return IndexEntry(
        id=ID_PREFIX + image.id,
        name=image.title or image.id,
        url=tiles_url.replace("{z}", "{zoom}"),
        footprint=footprint,
        min_zoom=min_zoom,
        max_zoom=max_zoom,
        start_date=day(start),
        end_date=day(end),
        attribution_text=credit(image),
        attribution_url=license_url(image),
        license_url=license_url(image),
        privacy_policy_url=privacy_policy_url,
        best=best,
    )


def dates_of(images: Iterable[Image]) -> tuple[str | None, str | None]:
    """The earliest capture start and the latest capture end of ``images`` (``YYYY-MM-DD``)."""
    starts = [t for i in images if (t := i.acquisition_start or i.acquisition_end) is not None]
    ends = [t for i in images if (t := i.acquisition_end or i.acquisition_start) is not None]
    return day(min(starts) if starts else None), day(max(ends) if ends else None)


# -- editor-layer-index GeoJSON ----------------------------------------------------------------


def eli_feature(entry: IndexEntry) -> dict[str, Any]:
    """One entry as an ELI Feature: the resource in ``properties``, the footprint as geometry."""
    properties: dict[str, Any] = {
        "id": entry.id,
        "name": entry.name,
        "type": "tms",
        "url": entry.url,
        "category": CATEGORY,
    }
    optional = {
        "min_zoom": entry.min_zoom,
        "max_zoom": entry.max_zoom,
        "start_date": entry.start_date,
        "end_date": entry.end_date,
        "license_url": entry.license_url,
        "privacy_policy_url": entry.privacy_policy_url,
    }
    properties.update({k: v for k, v in optional.items() if v is not None})
    credit = {"text": entry.attribution_text, "url": entry.attribution_url}
    if any(credit.values()):
        properties["attribution"] = {k: v for k, v in credit.items() if v is not None}
    if entry.best:
        properties["best"] = True
    return {"type": "Feature", "properties": properties, "geometry": mapping(entry.footprint)}


def eli_collection(entries: Sequence[IndexEntry], **members: Any) -> dict[str, Any]:
    """The entries as an ELI FeatureCollection; ``members`` are added at its top level."""
    return {"type": "FeatureCollection", "features": [eli_feature(e) for e in entries], **members}


# -- JOSM <imagery> ----------------------------------------------------------------------------


def degrees_text(value: float) -> str:
    """Degrees as an ``xs:decimal`` (never an exponent), to :data:`JOSM_DIGITS` digits."""
    return f"{value:.{JOSM_DIGITS}f}".rstrip("0").rstrip(".")


def josm_shapes(footprint: BaseGeometry) -> list[list[tuple[str, str]]]:
    """The footprint's parts as ``maps.xsd`` shapes: ``(lat, lon)`` points, unclosed, each part
    simplified to at most :data:`JOSM_MAX_POINTS`; none (bounds alone) when there are more than
    :data:`JOSM_MAX_SHAPES` parts or a part is too small to keep three distinct points."""
    parts = list(getattr(footprint, "geoms", [footprint]))
    if len(parts) > JOSM_MAX_SHAPES:
        return []
    shapes = []
    for part in parts:
        ring = part.exterior
        tolerance = 1e-7
        while len(ring.coords) - 1 > JOSM_MAX_POINTS:
            ring = part.simplify(tolerance, preserve_topology=True).exterior
            tolerance *= 2
        points = [(degrees_text(lat), degrees_text(lon)) for lon, lat in ring.coords[:-1]]  # JOSM closes it
        if len(set(points)) < 3:
            return []
        shapes.append(points)
    return shapes


def josm_entry(entry: IndexEntry) -> ElementTree.Element:
    """One ``<entry>`` of ``maps.xsd``: zooms clamped to its 0..24; ``eli-best`` when best."""
    element = ElementTree.Element("entry", {"eli-best": "true"} if entry.best else {})

    def child(name: str, text: str | None) -> None:
        if text is not None:
            ElementTree.SubElement(element, name).text = xml_text(text)

    def zoom(value: int | None) -> str | None:
        return None if value is None else str(max(0, min(JOSM_MAX_ZOOM, value)))

    child("name", entry.name)
    child("id", entry.id)
    child("type", "tms")
    child("url", entry.url)
    child("min-zoom", zoom(entry.min_zoom))
    child("max-zoom", zoom(entry.max_zoom))
    if entry.start_date is not None:
        same = entry.end_date in (None, entry.start_date)
        child("date", entry.start_date if same else f"{entry.start_date};{entry.end_date}")
    child("attribution-text", entry.attribution_text)
    child("attribution-url", entry.attribution_url)
    child("privacy-policy-url", entry.privacy_policy_url)
    child("category", CATEGORY)
    w, s, e, n = footprint_bbox(entry.footprint)
    bounds = ElementTree.SubElement(
        element,
        "bounds",
        {
            "min-lat": degrees_text(s),
            "min-lon": degrees_text(w),
            "max-lat": degrees_text(n),
            "max-lon": degrees_text(e),
        },
    )
    for points in josm_shapes(entry.footprint):
        shape = ElementTree.SubElement(bounds, "shape")
        for lat, lon in points:
            ElementTree.SubElement(shape, "point", {"lat": lat, "lon": lon})
    return element


def josm_imagery(entries: Sequence[IndexEntry]) -> str:
    """JOSM's ``<imagery>`` document of the entries (namespace :data:`JOSM_NAMESPACE`), UTF-8."""
    root = ElementTree.Element("imagery", {"xmlns": JOSM_NAMESPACE})
    root.extend(josm_entry(e) for e in entries)
    ElementTree.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(root, encoding="unicode") + "\n"
