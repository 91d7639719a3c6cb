"""Catalog sources: read a path or URL, detect its format, yield :class:`Image` records.

Each format is one loader: a function ``(document, base) -> Iterator[Record]``
registered in :data:`LOADERS` with a predicate that recognises the parsed
document. A record that cannot be used is reported as ``Skip`` and loading
goes on; it never stops the others.

``base`` is where the document came from: an http(s) URL, an absolute local
path, or ``""`` when unknown. Relative hrefs in a document are resolved
against it by :func:`resolve_href`, which also keeps a remote catalog from
pointing the server at local files.

Formats that are not one JSON document (a local directory of GeoTIFFs, a
text file of GeoTIFF URLs) are detected by :func:`load` before JSON parsing.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from shapely.geometry.base import BaseGeometry

from ..geometry import (
    degrees_to_metres,
    footprint_bbox,
    footprint_from_bbox,
    footprint_from_geojson,
)
from .model import ID_PATTERN, Image, slugify
from .search import Catalog

log = logging.getLogger(__name__)

#: Catalog documents larger than this are refused (bytes).
MAX_DOCUMENT_BYTES = 512 * 1024 * 1024
FETCH_TIMEOUT = 30.0  # seconds, per catalog document

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
        "thumbnail",
        "tilejson",
        "tiles",
        "wmts",
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
Loader = Callable[[Any, str], Iterator[Record]]


def fetch_text(src: str) -> str:
    """Read a catalog document from a local path or an http(s) URL."""
    scheme = urllib.parse.urlsplit(src).scheme.lower()
    if scheme in ("http", "https"):
        request = urllib.request.Request(src, headers={"User-Agent": "oam-preview"})
        try:
            with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT) as response:
                data = response.read(MAX_DOCUMENT_BYTES + 1)
        except OSError as exc:
            raise CatalogError(f"cannot fetch catalog {src}: {exc}") from None
    elif scheme in ("", "file") or len(scheme) == 1:  # one letter: a Windows drive
        path = Path(_file_url_path(src) if scheme == "file" else src)
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


def _optional_str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str | int | float):
        text = str(value).strip()
        return text or None
    raise ValueError(f"expected text, got {type(value).__name__}")


def _is_url(value: Any) -> bool:
    return isinstance(value, str) and urllib.parse.urlsplit(value).scheme in ("http", "https")


def _file_url_path(url: str) -> str:
    return urllib.request.url2pathname(urllib.parse.urlsplit(url).path)


def document_base(src: str) -> str:
    """The ``base`` of a source: the URL itself, or the absolute local path."""
    if _is_url(src):
        return src
    if urllib.parse.urlsplit(src).scheme.lower() == "file":
        return str(Path(_file_url_path(src)).resolve())
    return str(Path(src).resolve())


def public_bucket_url(href: str) -> str | None:
    """The public https URL of an ``s3://`` or ``gs://`` object, or ``None`` for other schemes.

    OAM's processing records name their files as ``s3://oin-hotosm/…``; the
    same objects are served at ``https://oin-hotosm.s3.amazonaws.com/…``.
    """
    parts = urllib.parse.urlsplit(href)
    key = parts.path.lstrip("/")
    if not parts.netloc or not key:
        return None
    if parts.scheme == "s3":
        return f"https://{parts.netloc}.s3.amazonaws.com/{key}"
    if parts.scheme == "gs":
        return f"https://storage.googleapis.com/{parts.netloc}/{key}"
    return None


def resolve_href(base: str, href: Any) -> str:
    """An href of a catalog document as something to read: an http(s) URL or a local path.

    Relative hrefs are resolved against ``base`` (see the module docstring);
    without a base they are kept as given. ``s3://``/``gs://`` become their
    public https URLs. A document read over http(s) may only point at http(s)
    URLs: a remote catalog must never make the server read its local files.
    ``ValueError`` for anything else.
    """
    if not isinstance(href, str) or not href.strip():
        raise ValueError(f"href {href!r} is not a URL")
    href = href.strip()
    scheme = urllib.parse.urlsplit(href).scheme.lower()
    if scheme in ("http", "https"):
        return href
    bucket_url = public_bucket_url(href)
    if bucket_url is not None:
        return bucket_url
    if _is_url(base):
        if scheme:
            raise ValueError(f"href {href!r}: a remote catalog may only link http(s) URLs")
        return urllib.parse.urljoin(base, href)
    if scheme == "file":
        return _file_url_path(href)
    if scheme and len(scheme) != 1:  # one letter is a Windows drive
        raise ValueError(f"href {href!r}: unsupported URL scheme {scheme!r}")
    if not base or os.path.isabs(href):
        return href
    return os.path.normpath(os.path.join(os.path.dirname(base), urllib.parse.unquote(href)))


def href_file_stem(href: str) -> str:
    """The last path segment of a URL or path without its ``.tif``/``.tiff`` extension."""
    path = urllib.parse.urlsplit(href).path if _is_url(href) else href
    name = urllib.parse.unquote(path.rstrip("/").replace("\\", "/").rsplit("/", 1)[-1])
    for extension in (".tiff", ".tif"):
        if name.lower().endswith(extension) and len(name) > len(extension):
            return name[: -len(extension)]
    return name


# -- Ground sample distance -----------------------------------------------------------


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
    properties: Mapping[str, Any] | None = None,
) -> Image:
    """An :class:`Image` with its bbox derived from the footprint and its dates ordered."""
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
        properties=extra,
    )


# -- Progress on a terminal -----------------------------------------------------------


class Progress:
    """A one-line progress counter on stderr, drawn only when stderr is a terminal.

    Loading OAM's whole API (~180 pages) or the headers of a directory takes
    a while; an operator running ``oam-preview catalog`` wants to see it move.
    Servers and tests (no TTY) get nothing.
    """

    def __init__(self, label: str, total: int | None = None, stream: TextIO | None = None) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self._stream = stream if stream is not None else sys.stderr
        self._enabled = bool(getattr(self._stream, "isatty", lambda: False)())
        self._drawn_at = 0.0

    def update(self, step: int = 1, total: int | None = None) -> None:
        self.done += step
        if total is not None:
            self.total = total
        now = time.monotonic()
        if self._enabled and (now - self._drawn_at > 0.1 or self.done == self.total):
            self._drawn_at = now
            of = f"/{self.total}" if self.total else ""
            self._stream.write(f"\r{self.label}: {self.done}{of}")
            self._stream.flush()

    def close(self) -> None:
        if self._enabled and self.done:
            self._stream.write("\n")
            self._stream.flush()


# -- GeoJSON FeatureCollection and single Feature -----------------------------------


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
                raise TypeError("not a GeoJSON Feature")
            fid = feature.get("id")
            name = f"feature #{n} ({fid})" if fid is not None else name
            props = feature.get("properties")
            if not isinstance(props, dict):
                raise TypeError("no properties")
            if not isinstance(fid, str | int) or not ID_PATTERN.match(str(fid)):
                raise ValueError(f"id {fid!r} is not an id of [A-Za-z0-9._-], at most 128 characters")
            if not isinstance(props.get("source_url"), str) or not props["source_url"]:
                raise ValueError("no properties.source_url")
            yield _geojson_feature_image(feature, str(fid), props["source_url"], base)
        except (ValueError, TypeError) as exc:
            yield Skip(name, str(exc))


def is_geojson_feature(doc: Any) -> bool:
    """A lone GeoJSON Feature naming its GeoTIFF (OAM's tiler footprint files), not STAC."""
    return (
        isinstance(doc, dict)
        and doc.get("type") == "Feature"
        and "stac_version" not in doc
        and "assets" not in doc
        and isinstance(doc.get("properties"), dict)
        and any(isinstance(doc["properties"].get(k), str) for k in ("source_url", "url"))
    )


def load_geojson_feature(doc: dict[str, Any], base: str) -> Iterator[Record]:
    """One Feature: ``properties.source_url`` (or OAM's ``url``); id from ``id`` or the file name.

    OAM's tiler writes such a file per image, with ``resolution_in_meters``
    for the GSD and ``s3://`` URLs (read at their public https address).
    """
    props = doc["properties"]
    href = props.get("source_url") or props.get("url")
    fid = doc.get("id")
    name = str(fid) if fid is not None else str(href)
    try:
        if fid is None:
            fid = slugify(href_file_stem(str(props.get("filename") or href)))
        if not isinstance(fid, str | int) or not ID_PATTERN.match(str(fid)):
            raise ValueError(f"id {fid!r} is not an id of [A-Za-z0-9._-], at most 128 characters")
        yield _geojson_feature_image(doc, str(fid), href, base)
    except (ValueError, TypeError) as exc:
        yield Skip(name, str(exc))


def _geojson_feature_image(feature: dict[str, Any], fid: str, href: str, base: str) -> Image:
    props = feature["properties"]
    footprint = None
    if feature.get("geometry") is not None:
        footprint = footprint_from_geojson(feature["geometry"])
    elif feature.get("bbox") is not None:
        footprint = footprint_from_bbox(feature["bbox"])
    gsd = positive_number(props.get("gsd"), "gsd")
    if gsd is None:
        gsd = positive_number(props.get("resolution_in_meters"), "resolution_in_meters")
    return build_image(
        image_id=fid,
        source_url=resolve_href(base, href),
        title=_optional_str(props.get("title")),
        footprint=footprint,
        gsd=gsd,
        start=parse_datetime(props.get("acquisition_start")),
        end=parse_datetime(props.get("acquisition_end")),
        provider=_optional_str(props.get("provider")),
        license=_optional_str(props.get("license")),
        properties={k: v for k, v in props.items() if k not in ("url", "projection")},
    )


# -- Detection and loading ------------------------------------------------------------


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
    if not _is_url(src) and urllib.parse.urlsplit(src).scheme.lower() in ("", "file"):
        local = Path(_file_url_path(src) if src.lower().startswith("file:") else src)
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


# The format modules import the helpers above from this module, so they are
# imported here, at the end, once those names exist (the package's __init__
# always imports this module first).
from . import files, oam, stac  # noqa: E402

#: (predicate, loader) in the order they are tried; the first whose predicate holds reads it.
LOADERS: list[tuple[Callable[[Any], bool], Loader]] = [
    (oam.is_oam_api_response, oam.load_oam_api_response),
    (oam.is_oin_meta, oam.load_oin_meta),
    (stac.is_stac, stac.load_stac),
    (is_geojson_catalog, load_geojson),
    (is_geojson_feature, load_geojson_feature),
]
