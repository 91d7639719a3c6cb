"""The URLs the server emits and the GeoJSON Feature of an image (absolute, prefix and proxies honoured)."""

from __future__ import annotations

from typing import Any

from flask import request, url_for
from shapely.geometry import mapping

from .catalog import Image


def api_root() -> str:
    """Absolute URL of the blueprint's root, ending in ``/``."""
    return url_for(f"{request.blueprint}.index", _external=True)


def image_base(image: Image, root: str) -> str:
    return f"{root}api/images/{image.id}"


def image_urls(image: Image, root: str) -> dict[str, str]:
    """The thumbnail, TileJSON, XYZ template and WMTS URLs of ``image``."""
    base = image_base(image, root)
    return {
        "thumbnail": f"{base}/thumbnail.png",
        "tilejson": f"{base}/tilejson.json",
        "tiles": f"{base}/tiles/{{z}}/{{x}}/{{y}}.png",
        "wmts": f"{base}/WMTSCapabilities.xml",
    }


def wmts_tiles_url(image: Image, root: str) -> str:
    """The WMTS ResourceURL template of ``image``'s tiles."""
    return f"{image_base(image, root)}/tiles/{{TileMatrix}}/{{TileCol}}/{{TileRow}}.png"


def feature(image: Image, root: str) -> dict[str, Any]:
    """The GeoJSON Feature of API.md for one image."""
    properties = image.feature_properties()
    properties.update(image_urls(image, root))
    doc: dict[str, Any] = {
        "type": "Feature",
        "id": image.id,
        "geometry": mapping(image.footprint) if image.footprint is not None else None,
        "properties": properties,
    }
    if image.bbox is not None:
        doc["bbox"] = list(image.bbox)
    return doc


def page_link(rel: str, args: dict[str, str], offset: int) -> dict[str, str]:
    """A ``next``/``prev`` link of the listing: the same query at another ``offset``."""
    href = url_for(f"{request.blueprint}.images", _external=True, **{**args, "offset": str(offset)})
    return {"rel": rel, "href": href, "type": "application/geo+json"}
