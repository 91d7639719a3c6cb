"""OpenAerialMap catalogs: the API's ``/meta`` responses (paged) and single OIN ``_meta.json``.

An OAM record names its GeoTIFF by ``uuid`` (a URL) and its image by
``_id``; an OIN ``_meta.json`` (one record, no envelope) has no ``_id``, so
its id is a slug of the document's file name. OAM's ``gsd`` is in the
units of the image's ``projection``: degrees for EPSG:4326 images (about
1e-07 in real data), converted here to metres at the image's latitude.
"""

from __future__ import annotations

import logging
import math
import urllib.parse
from collections.abc import Iterator
from typing import Any

from ..geo.geometry import footprint_from_bbox, footprint_from_geojson, footprint_from_wkt
from .fetch import fetch_json_retrying, href_file_stem, is_url, resolve_href
from .model import ID_PATTERN, Image, slugify
from .progress import Progress
from .records import (
    CatalogError,
    Record,
    Skip,
    build_image,
    footprint_latitude,
    gsd_in_metres,
    optional_str,
    parse_datetime,
    positive_number,
)

log = logging.getLogger(__name__)

#: The most pages followed from one API URL, whatever ``meta.found`` says.
MAX_PAGES = 10_000

#: Record fields kept in ``Image.properties`` (``contact`` is left out: it is
#: a person's e-mail address and the preview has no use for it).
KEPT_FIELDS = ("uploaded_at", "file_size", "meta_uri", "nodata")
#: ``properties`` members kept, renamed so they are not mistaken for the
#: server's own ``thumbnail``/``tiles``/``wmts`` URLs.
KEPT_PROPERTIES = {
    "sensor": "sensor",
    "tags": "tags",
    "thumbnail": "oam_thumbnail",
    "tms": "oam_tms",
    "wmts": "oam_wmts",
    "nodata": "nodata",  # the rendering hint of Image.nodata_hint
}


def is_oam_api_response(doc: Any) -> bool:
    """An OAM ``/meta`` (list) or ``/meta/{id}`` (one object) response."""
    return (
        isinstance(doc, dict)
        and isinstance(doc.get("meta"), dict)
        and isinstance(doc.get("results"), list | dict)
    )


def is_oin_meta(doc: Any) -> bool:
    """One OIN ``_meta.json`` record: a ``uuid`` URL and OAM's metadata fields, no envelope."""
    return (
        isinstance(doc, dict)
        and isinstance(doc.get("uuid"), str)
        and "type" not in doc
        and any(k in doc for k in ("projection", "footprint", "bbox", "acquisition_start"))
    )


def load_oam_api_response(doc: dict[str, Any], base: str) -> Iterator[Record]:
    """Records of a ``/meta`` response and, when read from a URL, of all its further pages.

    Pages are asked for with the ``page`` query parameter until
    ``meta.found`` records are covered (``meta.limit`` per page), a page
    comes back empty, or the server ignores ``page``. A page that cannot be
    fetched fails the whole load (``CatalogError``): a catalog missing
    thousands of images is worse than the last good one.
    """
    meta = doc["meta"]
    default_license = optional_str(meta.get("license"))
    results = doc["results"]
    if isinstance(results, dict):  # /meta/{id}: one record
        yield oam_record(results, default_license, base)
        return
    yield from _page_records(results, default_license, base)
    pages = _page_count(meta, len(results))
    if not is_url(base) or pages <= 1:
        return
    first_page = _int(meta.get("page"), 1)
    progress = Progress("OpenAerialMap /meta pages", pages)
    progress.update(first_page)
    first_ids = {_first_id(results)}
    try:
        for page in range(first_page + 1, min(pages, MAX_PAGES) + 1):
            results = _fetch_page(base, page)
            first = _first_id(results)
            if not results:
                break
            if first is not None and first in first_ids:
                log.warning("catalog %s: page %d repeats an earlier page; stopping", base, page)
                break
            first_ids.add(first)
            yield from _page_records(results, default_license, base, page)
            progress.update()
    finally:
        progress.close()


def is_single_page(doc: dict[str, Any]) -> bool:
    """Whether a ``/meta`` response is the whole catalog (one record, or all on one page)."""
    results = doc["results"]
    return isinstance(results, dict) or _page_count(doc["meta"], len(results)) <= 1


def load_oin_meta(doc: dict[str, Any], base: str) -> Iterator[Record]:
    """One OIN ``_meta.json``; its id is a slug of the document's file name.

    OIN stores ``<name>_meta.json`` beside ``<name>.tif``, so the suffix is
    dropped; without a document name (``base`` empty) the GeoTIFF's name is used.
    """
    if base:
        name = href_file_stem(base)
        for suffix in ("_meta.json", ".json"):
            if name.lower().endswith(suffix):
                name = name[: -len(suffix)]
                break
    else:
        name = href_file_stem(doc["uuid"])
    image_id = slugify(name)
    try:
        yield oam_record(doc, optional_str(doc.get("license")), base, image_id=image_id)
    except (ValueError, TypeError) as exc:
        yield Skip(image_id, str(exc))


