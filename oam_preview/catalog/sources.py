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

from . import files, geojson, oam, stac
from .fetch import document_base, fetch_text, file_url_path, is_url
from .model import Image
from .records import CatalogError, Loader, Record, Skip
from .search import Catalog

log = logging.getLogger(__name__)

#: (predicate, loader) in the order they are tried; the first whose predicate holds reads it.
LOADERS: list[tuple[Callable[[Any], bool], Loader]] = [
    (oam.is_oam_api_response, oam.load_oam_api_response),
    (oam.is_oin_meta, oam.load_oin_meta),
    (stac.is_stac, stac.load_stac),
    (geojson.is_geojson_catalog, geojson.load_geojson),
    (geojson.is_geojson_feature, geojson.load_geojson_feature),
]


def load_document(doc: Any, base: str = "") -> Catalog:
    """Build a catalog from a parsed JSON document; ``base`` resolves relative URLs."""
    for predicate, loader in LOADERS:
        if predicate(doc):
            return collect(loader(doc, base))
    raise CatalogError(
        "unrecognised catalog format (expected an OpenAerialMap /meta response, an OIN "
        "_meta.json, STAC, a GeoJSON FeatureCollection with properties.source_url, "
        "a text file of GeoTIFF URLs or a directory of GeoTIFFs)"
    )


def collect(records: Iterator[Record]) -> Catalog:
    """Gather records into a :class:`Catalog`, logging each skipped one by name."""
    images: list[Image] = []
    skipped: list[tuple[str, str]] = []
    for record in records:
        if isinstance(record, Skip):
            log.warning("catalog: skipped %s: %s", record.name, record.reason)
            skipped.append((record.name, record.reason))
        else:
            images.append(record)
    catalog = Catalog.from_images(images, skipped)
    for name, reason in catalog.skipped[len(skipped) :]:
        log.warning("catalog: skipped %s: %s", name, reason)
    return catalog


def load(src: str) -> Catalog:
    """Read the catalog at ``src`` (local path or http(s) URL), whatever its format.

    A local directory is read as a directory of GeoTIFFs; a document that is
    not JSON but lists GeoTIFF URLs one a line is a URL list; any other
    document is JSON and goes to the first loader of :data:`LOADERS` that
    recognises it. ``CatalogError`` when the source as a whole is unusable.
    """
    if not is_url(src) and urllib.parse.urlsplit(src).scheme.lower() in ("", "file"):
        local = Path(file_url_path(src) if src.lower().startswith("file:") else src)
        if local.is_dir():
            return collect(files.load_directory(local))
    text = fetch_text(src)
    base = document_base(src)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        if files.is_url_list(text):
            return collect(files.load_url_list(text, base))
        raise CatalogError(f"catalog {src} is neither JSON nor a list of URLs: {exc}") from None
    return load_document(doc, base)
