"""The mosaic's views (API.md "Mosaic"): tiles, TileJSON and WMTS of the images a query selects.

Listed in :data:`oam_preview.web.views.ROUTES`. The query is the listing's
(:class:`~oam_preview.catalog.query.ImageQuery`) with ``order=newest`` by
default; every URL the documents emit carries it in canonical form.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Mapping

from flask import Response, request

from ..catalog.query import ImageQuery
from ..tiler import tile_bodies
from ..tiler.ogc import tilejson, wmts_capabilities
from ..tiler.renders import AS_CATALOG_SAYS, Asked
from ..tiler.selection import LAYER_TITLE, Selection
from . import access
from .links import api_root, tiles_url
from .responses import conditional, document, json_response
from .services import current
from .tile_path import lonlat, tile_address


def scoped_selection(args: Mapping[str, str], scope: access.Scope) -> Selection:
    """The mosaic's selection of the query ``args`` in the current catalog, with the private
    images ``scope`` allows (an answer showing one is ``Cache-Control: private``)."""
    services = current()
    query = ImageQuery.from_args(args, default_order="newest")
    chosen = services.mosaic.selection(services.store.catalog, query, scope.allowed)
    access.shown(chosen.marked)
    return chosen


def selection() -> tuple[Selection, access.Scope]:
    """The selection of this request's query and the scope of its token or signed URL."""
    scope = access.selection_scope(current().access, access.MOSAIC)
    return scoped_selection(request.args, scope), scope


def mosaic_urls(
    selection: Selection, rendering: Asked = AS_CATALOG_SAYS, scope: access.Scope | None = None
) -> dict[str, str]:
    """The XYZ template, TileJSON and WMTS URLs of a selection's mosaic (its canonical query, the
    render asked and the request's rendering parameters: each image resolves them its own way,
    its render hints being part of the selection); signed for ``scope``'s token when the
    selection holds a private image (:func:`oam_preview.web.access.signed_selection`)."""
    base = f"{api_root()}api/mosaic"
    named = [("render", rendering.render)] if rendering.render else []
    pairs = [*selection.query.to_args().items(), *named, *rendering.params]
    query = "?" + urllib.parse.urlencode(pairs, safe=",")
    urls = {
        "tiles": tiles_url(base) + query,
        "wmts_tiles": tiles_url(base, "wmts") + query,
        "tilejson": f"{base}/tilejson.json{query}",
        "wmts": f"{base}/WMTSCapabilities.xml{query}",
    }
    if scope is None:
        return urls
    rules = current().access
    return {
        name: access.signed_selection(rules, url, access.MOSAIC, scope, selection.marked)
        for name, url in urls.items()
    }


def mosaic_tile(z: str, x: str, name: str) -> Response:
    t = tile_address(z, x, name)
    rendering = Asked.from_args(request.args)
    chosen, _ = selection()
    body = tile_bodies.mosaic_tile(current(), chosen, (t.z, t.x, t.y), t.size, t.fmt, rendering)
    return conditional(body.entry, "default" if body.stored else "no-store")


def mosaic_point(coordinates: str) -> Response:
    """``/api/mosaic/point/{lon},{lat}``: the image that gives the first valid pixel there, in the
    query's order, and its values (API.md "Mosaic point")."""
    lon, lat = lonlat(coordinates)
    rendering = Asked.from_args(request.args)
    doc = current().mosaic.point(selection()[0], lon, lat, rendering)
    response = json_response(doc)
    response.headers["Cache-Control"] = "no-store"  # as an image's point: cheap, not worth keeping
    return response


def mosaic_tilejson() -> Response:
    rendering = Asked.from_args(request.args)
    chosen, scope = selection()
    doc = tilejson(chosen.layer(LAYER_TITLE), mosaic_urls(chosen, rendering, scope)["tiles"])
    return document(json.dumps(doc), "application/json")


def mosaic_wmts() -> Response:
    rendering = Asked.from_args(request.args)
    chosen, scope = selection()
    urls = mosaic_urls(chosen, rendering, scope)
    return document(
        wmts_capabilities(chosen.layer(LAYER_TITLE), urls["wmts_tiles"], urls["wmts"]), "application/xml"
    )
