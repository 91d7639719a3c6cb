"""The feeds of images newly added to the catalog (API.md "Feeds"): Atom 1.0 and GeoJSON.

``/api/images.atom`` (feed readers, e-mail bridges) and
``/api/images/feed.geojson`` list the images a query selects (the listing's
filters) newest *added* first: added is when the catalog first saw the record
(:mod:`oam_preview.catalog.added`), not the capture date. Ties keep the
query's order (``newest`` capture first unless asked). ``limit`` as the
listing's (default 100, at most 1000).
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from xml.etree import ElementTree

from flask import Response, request
from shapely.geometry.base import BaseGeometry

from ..catalog import Image
from ..catalog.added import iso
from ..catalog.query import ImageQuery, page_from_args
from ..tiler.editor_index import degrees_text, xml_text
from ..tiler.ogc import attribution
from . import access
from .links import api_root, feature, image_urls
from .responses import document
from .services import current

ATOM = "http://www.w3.org/2005/Atom"
GEORSS = "http://www.georss.org/georss"
MEDIA = "http://search.yahoo.com/mrss/"
#: The feeds' title; the query follows it.
FEED_TITLE = "oam-preview: new imagery"
#: The time of an image without a record (not possible once the catalog is observed).
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def newly_added() -> tuple[ImageQuery, list[tuple[Image, datetime]]]:
    """This request's query and its images with their added times, newest added first, at most
    ``limit`` of them."""
    services = current()
    limit, _ = page_from_args(request.args)
    query = ImageQuery.from_args(request.args, default_order="newest")
    catalog = services.store.catalog
    services.added.observe(catalog)  # a no-op for the catalog already observed
    added = services.added.added()
    scope = access.bearer_scope(services.access)  # a token's private images too, their URLs signed
    chosen = [(i, added.get(i.id, EPOCH)) for i in catalog.select(query, scope.allowed)]
    chosen.sort(key=lambda pair: pair[1], reverse=True)  # stable: ties keep the query's order
    access.shown(image for image, _ in chosen[:limit])
    return query, chosen[:limit]


def feed_urls(query: ImageQuery) -> dict[str, str]:
    """The canonical URLs of the query's two feeds and of the page."""
    root = api_root()
    args = "?" + urllib.parse.urlencode(query.to_args(), safe=",")
    return {
        "atom": f"{root}api/images.atom{args}",
        "geojson": f"{root}api/images/feed.geojson{args}",
        "page": root,
    }


def summary(image: Image) -> str:
    """One line for a person: capture dates, provider and licence, gsd, platform."""
    start, end = image.acquisition_start, image.acquisition_end
    parts = []
    if start or end:
        first, last = (start or end), (end or start)
        assert first is not None and last is not None
        days = first.date().isoformat()
        if last.date() != first.date():
            days += f" to {last.date().isoformat()}"
        parts.append(f"Captured {days}")
    if credit := attribution(image):
        parts.append(credit)
    if image.gsd:
        parts.append(f"{image.gsd:.3g} m per pixel")
    if image.platform:
        parts.append(image.platform)
    return "; ".join(parts) or image.title or image.id


def georss_polygons(footprint: BaseGeometry | None) -> list[str]:
    """GeoRSS Simple polygons (``lat lon`` pairs, closed) of a footprint: one per part (a
    footprint across the antimeridian has two)."""
    if footprint is None:
        return []
    parts = getattr(footprint, "geoms", [footprint])
    return [
        " ".join(f"{degrees_text(lat)} {degrees_text(lon)}" for lon, lat in part.exterior.coords)
        for part in parts
    ]


