"""The URLs the server emits and the GeoJSON Feature of an image (absolute, prefix and proxies honoured).

An image's URLs carry its file's version token as ``?v=<token>`` when it is
known (:meth:`~oam_preview.tiler.imagery.Imagery.current_version`): a request with
the current ``v`` may be cached for ever (see :mod:`oam_preview.web.responses`),
and a file that changes upstream gets new URLs.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from flask import request, url_for
from shapely.geometry import mapping

from ..catalog import Image
from ..geo.alignment import Offset
from ..geo.geometry import footprint_bbox
from ..tiler.imagery import Imagery
from ..tiler.rendering import DEFAULT, Rendering


def api_root() -> str:
    """Absolute URL of the blueprint's root, ending in ``/``."""
    return url_for(f"{request.blueprint}.index", _external=True)


def image_base(image: Image, root: str) -> str:
    return f"{root}api/images/{image.id}"


def tiles_url(base: str, scheme: str = "xyz", fmt: str = "png") -> str:
    """The tile URL template under ``base`` (an image's or the mosaic's): ``/tiles/{z}/{x}/{y}.png``
    for XYZ clients, ``{TileMatrix}/{TileCol}/{TileRow}`` for a WMTS ResourceURL."""
    z, x, y = ("{TileMatrix}", "{TileCol}", "{TileRow}") if scheme == "wmts" else ("{z}", "{x}", "{y}")
    return f"{base}/tiles/{z}/{x}/{y}.{fmt}"


def versioned(url: str, token: str | None, rendering: Rendering = DEFAULT) -> str:
    """``url`` (which has no query of its own) with ``rendering``'s canonical parameters and
    ``v=token``; as it is for the default rendering when ``token`` is None."""
    pairs = [*rendering.to_args(), *([("v", token)] if token else [])]
    return f"{url}?{urllib.parse.urlencode(pairs, safe=',')}" if pairs else url


def image_urls(
    image: Image, root: str, token: str | None = None, rendering: Rendering = DEFAULT
) -> dict[str, str]:
    """The thumbnail, TileJSON, XYZ template and WMTS URLs of ``image``, of version ``token``,
    shown as ``rendering`` asks."""
    base = image_base(image, root)
    return {
        "thumbnail": versioned(f"{base}/thumbnail.png", token, rendering),
        "tilejson": versioned(f"{base}/tilejson.json", token, rendering),
        "tiles": versioned(tiles_url(base), token, rendering),
        "wmts": versioned(f"{base}/WMTSCapabilities.xml", token, rendering),
    }


def wmts_tiles_url(image: Image, root: str, token: str | None = None, rendering: Rendering = DEFAULT) -> str:
    """The WMTS ResourceURL template of ``image``'s tiles, of version ``token``."""
    return versioned(tiles_url(image_base(image, root), "wmts"), token, rendering)


def feature(
    image: Image,
    root: str,
    token: str | None = None,
    rendering: Rendering = DEFAULT,
    imagery: Imagery | None = None,
) -> dict[str, Any]:
    """The GeoJSON Feature of API.md for one image; its URLs of version ``token``. With
    ``imagery``, placed by the image's alignment offset: the moved footprint, and ``offset``
    (``dx``, ``dy`` metres and ``source``) among the properties."""
    properties = image.feature_properties()
    properties.update(image_urls(image, root, token, rendering))
    offset: Offset | None = imagery.offset(image) if imagery is not None else None
    footprint = imagery.placed_footprint(image) if imagery is not None and offset else image.footprint
    if offset is not None:
        properties["offset"] = offset.to_dict()
    doc: dict[str, Any] = {
        "type": "Feature",
        "id": image.id,
        "geometry": mapping(footprint) if footprint is not None else None,
        "properties": properties,
    }
    bbox = footprint_bbox(footprint) if offset is not None and footprint is not None else image.bbox
    if bbox is not None:
        doc["bbox"] = list(bbox)
    return doc


def page_link(rel: str, args: dict[str, str], offset: int) -> dict[str, str]:
    """A ``next``/``prev`` link of the listing: the same query at another ``offset``."""
    return page_link_to("images", rel, args, offset)


def page_link_to(endpoint: str, rel: str, args: dict[str, str], offset: int) -> dict[str, str]:
    """A ``next``/``prev`` link of a paged GeoJSON route (the view named ``endpoint``): the same
    query at another ``offset``."""
    href = url_for(f"{request.blueprint}.{endpoint}", _external=True, **{**args, "offset": str(offset)})
    return {"rel": rel, "href": href, "type": "application/geo+json"}
