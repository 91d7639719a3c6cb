"""The footprint tiles' views (API.md "Footprint tiles"): MVT tiles and their TileJSON.

Listed in :data:`oam_preview.web.views.ROUTES`. The query is the listing's
(:class:`~oam_preview.catalog.query.ImageQuery`, ``order=catalog`` by
default); the TileJSON's tile URL carries it in canonical form.
"""

from __future__ import annotations

import json
import urllib.parse

from flask import Response, request

from ..cache.entry import CachedResponse
from ..catalog.query import ImageQuery
from ..errors import BadRequest, ZoomOutOfRange
from ..geo.mercator import WORLD
from ..tiler.footprint_tiles import (
    LAYER,
    MAXZOOM,
    MEDIA_TYPE,
    MINZOOM,
    VECTOR_LAYERS,
    FootprintSet,
    encode_tile,
)
from ..tiler.ogc import TiledLayer, tilejson
from . import access
from .links import api_root
from .responses import cached_response, document, etag_of
from .services import current
from .tile_path import on_grid, tile_name

LAYER_TITLE = "oam-preview: image footprints"


def footprint_set() -> tuple[FootprintSet, access.Scope]:
    """The footprints of this request's query in the current catalog, with the private images
    its API token (or signed URL) allows, and that scope."""
    services = current()
    query = ImageQuery.from_args(request.args)
    scope = access.selection_scope(services.access, access.FOOTPRINTS)
    footprints = services.footprints.footprints(services.store.catalog, query, scope.allowed)
    access.shown(footprints.selection.marked)
    return footprints, scope


def tile_zxy(z: str, x: str, name: str) -> tuple[int, int, int]:
    """``z/x/y`` of a ``/api/footprints/{z}/{x}/{y}.mvt`` path: 400 when malformed or off the
    zoom's grid, 404 past :data:`~oam_preview.tiler.footprint_tiles.MAXZOOM`."""
    usage = "footprint tiles are /api/footprints/{z}/{x}/{y}.mvt with whole numbers"
    t = tile_name(z, x, name, usage)
    if t.ext != "mvt" or t.retina:
        raise BadRequest(usage)
    if t.z > MAXZOOM:
        raise ZoomOutOfRange(f"footprint tiles go from zoom {MINZOOM} to {MAXZOOM}; clients overzoom")
    on_grid(t)
    return t.z, t.x, t.y


def footprint_tile(z: str, x: str, name: str) -> Response:
    zi, xi, yi = tile_zxy(z, x, name)
    footprints, _ = footprint_set()

    def render() -> CachedResponse:
        body = encode_tile(footprints, zi, xi, yi)
        return CachedResponse(body, MEDIA_TYPE, etag_of(body))

    return cached_response(current().footprints.key(footprints, zi, xi, yi), render)


def footprints_tilejson() -> Response:
    """TileJSON 3.0.0 with ``vector_layers``; bounds are the selected images' (the world when
    none is selected: an empty layer is still a layer)."""
    footprints, scope = footprint_set()
    selection = footprints.selection
    bounds = selection.layer(LAYER_TITLE).bounds if selection.images else WORLD
    layer = TiledLayer(LAYER, LAYER_TITLE, None, bounds, MINZOOM, MAXZOOM)
    query = urllib.parse.urlencode(selection.query.to_args())
    url = f"{api_root()}api/footprints/{{z}}/{{x}}/{{y}}.mvt?{query}"
    url = access.signed_selection(current().access, url, access.FOOTPRINTS, scope, selection.marked)
    doc = tilejson(layer, url)
    doc["vector_layers"] = list(VECTOR_LAYERS)
    return document(json.dumps(doc), "application/json")