def atom_feed(query: ImageQuery, entries: Sequence[tuple[Image, datetime]], updated: datetime) -> str:
    """The Atom 1.0 document of ``entries`` (image, added time)."""
    ElementTree.register_namespace("", ATOM)
    ElementTree.register_namespace("georss", GEORSS)
    ElementTree.register_namespace("media", MEDIA)
    root, imagery, rules = api_root(), current().imagery, current().access
    urls = feed_urls(query)

    def add(
        parent: ElementTree.Element, name: str, text: str | None = None, **attrs: str
    ) -> ElementTree.Element:
        element = ElementTree.SubElement(parent, name, {k.replace("_", "-"): v for k, v in attrs.items()})
        if text is not None:
            element.text = xml_text(text)
        return element

    feed = ElementTree.Element(f"{{{ATOM}}}feed")
    add(feed, f"{{{ATOM}}}id", urls["atom"])
    filters = {k: v for k, v in query.to_args().items() if k != "order"}
    add(feed, f"{{{ATOM}}}title", FEED_TITLE + (f" ({urllib.parse.urlencode(filters)})" if filters else ""))
    add(feed, f"{{{ATOM}}}updated", iso(updated))
    add(add(feed, f"{{{ATOM}}}author"), f"{{{ATOM}}}name", "oam-preview")
    add(feed, f"{{{ATOM}}}link", rel="self", type="application/atom+xml", href=urls["atom"])
    add(feed, f"{{{ATOM}}}link", rel="alternate", type="text/html", href=urls["page"])
    add(feed, f"{{{ATOM}}}link", rel="alternate", type="application/geo+json", href=urls["geojson"])
    for image, added in entries:
        links = access.signed(rules, image_urls(image, root, imagery.known_version(image).token), image)
        entry = add(feed, f"{{{ATOM}}}entry")
        add(entry, f"{{{ATOM}}}id", f"{root}api/images/{image.id}")
        add(entry, f"{{{ATOM}}}title", image.title or image.id)
        add(entry, f"{{{ATOM}}}published", iso(added))
        add(entry, f"{{{ATOM}}}updated", iso(added))
        if image.provider:
            add(add(entry, f"{{{ATOM}}}author"), f"{{{ATOM}}}name", image.provider)
        add(entry, f"{{{ATOM}}}summary", summary(image), type="text")
        page = f"{root}#sel={urllib.parse.quote(image.id)}"
        add(entry, f"{{{ATOM}}}link", rel="alternate", type="text/html", href=page)
        add(
            entry,
            f"{{{ATOM}}}link",
            rel="related",
            type="application/geo+json",
            href=f"{root}api/images/{image.id}",
        )
        add(entry, f"{{{ATOM}}}link", rel="enclosure", type="image/png", href=links["thumbnail"])
        if image.platform:
            add(entry, f"{{{ATOM}}}category", term=image.platform)
        add(entry, f"{{{MEDIA}}}thumbnail", url=links["thumbnail"])
        for polygon in georss_polygons(imagery.placed_footprint(image)):
            add(entry, f"{{{GEORSS}}}polygon", polygon)
    ElementTree.indent(feed)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(feed, encoding="unicode") + "\n"


def last_update(entries: Sequence[tuple[Image, datetime]]) -> datetime:
    """The feed's ``updated``: its newest addition, else when the catalog last loaded."""
    if entries:
        return entries[0][1]
    loaded = current().store.status().last_success
    return datetime.fromtimestamp(loaded, UTC) if loaded else EPOCH


def atom() -> Response:
    """``GET /api/images.atom``."""
    query, entries = newly_added()
    return document(atom_feed(query, entries, last_update(entries)), "application/atom+xml")


def geojson_feed() -> Response:
    """``GET /api/images/feed.geojson``: the listing's Features with ``added``, newest added first."""
    query, entries = newly_added()
    root, imagery = api_root(), current().imagery
    features: list[dict[str, Any]] = []
    for image, added in entries:
        doc = access.signed(
            current().access, feature(image, root, imagery.known_version(image).token, imagery=imagery), image
        )
        doc["properties"]["added"] = iso(added)
        features.append(doc)
    urls = feed_urls(query)
    body = {
        "type": "FeatureCollection",
        "updated": iso(last_update(entries)),
        "numberReturned": len(features),
        "features": features,
        "links": [
            {"rel": "self", "href": urls["geojson"], "type": "application/geo+json"},
            {"rel": "alternate", "href": urls["atom"], "type": "application/atom+xml"},
        ],
    }
    return document(json.dumps(body), "application/geo+json")
