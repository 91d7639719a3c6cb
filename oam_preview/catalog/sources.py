"""Catalog sources: read a path or URL, detect its format, yield :class:`Image` records.

Each format is one module with a loader ``(document, base) -> Iterator[Record]``
registered in :data:`LOADERS` with a predicate that recognises the parsed
document. A record that cannot be used is reported as ``Skip`` and loading
goes on; it never stops the others. ``base`` is where the document came
from (see :mod:`.fetch`).

Formats that are not one JSON document (a local directory of GeoTIFFs, a
text file of GeoTIFF URLs) are detected by :func:`load` before JSON parsing.
"""

from __future__ import annotations

import json
import logging
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..config import Settings
from . import files, geojson, oam, stac, stac_api
from .fetch import Revision, document_base, fetch, file_url_path, is_url
from .headers import DatasetOpener
from .model import Image
from .records import CatalogError, Loader, Record, Skip
from .search import Catalog

log = logging.getLogger(__name__)

#: The most images of one load (``OAM_PREVIEW_CATALOG_MAX_RECORDS``).
DEFAULT_MAX_RECORDS = Settings.catalog_max_records

#: (predicate, loader) in the order they are tried; the first whose predicate holds reads it.
LOADERS: list[tuple[Callable[[Any], bool], Loader]] = [
    (oam.is_oam_api_response, oam.load_oam_api_response),
    (oam.is_oin_meta, oam.load_oin_meta),
    (stac.is_stac, stac.load_stac),
    (geojson.is_geojson_catalog, geojson.load_geojson),
    (geojson.is_geojson_feature, geojson.load_geojson_feature),
]


def load_document(
    doc: Any, base: str = "", max_records: int = DEFAULT_MAX_RECORDS, revision: Revision | None = None
) -> Catalog:
    """Build a catalog from a parsed JSON document; ``base`` resolves relative URLs.

    ``revision`` is the fetched document's; the catalog keeps it only when the
    document is the whole catalog (:func:`is_whole_catalog`).
    """
    for predicate, loader in LOADERS:
        if predicate(doc):
            return collect(loader(doc, base), max_records, revision if is_whole_catalog(doc) else None)
    raise CatalogError(
        "unrecognised catalog format (expected an OpenAerialMap /meta response, an OIN "
        "_meta.json, STAC, a GeoJSON FeatureCollection with properties.source_url, "
        "a text file of GeoTIFF URLs or a directory of GeoTIFFs)"
    )


def collect(
    records: Iterator[Record], max_records: int = DEFAULT_MAX_RECORDS, revision: Revision | None = None
) -> Catalog:
    """Gather records into a :class:`Catalog`, logging each skipped one by name.

    At ``max_records`` images the rest is left unread (a paging loader stops
    asking for pages), with a warning.
    """
    images: list[Image] = []
    skipped: list[tuple[str, str]] = []
    try:
        for record in records:
            if isinstance(record, Skip):
                log.warning("catalog: skipped %s: %s", record.name, record.reason)
                skipped.append((record.name, record.reason))
                continue
            if len(images) >= max_records:
                log.warning(
                    "catalog: stopped at %d images (OAM_PREVIEW_CATALOG_MAX_RECORDS); the rest is left out",
                    max_records,
                )
                break
            images.append(record)
    finally:
        close = getattr(records, "close", None)
        if close is not None:
            close()  # a generator's finally (a progress line, a thread pool) runs now
    catalog = Catalog.from_images(images, skipped, revision)
    for name, reason in catalog.skipped[len(skipped) :]:
        log.warning("catalog: skipped %s: %s", name, reason)
    return catalog


def load(
    src: str,
    *,
    previous: Catalog | None = None,
    max_records: int = DEFAULT_MAX_RECORDS,
    opener: DatasetOpener | None = None,
) -> Catalog:
    """Read the catalog at ``src`` (local path or http(s) URL), whatever its format.

    A local directory is read as a directory of GeoTIFFs; a document that is
    not JSON but lists GeoTIFF URLs one a line is a URL list; any other
    document is JSON and goes to the first loader of :data:`LOADERS` that
    recognises it. ``CatalogError`` when the source as a whole is unusable.

    ``previous`` is the catalog last read from ``src``: when it has a
    revision, the document is asked for only if it changed, and an unchanged
    one (``304``) returns ``previous`` itself, unparsed. GeoTIFF headers are
    read through ``opener`` (default: ``Opener(Settings.from_env())``, built at first use).
    """
    if not is_url(src) and urllib.parse.urlsplit(src).scheme.lower() in ("", "file"):
        local = Path(file_url_path(src) if src.lower().startswith("file:") else src)
        if local.is_dir():
            return collect(files.load_directory(local, opener), max_records)
    fetched = fetch(src, revision=previous.revision if previous is not None else None)
    if fetched.text is None and previous is not None:
        log.info("catalog %s: unchanged (304)", src)
        return previous
    text = fetched.text or ""
    base = document_base(src)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        if files.is_url_list(text):
            return collect(files.load_url_list(text, base, opener), max_records, fetched.revision)
        raise CatalogError(f"catalog {src} is neither JSON nor a list of URLs: {exc}") from None
    return load_document(doc, base, max_records, fetched.revision)


def is_whole_catalog(doc: Any) -> bool:
    """Whether a document is the whole catalog, so that an unchanged document means an unchanged
    catalog: not a page of an API (OAM's /meta pages, a STAC API's next links) nor a STAC
    Catalog or Collection whose linked documents may change on their own. Those are re-read
    in full at every refresh."""
    if oam.is_oam_api_response(doc):
        return oam.is_single_page(doc)
    if stac.is_stac(doc):
        return doc.get("type") in ("Feature", "FeatureCollection") and not stac_api.has_next(doc)
    return True