def oam_record(record: Any, default_license: str | None, base: str, image_id: str | None = None) -> Image:
    """One OAM metadata record as an :class:`Image`; ``ValueError`` naming what is wrong.

    ``image_id`` defaults to the record's ``_id``. The footprint is the first
    of ``geojson``, ``footprint`` (WKT) and ``bbox`` that is present.
    """
    if not isinstance(record, dict):
        raise TypeError("record is not an object")
    if image_id is None:
        image_id = record.get("_id")
        if not isinstance(image_id, str) or not ID_PATTERN.match(image_id):
            raise ValueError(f"_id {image_id!r} is not an id of [A-Za-z0-9._-], at most 128 chars")
    if not isinstance(record.get("uuid"), str) or not record["uuid"].strip():
        raise ValueError("no uuid (the GeoTIFF URL)")
    footprint = _oam_footprint(record)
    props = record.get("properties")
    props = props if isinstance(props, dict) else {}
    projection = record.get("projection") if isinstance(record.get("projection"), str) else None
    gsd = gsd_in_metres(
        positive_number(record.get("gsd"), "gsd"),
        projection,
        footprint_latitude(footprint),
        in_crs_units=True,
    )
    extra: dict[str, Any] = {k: record[k] for k in KEPT_FIELDS if record.get(k) is not None}
    for key, kept_as in KEPT_PROPERTIES.items():
        if props.get(key) is not None:
            extra[kept_as] = props[key]
    return build_image(
        image_id=image_id,
        source_url=resolve_href(base, record["uuid"]),
        title=optional_str(record.get("title")),
        footprint=footprint,
        gsd=gsd,
        start=parse_datetime(record.get("acquisition_start")),
        end=parse_datetime(record.get("acquisition_end")),
        provider=optional_str(record.get("provider")),
        license=optional_str(props.get("license")) or default_license,
        platform=record["platform"] if isinstance(record.get("platform"), str) else None,
        properties=extra,
    )


def _oam_footprint(record: dict[str, Any]):  # -> BaseGeometry | None
    """The first usable of ``geojson``, ``footprint`` and ``bbox``; ``ValueError`` if none is."""
    errors = []
    for field, parse in (
        ("geojson", footprint_from_geojson),
        ("footprint", footprint_from_wkt),
        ("bbox", footprint_from_bbox),
    ):
        value = record.get(field)
        if value is None:
            continue
        try:
            footprint = parse(value)
        except (ValueError, TypeError) as exc:
            errors.append(f"{field}: {exc}")
            continue
        if footprint is not None:
            return footprint
        errors.append(f"{field}: empty")
    if errors:
        raise ValueError("no usable footprint (" + "; ".join(errors) + ")")
    return None


def _page_records(
    results: list[Any], default_license: str | None, base: str, page: int = 1
) -> Iterator[Record]:
    for n, record in enumerate(results):
        try:
            yield oam_record(record, default_license, base)
        except (ValueError, TypeError) as exc:
            yield Skip(_record_name(record, page, n), str(exc))


def _record_name(record: Any, page: int, n: int) -> str:
    if isinstance(record, dict):
        for key in ("_id", "title", "uuid"):
            if isinstance(record.get(key), str) and record[key]:
                return f"{record[key]} (page {page} record #{n})"
    return f"page {page} record #{n}"


def _first_id(results: list[Any]) -> str | None:
    if results and isinstance(results[0], dict):
        value = results[0].get("_id")
        return value if isinstance(value, str) else None
    return None


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else default


def _page_count(meta: dict[str, Any], first_page_size: int) -> int:
    """How many pages cover ``meta.found`` records at ``meta.limit`` per page."""
    found = meta.get("found")
    limit = _int(meta.get("limit"), first_page_size)
    if not isinstance(found, int) or isinstance(found, bool) or found <= 0 or limit <= 0:
        return 1
    return math.ceil(found / limit)


def page_url(url: str, page: int) -> str:
    """``url`` with its ``page`` query parameter set to ``page`` (other parameters kept)."""
    parts = urllib.parse.urlsplit(url)
    query = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)]
    query = [(k, v) for k, v in query if k != "page"] + [("page", str(page))]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def _fetch_page(base: str, page: int) -> list[Any]:
    """The ``results`` of one page, retried a little (a long paging should survive a blip)."""
    url = page_url(base, page)
    doc = fetch_json_retrying(url, f"OpenAerialMap page {page}")
    if not is_oam_api_response(doc) or not isinstance(doc["results"], list):
        raise CatalogError(f"OpenAerialMap page {page} ({url}) is not a /meta response")
    return doc["results"]
