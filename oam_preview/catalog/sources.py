"""Catalog sources: read a path or URL, detect its format, yield :class:`Image` records.

Each format is one loader: a function ``(document, base) -> Iterator[Record]``
registered in :data:`LOADERS` with a predicate that recognises the parsed
document. A record that cannot be used is reported as ``Skip`` and loading
goes on; it never stops the others.
"""

from __future__ import annotations

import json
import logging
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .geometry import bbox_geometry, footprint_bbox, footprint_from_geojson, normalize_footprint
from .model import ID_PATTERN, Image
from .search import Catalog

log = logging.getLogger(__name__)

#: Catalog documents larger than this are refused (bytes).
MAX_DOCUMENT_BYTES = 512 * 1024 * 1024
FETCH_TIMEOUT = 30.0  # seconds, per catalog document


class CatalogError(Exception):
    """A catalog source that cannot be read at all (as opposed to one bad record)."""


@dataclass(frozen=True)
class Skip:
    """A record that could not be used: its name and why."""

    name: str
    reason: str


Record = Image | Skip
Loader = Callable[[Any, str], Iterator[Record]]


def fetch_text(src: str) -> str:
    """Read a catalog document from a local path or an http(s) URL."""
    scheme = urllib.parse.urlsplit(src).scheme.lower()
    if scheme in ("http", "https"):
        request = urllib.request.Request(src, headers={"User-Agent": "oam-preview"})
        try:
            with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT) as response:  # noqa: S310
                data = response.read(MAX_DOCUMENT_BYTES + 1)
        except OSError as exc:
            raise CatalogError(f"cannot fetch catalog {src}: {exc}") from None
    elif scheme in ("", "file") or len(scheme) == 1:  # one letter: a Windows drive
        path = Path(urllib.parse.urlsplit(src).path if scheme == "file" else src)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CatalogError(f"cannot read catalog {src}: {exc}") from None
    else:
        raise CatalogError(f"catalog source {src!r}: only local paths and http(s) URLs are read")
    if len(data) > MAX_DOCUMENT_BYTES:
        raise CatalogError(f"catalog {src} is larger than {MAX_DOCUMENT_BYTES} bytes")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CatalogError(f"catalog {src} is not UTF-8 text") from None


def parse_datetime(value: Any) -> datetime | None:
    """An ISO 8601 date or datetime as an aware UTC datetime (naive means UTC)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"not a date: {value!r}")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def _optional_str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str | int | float):
        text = str(value).strip()
        return text or None
    raise ValueError(f"expected text, got {type(value).__name__}")


def _is_url(value: Any) -> bool:
    return isinstance(value, str) and urllib.parse.urlsplit(value).scheme in ("http", "https")


# -- GeoJSON FeatureCollection -------------------------------------------------------


def is_geojson_catalog(doc: Any) -> bool:
    return (
        isinstance(doc, dict)
        and doc.get("type") == "FeatureCollection"
        and isinstance(doc.get("features"), list)
        and any(
            isinstance(f, dict) and isinstance(f.get("properties"), dict) and "source_url" in f["properties"]
            for f in doc["features"]
        )
    )


def load_geojson(doc: dict[str, Any], base: str) -> Iterator[Record]:
    """API.md's GeoJSON catalog: feature ``id``, ``properties.source_url`` and friends."""
    for n, feature in enumerate(doc["features"]):
        name = f"feature #{n}"
        try:
            if not isinstance(feature, dict):
                raise ValueError("not a GeoJSON Feature")
            fid = feature.get("id")
            name = f"feature #{n} ({fid})" if fid is not None else name
            props = feature.get("properties")
            if not isinstance(props, dict):
                raise ValueError("no properties")
            if not isinstance(fid, str | int) or not ID_PATTERN.match(str(fid)):
                raise ValueError(f"id {fid!r} is not an id of [A-Za-z0-9._-], at most 128 characters")
            source_url = props.get("source_url")
            if not isinstance(source_url, str) or not source_url:
                raise ValueError("no properties.source_url")
            source_url = urllib.parse.urljoin(base, source_url) if base else source_url
            footprint = None
            if feature.get("geometry") is not None:
                footprint = footprint_from_geojson(feature["geometry"])
            elif isinstance(feature.get("bbox"), list) and len(feature["bbox"]) == 4:
                footprint = normalize_footprint(bbox_geometry(tuple(map(float, feature["bbox"]))))
            start = parse_datetime(props.get("acquisition_start"))
            end = parse_datetime(props.get("acquisition_end"))
            if start and end and start > end:
                start, end = end, start
            gsd = props.get("gsd")
            if gsd is not None:
                gsd = float(gsd)
                if not gsd > 0:
                    raise ValueError(f"gsd {gsd!r} is not a positive number of metres")
            known = {"title", "source_url", "gsd", "acquisition_start", "acquisition_end", "provider", "license"}
            extra = {
                k: v
                for k, v in props.items()
                if k not in known and k not in ("thumbnail", "tilejson", "tiles", "wmts")
            }
            yield Image(
                id=str(fid),
                source_url=source_url,
                title=_optional_str(props.get("title")) or str(fid),
                footprint=footprint,
                bbox=footprint_bbox(footprint) if footprint is not None else None,
                gsd=gsd,
                acquisition_start=start,
                acquisition_end=end,
                provider=_optional_str(props.get("provider")),
                license=_optional_str(props.get("license")),
                properties=extra,
            )
        except (ValueError, TypeError) as exc:
            yield Skip(name, str(exc))


#: (predicate, loader) in the order they are tried; the first whose predicate holds reads it.
LOADERS: list[tuple[Callable[[Any], bool], Loader]] = [
    (is_geojson_catalog, load_geojson),
]


def load_document(doc: Any, base: str = "") -> Catalog:
    """Build a catalog from a parsed JSON document; ``base`` resolves relative URLs."""
    for predicate, loader in LOADERS:
        if predicate(doc):
            return collect(loader(doc, base))
    raise CatalogError("unrecognised catalog format (expected a GeoJSON FeatureCollection with properties.source_url)")


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
    """Read the catalog at ``src`` (local path or http(s) URL), whatever its format."""
    text = fetch_text(src)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CatalogError(f"catalog {src} is not JSON: {exc}") from None
    base = src if _is_url(src) else ""
    return load_document(doc, base)
