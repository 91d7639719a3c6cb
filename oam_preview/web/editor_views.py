"""The imagery index (API.md "Imagery index for editors"): the listing's images as editors' lists.

``/api/imagery/index.geojson`` (editor-layer-index GeoJSON: iD, Vespucci) and
``/api/imagery/josm.xml`` (JOSM's ``<imagery>``) take the listing's query, page
and order (:class:`~oam_preview.catalog.query.ImageQuery`, ``limit``/``offset``)
and its rendering options; ``mosaic=1`` adds the mosaic of the query as one
more entry. Tile URLs carry the version tokens this worker knows, as the
listing's do (no upstream request per image). The documents are built by
:mod:`oam_preview.tiler.editor_index`.
"""

from __future__ import annotations

import hashlib
import json

from flask import Response, request

from ..catalog.query import ImageQuery, page_from_args
from ..errors import BadRequest, NotFound
from ..geo.geometry import bbox_geometry, normalize_footprint
from ..tiler.editor_index import (
    ID_PREFIX,
    IndexEntry,
    dates_of,
    eli_collection,
    image_entry,
    josm_imagery,
)
from ..tiler.renders import Asked
from . import access
from .links import api_root, image_urls, page_link_to
from .mosaic_views import LAYER_TITLE, mosaic_urls, scoped_selection
from .responses import document
from .services import current


def wants_mosaic() -> bool:
    """``mosaic=1`` (or ``true``): add the mosaic of the query; ``0``/``false``/absent: not."""
    raw = (request.args.get("mosaic") or "0").strip().lower()
    if raw not in ("0", "1", "true", "false"):
        raise BadRequest(f"mosaic must be 1 or 0, not {raw[:20]!r}")
    return raw in ("1", "true")


def index_entries() -> tuple[list[IndexEntry], int, int, int]:
    """The entries of this request's query and page (images without a footprint left out),
    the mosaic's first when asked; and the number matched, the limit and the offset."""
    services = current()
    limit, offset = page_from_args(request.args)
    rendering = Asked.from_args(request.args)
    query = ImageQuery.from_args(request.args)
    scope = access.bearer_scope(services.access)  # a token's private images too, their URLs signed
    result = services.store.catalog.search(query, limit, offset, scope.allowed)
    access.shown(result.images)
    root, imagery, settings = api_root(), services.imagery, services.settings
    best = settings.best_ids()
    entries = [mosaic_entry(query, rendering, scope)] if wants_mosaic() else []
    for image in result.images:
        render, shown = imagery.pick(image, rendering, read=False)
        named = render if rendering.render is not None else None
        tiles = image_urls(image, root, imagery.known_version(image).token, shown, named)["tiles"]
        tiles = access.signed(services.access, tiles, image)  # JOSM, iD: no header
        entry = image_entry(
            image,
            tiles,
            imagery.known_info(image),
            image.id in best,
            settings.privacy_policy_url or None,
            footprint=imagery.placed_footprint(image),
        )
        if entry is not None:
            entries.append(entry)
    return entries, result.matched, limit, offset


def mosaic_entry(query: ImageQuery, rendering: Asked, scope: access.Scope) -> IndexEntry:
    """The mosaic of ``query`` (the mosaic's default order, ``newest``, unless asked) as one
    entry: the bbox of its images, their dates, zooms 0 to the finest of them; with the private
    images ``scope`` allows, its URL then signed."""
    services = current()
    args = {**request.args.to_dict(), "order": request.args.get("order") or "newest"}
    chosen = scoped_selection(args, scope)
    try:
        layer = chosen.layer(LAYER_TITLE)
    except NotFound:
        raise NotFound("mosaic=1: the query selects no image with a footprint") from None
    footprint = normalize_footprint(bbox_geometry(layer.bounds))
    assert footprint is not None  # the union of footprints of area > 0
    start, end = dates_of(chosen.images)
    digest = hashlib.blake2b(json.dumps(chosen.query.to_args()).encode(), digest_size=5).hexdigest()
    return IndexEntry(
        id=f"{ID_PREFIX}mosaic-{digest}",
        name=LAYER_TITLE,
        url=mosaic_urls(chosen, rendering, scope)["tiles"].replace("{z}", "{zoom}"),
        footprint=footprint,
        min_zoom=layer.minzoom,
        max_zoom=layer.maxzoom,
        start_date=start,
        end_date=end,
        attribution_text=layer.attribution,
        privacy_policy_url=services.settings.privacy_policy_url or None,
    )


def imagery_index() -> Response:
    """``GET /api/imagery/index.geojson``: editor-layer-index GeoJSON with the listing's
    ``numberMatched`` and ``links``."""
    entries, matched, limit, offset = index_entries()
    links = [{"rel": "self", "href": request.url, "type": "application/geo+json"}]
    args = request.args.to_dict()
    if offset + limit < matched and limit > 0:
        links.append(page_link_to("imagery_index", "next", args, offset + limit))
    if offset > 0:
        links.append(page_link_to("imagery_index", "prev", args, max(0, offset - limit)))
    doc = eli_collection(entries, numberMatched=matched, links=links)
    return document(json.dumps(doc), "application/geo+json")


def josm_index() -> Response:
    """``GET /api/imagery/josm.xml``: JOSM's imagery list (``imagery.layers.sites``)."""
    entries, _, _, _ = index_entries()
    return document(josm_imagery(entries), "application/xml")
