"""GeoJSON catalogs: API.md's FeatureCollection with ``properties.source_url``, and a lone
Feature naming its GeoTIFF (OAM's tiler footprint files)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .fetch import href_file_stem, resolve_href
from .model import ID_PATTERN, Image, slugify
from .records import (
    Record,
    Skip,
    build_image,
    feature_footprint,
    optional_str,
    parse_datetime,
    positive_number,
)


def is_geojson_catalog(doc: Any) -> bool:
    """A FeatureCollection at least one of whose features names ``properties.source_url``."""
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
            check_id(fid)
            if not isinstance(props.get("source_url"), str) or not props["source_url"]:
                raise ValueError("no properties.source_url")
            yield feature_image(feature, str(fid), props["source_url"], base)
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
        check_id(fid)
        yield feature_image(doc, str(fid), href, base)
    except (ValueError, TypeError) as exc:
        yield Skip(name, str(exc))


def check_id(fid: Any) -> None:
    """``ValueError`` unless ``fid`` is an id of API.md's alphabet (a number counts as its text)."""
    if not isinstance(fid, str | int) or not ID_PATTERN.match(str(fid)):
        raise ValueError(f"id {fid!r} is not an id of [A-Za-z0-9._-], at most 128 characters")


def feature_image(feature: dict[str, Any], fid: str, href: str, base: str) -> Image:
    """The image of one Feature whose id and GeoTIFF href are already known."""
    props = feature["properties"]
    footprint = feature_footprint(feature)
    gsd = positive_number(props.get("gsd"), "gsd")
    if gsd is None:
        gsd = positive_number(props.get("resolution_in_meters"), "resolution_in_meters")
    return build_image(
        image_id=fid,
        source_url=resolve_href(base, href),
        title=optional_str(props.get("title")),
        footprint=footprint,
        gsd=gsd,
        start=parse_datetime(props.get("acquisition_start")),
        end=parse_datetime(props.get("acquisition_end")),
        provider=optional_str(props.get("provider")),
        license=optional_str(props.get("license")),
        platform=props["platform"] if isinstance(props.get("platform"), str) else None,
        properties={k: v for k, v in props.items() if k not in ("url", "projection")},
    )
