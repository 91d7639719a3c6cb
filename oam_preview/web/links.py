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
from ..errors import OamPreviewError
from ..geo.alignment import Offset
from ..geo.geometry import footprint_bbox
from ..tiler.imagery import Imagery
from ..tiler.rendering import DEFAULT, Rendering
from ..tiler.renders import DEFAULT_NAMES, Asked, Render, catalog_renders


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


def versioned(
    url: str, token: str | None, rendering: Rendering = DEFAULT, render: Render | None = None
) -> str:
    """``url`` (which has no query of its own) with ``render``'s name when it is not the
    image's default one, ``rendering``'s canonical parameters (the render's resolved fields:
    a changed render, a new URL) and ``v=token``; as it is for the default rendering when
    ``token`` is None."""
    named = [("render", render.name)] if render is not None else []
    pairs = [*named, *rendering.to_args(), *([("v", token)] if token else [])]
    return f"{url}?{urllib.parse.urlencode(pairs, safe=',')}" if pairs else url


def image_urls(
    image: Image,
    root: str,
    token: str | None = None,
    rendering: Rendering = DEFAULT,
    render: Render | None = None,
) -> dict[str, str]:
    """The thumbnail, TileJSON, XYZ template and WMTS URLs of ``image``, of version ``token``,
    shown as ``rendering`` asks (``render``: named, the one it resolves)."""
    base = image_base(image, root)
    return {
        "thumbnail": versioned(f"{base}/thumbnail.png", token, rendering, render),
        "tilejson": versioned(f"{base}/tilejson.json", token, rendering, render),
        "tiles": versioned(tiles_url(base), token, rendering, render),
        "wmts": versioned(f"{base}/WMTSCapabilities.xml", token, rendering, render),
    }


def wmts_tiles_url(
    image: Image,
    root: str,
    token: str | None = None,
    rendering: Rendering = DEFAULT,
    render: Render | None = None,
) -> str:
    """The WMTS ResourceURL template of ``image``'s tiles, of version ``token``."""
    return versioned(tiles_url(image_base(image, root), "wmts"), token, rendering, render)


def render_entries(image: Image, root: str, token: str | None, imagery: Imagery) -> dict[str, Any]:
    """The Feature's ``renders`` (each render's title, origin, zooms and URLs, the default one
    first), ``default_render`` and ``product_type``/``product_type_source``, from what this
    worker knows of the file (nothing when it is not described yet: the catalog's renders)."""
    info = imagery.known_info(image)
    if info is not None:
        found = imagery.renders(image, info)
        renders, default = dict(found.renders), found.default
        extra: dict[str, Any] = {
            "product_type": found.product_type,
            "product_type_source": found.product_type_source,
        }
    else:
        renders = dict(catalog_renders(image.renders)[0])
        default = next((n for n in DEFAULT_NAMES if n in renders), "")
        extra = {}
    ordered = sorted(renders.values(), key=lambda r: r.name != default)
    entries = []
    for render in ordered:
        try:
            rendering = imagery.rendering(image, Asked(render.name), read=False)
        except OamPreviewError:  # a render whose fields clash with nothing asked: cannot happen
            continue
        urls = image_urls(image, root, token, rendering, render)
        entry: dict[str, Any] = {"name": render.name, "title": render.title, "origin": render.origin}
        if render.minmax_zoom is not None:
            entry["minmax_zoom"] = list(render.minmax_zoom)
        entry.update(
            tilejson=urls["tilejson"], tiles=urls["tiles"], thumbnail=urls["thumbnail"], wmts=urls["wmts"]
        )
        entries.append(entry)
    return {"renders": entries, "default_render": default or None, **extra}


def feature(
    image: Image,
    root: str,
    token: str | None = None,
    rendering: Asked | Rendering = DEFAULT,
    imagery: Imagery | None = None,
    picked: tuple[Render | None, Rendering] | None = None,
) -> dict[str, Any]:
    """The GeoJSON Feature of API.md for one image; its URLs of version ``token``, drawn as
    ``rendering`` asks (the image's default render, with a request's parameters over it), or
    as ``picked`` when the request resolved it already (the render its URLs name, ``None`` for
    the default one, and the rendering). With ``imagery``, its renders
    (:func:`render_entries`), and placed by the image's alignment offset: the moved
    footprint, and ``offset`` (``dx``, ``dy`` metres and ``source``) among the properties."""
    properties = image.feature_properties()
    if imagery is not None:
        if picked is None:
            render, shown = imagery.pick(image, rendering, read=False)
            named = isinstance(rendering, Asked) and rendering.render is not None
            picked = (render if named else None, shown)
        properties.update(image_urls(image, root, token, picked[1], picked[0]))
        properties.update(render_entries(image, root, token, imagery))
    else:
        shown = rendering if isinstance(rendering, Rendering) else DEFAULT
        properties.update(image_urls(image, root, token, shown))
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
