"""The view functions of API.md's routes; :mod:`oam_preview.web.blueprint` lists them in one table.

Each view reads the services of its blueprint (:func:`~oam_preview.web.services.current`),
parses its input (:mod:`~oam_preview.web.tile_path`), and answers through
:mod:`~oam_preview.web.responses`. No view touches the Opener: pixels, versions and
cache keys come from :class:`~oam_preview.tiler.imagery.Imagery`.

Versions: the URLs a view emits carry the image's version token (``?v=``); the
image routes answer a request whose ``v`` is the current token ``immutable``.
A listing uses the versions this worker already knows (no upstream request per
image); one image's Feature, its TileJSON and WMTS and its pixels recheck the
file when due (its first use: one HEAD), once per request: an image route starts with
:func:`~oam_preview.web.image_request.resolve` (the image, its version, its rendering, the
cache policy) and gives that version to every read.
"""

from __future__ import annotations

import json
import os
from typing import Any

from flask import Response, current_app, render_template, request, send_from_directory
from jinja2 import TemplateNotFound

from .. import __version__
from ..catalog.query import ImageQuery, page_from_args
from ..errors import NotFound
from ..tiler.capture import capture_headers
from ..tiler.json_colormap import JsonColormap
from ..tiler.ogc import image_layer, render_layer, tilejson, wmts_capabilities
from ..tiler.render import encode
from ..tiler.rendering import colormap_lut, colormap_names
from ..tiler.renders import AS_CATALOG_SAYS, Asked
from ..tiler.tile_bodies import image_tile
from . import (
    access,
    editor_views,
    export_views,
    feed_views,
    footprint_views,
    metrics,
    mosaic_views,
    report_views,
)
from .image_request import resolve
from .links import api_root, feature, image_urls, page_link, wmts_tiles_url
from .responses import cached_image, conditional, document, json_response
from .services import current
from .tile_path import THUMBNAIL_SIZES, lonlat, output_format, query_int, tile_address

#: The page's Content-Security-Policy: its own scripts only; tiles and thumbnails from anywhere.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src * data: blob:; connect-src 'self'; frame-ancestors 'self'; base-uri 'none'"
)


def index() -> Response:
    """The map page."""
    settings = current().settings
    root = api_root()
    page = {
        "api_root": root.rstrip("/"),
        "images_url": root + "api/images",
        "mosaic_tilejson_url": root + "api/mosaic/tilejson.json",
        "mosaic_wmts_url": root + "api/mosaic/WMTSCapabilities.xml",
        "basemap_url": settings.basemap_url,
        "basemap_attribution": settings.basemap_attribution,
        "josm_remote_url": settings.josm_remote_control,
        # Shipped with the app: the base map when basemap_url is "" or its tiles fail.
        "offline_basemap_url": root + "static/vendor/world-atlas/countries-110m.json",
        "version": __version__,
    }
    return page_response("oam_preview/index.html", page, root)


def report_page() -> Response:
    """The catalog's health report as a sortable table: the page asks each image's report."""
    root = api_root()
    page = {
        "api_root": root.rstrip("/"),
        "images_url": root + "api/images",
        "map_url": root,
        "version": __version__,
    }
    return page_response("oam_preview/report.html", page, root)


