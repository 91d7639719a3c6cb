"""The mosaic's views (API.md "Mosaic"): tiles, TileJSON and WMTS of the images a query selects.

Listed in :data:`oam_preview.web.views.ROUTES`. The query is the listing's
(:class:`~oam_preview.catalog.query.ImageQuery`) with ``order=newest`` by
default; every URL the documents emit carries it in canonical form.
"""

from __future__ import annotations

import json
import urllib.parse

from flask import Response, request

from ..cache.entry import CachedResponse
from ..catalog.query import ImageQuery
from ..tiler.ogc import tilejson, wmts_capabilities
from ..tiler.render import encode
from ..tiler.renders import AS_CATALOG_SAYS, Asked, compose
from ..tiler.selection import Selection
from .capture import capture_headers
from .links import api_root, tiles_url
from .responses import Uncacheable, cached_response, document, etag_of, json_response
from .services import current
from .tile_path import lonlat, tile_address

#: The title of the mosaic layer in its documents.
LAYER_TITLE = "oam-preview: all imagery"


def selection() -> Selection:
    """The selection of this request's query in the current catalog."""
    services = current()
    query = ImageQuery.from_args(request.args, default_order="newest")
    return services.mosaic.selection(services.store.catalog, query)


def mosaic_urls(selection: Selection, rendering: Asked = AS_CATALOG_SAYS) -> dict[str, str]:
    """The XYZ template, TileJSON and WMTS URLs of a selection's mosaic (its canonical query, the
    render asked and the request's rendering parameters: each image resolves them its own way,
    its render hints being part of the selection)."""
    base = f"{api_root()}api/mosaic"
    named = [("render", rendering.render)] if rendering.render else []
    pairs = [*selection.query.to_args().items(), *named, *rendering.params]
    query = "?" + urllib.parse.urlencode(pairs, safe=",")
    return {
        "tiles": tiles_url(base) + query,
        "wmts_tiles": tiles_url(base, "wmts") + query,
        "tilejson": f"{base}/tilejson.json{query}",
        "wmts": f"{base}/WMTSCapabilities.xml{query}",
    }


def mosaic_tile(z: str, x: str, name: str) -> Response:
    t = tile_address(z, x, name)
    rendering = Asked.from_args(request.args)
    # The request's own algorithm decides the encoding (terrainrgb and terrarium: PNG only):
    # its parameters as one rendering, composed once per spelling (not parsed again).
    fmt = compose(None, rendering).output_format(t.fmt)
    chosen = selection()
    mosaic = current().mosaic

    plan = mosaic.plan(chosen, t.z, t.x, t.y)  # a tile that shows nothing: its error, now

    def render() -> CachedResponse:
        result = mosaic.tile(chosen, plan, t.size, rendering)
        body, media_type = encode(result.pixels, fmt)
        headers = (
            ("X-Mosaic-Images", ", ".join(result.images)),
            ("X-Mosaic-Coverage", str(result.coverage)),
            # Of the images that gave pixels, as this render found them: kept with the body.
            *capture_headers(i for i in map(chosen.catalog.get, result.images) if i is not None),
        )
        entry = CachedResponse(body, media_type, etag_of(body), headers)
        if result.failed:
            raise Uncacheable(entry)
        return entry

    def learnt_key() -> str:
        return mosaic.key(chosen, plan, t.size, fmt, rendering)

    return cached_response(mosaic.key(chosen, plan, t.size, fmt, rendering), render, learnt_key=learnt_key)


def mosaic_point(coordinates: str) -> Response:
    """``/api/mosaic/point/{lon},{lat}``: the image that gives the first valid pixel there, in the
    query's order, and its values (API.md "Mosaic point")."""
    lon, lat = lonlat(coordinates)
    rendering = Asked.from_args(request.args)
    doc = current().mosaic.point(selection(), lon, lat, rendering)
    response = json_response(doc)
    response.headers["Cache-Control"] = "no-store"  # as an image's point: cheap, not worth keeping
    return response


def mosaic_tilejson() -> Response:
    rendering = Asked.from_args(request.args)
    chosen = selection()
    doc = tilejson(chosen.layer(LAYER_TITLE), mosaic_urls(chosen, rendering)["tiles"])
    return document(json.dumps(doc), "application/json")


def mosaic_wmts() -> Response:
    rendering = Asked.from_args(request.args)
    chosen = selection()
    urls = mosaic_urls(chosen, rendering)
    return document(
        wmts_capabilities(chosen.layer(LAYER_TITLE), urls["wmts_tiles"], urls["wmts"]), "application/xml"
    )