def page_response(template: str, page: dict[str, Any], root: str) -> Response:
    """An HTML page of ``template`` with its settings ``page`` (JSON data, never code), under the
    page's Content-Security-Policy."""
    try:
        html = render_template(template, page=page)
    except TemplateNotFound:  # installed without its data files: still a usable answer
        html = f"<!doctype html><title>oam-preview</title><p>oam-preview: <a href='{root}api/images'>images</a></p>"
    response = current_app.response_class(html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = PAGE_CSP
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def leaflet(filename: str) -> Response:
    """Leaflet's files, from the XStatic-Leaflet package (the page works offline)."""
    from xstatic.pkg import leaflet as xleaflet

    return send_from_directory(xleaflet.BASE_DIR, filename, max_age=86400)


def healthz() -> Response:
    services = current()
    return json_response(
        {
            "status": "ok",
            "version": __version__,
            # With the catalog's render hints: used, and skipped with why (API.md "Renders").
            "catalog": {
                **services.store.status().to_dict(),
                "renders": services.imagery.render_report.status(),
            },
            "cache": services.cache.stats(),
            # Refused reads by host: catalog records pointing where OAM_PREVIEW_UPSTREAM_ALLOW forbids.
            "upstream": {**services.opener.guard.status(), "forbidden": services.opener.policy.refused()},
            "worker": {  # what the gunicorn hooks did in this worker, and its share of GDAL's caches
                "pid": os.getpid(),
                **metrics.WORKER,
                "gdal_cache_mb": services.opener.gdal_cache_bytes / 2**20,
            },
            "mosaic": {
                "tiles_rendered": services.mosaic.rendered,
                "image_failures": services.mosaic.failures,
            },
        }
    )


def images() -> Response:
    """The listing: a GeoJSON FeatureCollection of the images matching the query, paged."""
    limit, offset = page_from_args(request.args)
    imagery = current().imagery
    rules = current().access
    scope = access.bearer_scope(rules)  # a token's private images too, their URLs signed
    result = current().store.catalog.search(ImageQuery.from_args(request.args), limit, offset, scope.allowed)
    access.shown(result.images)
    root = api_root()
    links = [{"rel": "self", "href": request.url, "type": "application/geo+json"}]
    args = request.args.to_dict()
    if offset + len(result.images) < result.matched and limit > 0:
        links.append(page_link("next", args, offset + limit))
    if offset > 0:
        links.append(page_link("prev", args, max(0, offset - limit)))
    return json_response(
        {
            "type": "FeatureCollection",
            "numberMatched": result.matched,
            "numberReturned": len(result.images),
            "features": [
                access.signed(rules, feature(i, root, imagery.known_version(i).token, imagery=imagery), i)
                for i in result.images
            ],
            "links": links,
        },
        media_type="application/geo+json",
    )


def image(image_id: str) -> Response:
    """One Feature; its URLs carry the file's version (a HEAD at its first use, never an error),
    its renders and product type its file's description (read once per worker and version;
    an image whose file cannot be read has its catalog's renders only)."""
    resolved = resolve(image_id, reads=False)  # a Feature is the catalog's: its tiles say what is wrong
    doc = feature(
        resolved.image,
        api_root(),
        resolved.token,
        imagery=current().imagery,
        picked=(resolved.named, resolved.rendering),
    )
    doc = access.signed(current().access, doc, resolved.image)
    return json_response(doc, media_type="application/geo+json")


def thumbnail(image_id: str, fmt: str) -> Response:
    max_size = query_int("max_size", 256, *THUMBNAIL_SIZES)
    resolved = resolve(image_id)
    imagery, item, version, rendering = (
        current().imagery,
        resolved.image,
        resolved.version,
        resolved.rendering,
    )
    fmt = rendering.output_format(output_format(fmt))
    key = imagery.thumbnail_key(item, max_size, fmt, version, rendering)
    return cached_image(
        key,
        lambda: encode(imagery.thumbnail(item, max_size, rendering, version=version), fmt),
        resolved.policy,
    )


def tile(image_id: str, z: str, x: str, name: str) -> Response:
    t = tile_address(z, x, name)
    resolved = resolve(image_id)
    item = resolved.image
    body = image_tile(current(), item, resolved.version, resolved.rendering, (t.z, t.x, t.y), t.size, t.fmt)
    response = conditional(body.entry, resolved.policy)
    # From the record, not kept with the body: a corrected record shows at once.
    response.headers.extend(capture_headers([item]))
    return response


def point(image_id: str, coordinates: str) -> Response:
    """``/point/{lon},{lat}``: every band's value there (API additions, "Point values")."""
    lon, lat = lonlat(coordinates)
    resolved = resolve(image_id)
    doc = current().imagery.point(resolved.image, lon, lat, resolved.rendering, version=resolved.version)
    response = json_response({"id": resolved.image.id, **doc})
    response.headers["Cache-Control"] = "no-store"  # one pixel: cheap, and not worth a cache entry
    return response


def statistics(image_id: str) -> Response:
    """Per-band statistics of an overview read (API additions, "Statistics")."""
    resolved = resolve(image_id)
    found = current().imagery.statistics(resolved.image, resolved.rendering, version=resolved.version)
    return document(json.dumps({"id": resolved.image.id, **found}), "application/json", resolved.policy)


def colormaps() -> Response:
    """The names ``colormap_name`` accepts; with ``?colormap=`` (JSON), that colormap's legend."""
    texts = request.args.getlist("colormap")
    if texts:
        return document(json.dumps(JsonColormap.parse(texts[-1]).legend()), "application/json")
    return document(json.dumps({"colormaps": sorted(colormap_names())}), "application/json")


def colormap(name: str) -> Response:
    """One colormap's 256 stops ``[value, [r, g, b, a]]``: a legend for a page."""
    if name.lower() not in colormap_names():
        raise NotFound(f"no colormap {name[:40]!r}: see /api/colormaps")
    lut = colormap_lut(name.lower())
    doc = {"name": name.lower(), "stops": [[i, lut[i].tolist()] for i in range(256)]}
    return document(json.dumps(doc), "application/json")


def tilejson_doc(image_id: str) -> Response:
    """TileJSON whose ``tiles`` carry the file's current version: a changed file, new URLs."""
    resolved = resolve(image_id)
    item = resolved.image
    info = current().imagery.tiled_info(item, version=resolved.version)
    layer = render_layer(image_layer(item, info), resolved.render)
    doc = tilejson(
        layer, image_urls(item, api_root(), resolved.token, resolved.rendering, resolved.named)["tiles"]
    )
    doc = access.signed(current().access, doc, item)
    return document(json.dumps(doc), "application/json", resolved.policy)


def wmts(image_id: str) -> Response:
    resolved = resolve(image_id)
    imagery, item, token = current().imagery, resolved.image, resolved.token
    info = imagery.tiled_info(item, version=resolved.version)
    root = api_root()
    drawn, rendering, named = resolved.render, resolved.rendering, resolved.named

    def signed(url: str) -> str:  # a private image's URLs carry a signature (oam_preview.web.access)
        return str(access.signed(current().access, url, item))

    layers = [
        (
            render_layer(image_layer(item, info), drawn),
            signed(wmts_tiles_url(item, root, token, rendering, named)),
        )
    ]
    if resolved.asked == AS_CATALOG_SAYS:  # nothing asked: the image's capabilities, a layer per render
        for render in imagery.renders(item, info).renders.values():
            if drawn is None or render.name != drawn.name:
                shown = imagery.rendering(item, Asked(render.name), version=resolved.version)
                layer = render_layer(image_layer(item, info), render, main=False)
                layers.append((layer, signed(wmts_tiles_url(item, root, token, shown, render))))
    xml = wmts_capabilities(
        layers[0][0],
        layers[0][1],
        signed(image_urls(item, root, token, rendering, named)["wmts"]),
        layers[1:],
    )
    return document(xml, "application/xml", resolved.policy)


#: Every route: (rule, view) for GET, or (rule, view, methods); Flask adds HEAD and OPTIONS.
ROUTES: tuple[tuple[Any, ...], ...] = (
    ("/", index),
    ("/report", report_page),
    ("/vendor/leaflet/<path:filename>", leaflet),
    ("/healthz", healthz),
    ("/metrics", metrics.view),
    ("/api/images", images),
    ("/api/images.atom", feed_views.atom),
    ("/api/images/feed.geojson", feed_views.geojson_feed),  # before an image id: a static rule wins
    ("/api/images/<image_id>", image),
    ("/api/images/<image_id>/thumbnail.<fmt>", thumbnail),
    ("/api/images/<image_id>/tiles/<z>/<x>/<name>", tile),
    ("/api/images/<image_id>/tilejson.json", tilejson_doc),
    ("/api/images/<image_id>/point/<coordinates>", point),
    ("/api/images/<image_id>/statistics", statistics),
    ("/api/images/<image_id>/report", report_views.image_report),
    ("/api/colormaps", colormaps),
    ("/api/colormaps/<name>", colormap),
    ("/api/images/<image_id>/WMTSCapabilities.xml", wmts),
    ("/api/mosaic/tiles/<z>/<x>/<name>", mosaic_views.mosaic_tile),
    ("/api/mosaic/point/<coordinates>", mosaic_views.mosaic_point),
    ("/api/mosaic/tilejson.json", mosaic_views.mosaic_tilejson),
    ("/api/mosaic/WMTSCapabilities.xml", mosaic_views.mosaic_wmts),
    ("/api/exports", export_views.create_export, ("POST",)),
    ("/api/exports/<job_id>", export_views.export_job),
    ("/api/footprints/<z>/<x>/<name>", footprint_views.footprint_tile),
    ("/api/footprints/tilejson.json", footprint_views.footprints_tilejson),
    ("/api/imagery/index.geojson", editor_views.imagery_index),
    ("/api/imagery/josm.xml", editor_views.josm_index),
)
