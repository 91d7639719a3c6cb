"""The routes of API.md as a Flask blueprint that any app can mount at any prefix.

``create_blueprint()`` returns a fresh :class:`flask.Blueprint`; its services
(catalog, opener, imagery, response cache) are built when an app registers it,
from that app's ``OAM_PREVIEW_*`` config unless given explicitly. Every error
of a blueprint route is API.md's JSON error; every response carries CORS.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    g,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from flask.blueprints import BlueprintSetupState
from jinja2 import TemplateNotFound
from shapely.geometry import mapping
from werkzeug.exceptions import HTTPException

from . import __version__, metrics
from .cache import CachedResponse, ResponseCache, TieredCache, response_cache
from .catalog import Catalog, Image
from .catalog.model import ID_PATTERN, BBox
from .catalog.store import CatalogStore
from .config import Settings
from .errors import BadRequest, Internal, MethodNotAllowed, NotFound, NotGeoreferenced, OamPreviewError
from .imagery import MAX_ZOOM, ImageInfo, Imagery
from .ogc import tilejson, wmts_capabilities
from .opener import Opener
from .render import MEDIA_TYPES, encode

log = logging.getLogger(__name__)

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
THUMBNAIL_SIZES = (16, 1024)
TILE_NAME = re.compile(r"^(\d{1,10})(@2x)?\.([a-z]{3,4})$")
INT = re.compile(r"^\d{1,10}$")


def _resource_dir(name: str) -> Path:
    """``templates/`` or ``static/``: beside the package in a checkout, else installed data."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / name, Path(sys.prefix) / "share" / "oam-preview" / name):
        if candidate.is_dir():
            return candidate
    return here.parent / name


@dataclass
class Preview:
    """The services behind one registration of the blueprint."""

    settings: Settings
    store: CatalogStore
    opener: Opener
    imagery: Imagery
    cache: ResponseCache | TieredCache

    @classmethod
    def build(cls, settings: Settings, store: CatalogStore) -> Preview:
        opener = Opener(settings)
        return cls(
            settings=settings,
            store=store,
            opener=opener,
            imagery=Imagery(opener, settings),
            cache=response_cache(int(settings.cache_max_mb * 1e6), settings.cache_url, settings.cache_ttl),
        )


def create_blueprint(
    catalog: Catalog | CatalogStore | None = None,
    settings: Settings | None = None,
    name: str = "oam_preview",
) -> Blueprint:
    """The oam-preview routes; register with ``app.register_blueprint(bp, url_prefix=...)``.

    ``catalog`` is a built :class:`Catalog`, a :class:`CatalogStore`, or
    ``None`` to load ``OAM_PREVIEW_CATALOG`` from the app's config. ``settings``
    default to the app's ``OAM_PREVIEW_*`` config keys.
    """
    bp = Blueprint(
        name,
        __name__,
        static_folder=str(_resource_dir("static")),
        static_url_path="/static",
        template_folder=str(_resource_dir("templates")),
    )

    @bp.record_once
    def _setup(state: BlueprintSetupState) -> None:
        app = state.app
        resolved = settings or Settings.from_mapping(app.config)
        if isinstance(catalog, CatalogStore):
            store = catalog
        elif isinstance(catalog, Catalog):
            store = CatalogStore.fixed(catalog)
        else:
            store = CatalogStore.for_source(resolved.catalog, resolved.catalog_ttl)
            if not store.reload():
                raise RuntimeError(f"cannot load catalog {resolved.catalog}: {store.status().last_error}")
            store.start()
        app.extensions.setdefault("oam_preview", {})[name] = Preview.build(resolved, store)

    @bp.before_request
    def _bind() -> None:
        g.oam_preview = current_app.extensions["oam_preview"][name]

    @bp.after_request
    def _headers(response: Response) -> Response:
        return add_common_headers(response)

    bp.register_error_handler(Exception, error_response)

    _add_routes(bp)
    metrics.register(bp)
    return bp


def add_common_headers(response: Response) -> Response:
    """CORS for every response (browser editors ``fetch()`` tiles) and ``nosniff``."""
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Access-Control-Expose-Headers"] = "ETag"
    response.headers["X-Content-Type-Options"] = "nosniff"
    if request.method == "OPTIONS":
        response.headers["Access-Control-Allow-Methods"] = "GET, HEAD, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = request.headers.get(
            "Access-Control-Request-Headers", "If-None-Match"
        )
        response.headers["Access-Control-Max-Age"] = "86400"
    return response


_HTTP_CODES = {400: BadRequest, 404: NotFound, 405: MethodNotAllowed}


def error_response(exc: Exception) -> tuple[Response, int]:
    """API.md's JSON error for any exception; unexpected ones are logged, never shown."""
    if isinstance(exc, HTTPException) and not isinstance(exc, OamPreviewError):
        status = exc.code or 500
        cls = _HTTP_CODES.get(status)
        error: OamPreviewError = cls(exc.description or exc.name) if cls else Internal(exc.name)
        if cls is None:
            error.status = status
    elif isinstance(exc, OamPreviewError):
        error = exc
    else:
        log.exception("unexpected error on %s %s", request.method, request.path)
        error = Internal("internal error; it has been logged")
    response = current_app.response_class(
        json.dumps(error.to_dict()), status=error.status, mimetype="application/json"
    )
    if isinstance(exc, HTTPException) and exc.code == 405:
        valid = getattr(exc, "valid_methods", None)
        if valid:
            response.headers["Allow"] = ", ".join(valid)
    response.headers["Cache-Control"] = "no-store"
    # e.g. Retry-After of an upstream host that is failing or busy
    response.headers.update(getattr(error, "headers", None) or {})
    return response, error.status


# -- request parsing ---------------------------------------------------------------------


def query_int(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if not INT.match(raw):
        raise BadRequest(f"{name} must be a whole number from {low} to {high}, not {raw[:40]!r}")
    value = int(raw)
    if not low <= value <= high:
        raise BadRequest(f"{name} must be from {low} to {high}, not {value}")
    return value


def query_bbox() -> BBox | None:
    raw = request.args.get("bbox")
    if raw is None or raw == "":
        return None
    parts = raw.split(",")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise BadRequest("bbox must be west,south,east,north in degrees (EPSG:4326)")
    w, s, e, n = values
    if not (-180 <= w <= 180 and -180 <= e <= 180 and -90 <= s <= n <= 90):
        raise BadRequest("bbox must have -180 <= west, east <= 180 and -90 <= south <= north <= 90")
    return (w, s, e, n)


def query_date(name: str, end_of_day: bool) -> datetime | None:
    """An ISO 8601 date or datetime (UTC if naive); a bare date covers its whole day."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    text = raw.strip()
    try:
        if len(text) == 10:
            day = datetime.fromisoformat(text).date()
            return datetime.combine(day, time.max if end_of_day else time.min, tzinfo=UTC)
        value = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        raise BadRequest(f"{name} must be an ISO 8601 date or datetime, not {raw[:40]!r}") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def image_or_404(image_id: str) -> Image:
    image = g.oam_preview.store.catalog.get(image_id) if ID_PATTERN.match(image_id) else None
    if image is None:
        raise NotFound(f"no image with id {image_id[:128]!r} in the catalog")
    return image


def tiled_info(image: Image) -> ImageInfo:
    """The description of an image that has tiles; ``NotGeoreferenced`` for one that has none."""
    g.oam_preview.opener.version(image.source_url)  # a changed file is described anew
    info: ImageInfo = g.oam_preview.imagery.info(image)
    if info.georeference is None:
        raise NotGeoreferenced("this image has no georeferencing, so it has no tiles")
    return info


def output_format(fmt: str) -> str:
    if fmt not in MEDIA_TYPES:
        raise BadRequest(f"unknown format {fmt[:20]!r}: use png, jpg, jpeg, webp or auto")
    return fmt


# -- responses ---------------------------------------------------------------------------


def api_root() -> str:
    """Absolute URL of the blueprint's root, ending in ``/`` (prefix and proxies honoured)."""
    return url_for(f"{request.blueprint}.index", _external=True)


def image_urls(image: Image, root: str) -> dict[str, str]:
    base = f"{root}api/images/{image.id}"
    return {
        "thumbnail": f"{base}/thumbnail.png",
        "tilejson": f"{base}/tilejson.json",
        "tiles": f"{base}/tiles/{{z}}/{{x}}/{{y}}.png",
        "wmts": f"{base}/WMTSCapabilities.xml",
    }


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


def json_response(doc: Any, status: int = 200, media_type: str = "application/json") -> Response:
    return current_app.response_class(json.dumps(doc), status=status, mimetype=media_type)


def etag_of(body: bytes) -> str:
    return hashlib.blake2b(body, digest_size=12).hexdigest()


def conditional(entry: CachedResponse) -> Response:
    """``entry`` as a cacheable response, or ``304`` when the client's ETag matches."""
    cache_control = g.oam_preview.settings.cache_control
    if request.if_none_match.contains(entry.etag):
        response = current_app.response_class(status=304)
    else:
        response = current_app.response_class(entry.body, mimetype=entry.media_type)
    response.set_etag(entry.etag)
    response.headers["Cache-Control"] = cache_control
    return response


def cached_image(key: str, produce: Callable[[], tuple[bytes, str]]) -> Response:
    """Serve a rendered image from the response cache, rendering it on a miss."""
    cache: ResponseCache | TieredCache = g.oam_preview.cache

    def render() -> CachedResponse:
        body, media_type = produce()
        return CachedResponse(body, media_type, etag_of(body))

    # Concurrent misses of one key render it once, in this process and (with Redis) the fleet.
    return conditional(cache.fetch(key, render))


def document(body: str, media_type: str) -> Response:
    data = body.encode()
    return conditional(CachedResponse(data, media_type, etag_of(data)))


# -- routes ------------------------------------------------------------------------------


def _add_routes(bp: Blueprint) -> None:
    @bp.get("/")
    def index() -> Any:
        preview: Preview = g.oam_preview
        root = api_root()
        page = {
            "api_root": root.rstrip("/"),
            "images_url": root + "api/images",
            "basemap_url": preview.settings.basemap_url,
            "basemap_attribution": preview.settings.basemap_attribution,
            "version": __version__,
        }
        try:
            html = render_template("oam_preview/index.html", page=page)
        except TemplateNotFound:
            html = f"<!doctype html><title>oam-preview</title><p>oam-preview: <a href='{root}api/images'>images</a></p>"
        response = current_app.response_class(html, mimetype="text/html")
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
            "img-src * data: blob:; connect-src 'self'; frame-ancestors 'self'; base-uri 'none'"
        )
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    @bp.get("/vendor/leaflet/<path:filename>")
    def leaflet(filename: str) -> Any:
        from xstatic.pkg import leaflet as xleaflet

        response = send_from_directory(xleaflet.BASE_DIR, filename, max_age=86400)
        return response

    @bp.get("/healthz")
    def healthz() -> Any:
        preview: Preview = g.oam_preview
        return json_response(
            {
                "status": "ok",
                "version": __version__,
                "catalog": preview.store.status().to_dict(),
                "cache": preview.cache.stats(),
                "upstream": preview.opener.guard.status(),
            }
        )

    @bp.get("/api/images")
    def images() -> Any:
        preview: Preview = g.oam_preview
        limit = query_int("limit", DEFAULT_LIMIT, 0, MAX_LIMIT)
        offset = query_int("offset", 0, 0, 10**9)
        after = query_date("acquired_after", end_of_day=False)
        before = query_date("acquired_before", end_of_day=True)
        if after and before and after > before:
            raise BadRequest("acquired_after is later than acquired_before")
        q = request.args.get("q") or None
        if q is not None and len(q) > 500:
            raise BadRequest("q is longer than 500 characters")
        result = preview.store.catalog.search(
            bbox=query_bbox(), q=q, acquired_after=after, acquired_before=before, limit=limit, offset=offset
        )
        root = api_root()
        links = [{"rel": "self", "href": request.url, "type": "application/geo+json"}]
        args = request.args.to_dict()
        if offset + len(result.images) < result.matched and limit > 0:
            links.append(_page_link("next", args, offset + limit))
        if offset > 0:
            links.append(_page_link("prev", args, max(0, offset - limit)))
        return json_response(
            {
                "type": "FeatureCollection",
                "numberMatched": result.matched,
                "numberReturned": len(result.images),
                "features": [feature(image, root) for image in result.images],
                "links": links,
            },
            media_type="application/geo+json",
        )

    def _page_link(rel: str, args: dict[str, str], offset: int) -> dict[str, str]:
        args = {**args, "offset": str(offset)}
        href = url_for(f"{request.blueprint}.images", _external=True, **args)
        return {"rel": rel, "href": href, "type": "application/geo+json"}

    @bp.get("/api/images/<image_id>")
    def image(image_id: str) -> Any:
        return json_response(feature(image_or_404(image_id), api_root()), media_type="application/geo+json")

    @bp.get("/api/images/<image_id>/thumbnail.<fmt>")
    def thumbnail(image_id: str, fmt: str) -> Any:
        preview: Preview = g.oam_preview
        fmt = output_format(fmt)
        max_size = query_int("max_size", 256, *THUMBNAIL_SIZES)
        item = image_or_404(image_id)
        version = preview.opener.version(item.source_url)
        key = f"thumb|{item.source_url}|{version}|{max_size}|{fmt}"
        return cached_image(key, lambda: encode(preview.imagery.thumbnail(item, max_size), fmt))

    @bp.get("/api/images/<image_id>/tiles/<z>/<x>/<name>")
    def tile(image_id: str, z: str, x: str, name: str) -> Any:
        preview: Preview = g.oam_preview
        m = TILE_NAME.match(name)
        if not (INT.match(z) and INT.match(x) and m):
            raise BadRequest("tiles are /tiles/{z}/{x}/{y}.{fmt} or {y}@2x.{fmt} with whole numbers")
        zi, xi, yi = int(z), int(x), int(m.group(1))
        fmt = output_format(m.group(3))
        if zi > MAX_ZOOM:
            raise BadRequest(f"z must be from 0 to {MAX_ZOOM}")
        if xi >= 2**zi or yi >= 2**zi:
            raise BadRequest(f"x and y must be from 0 to {2**zi - 1} at zoom {zi}")
        size = 512 if m.group(2) else 256
        item = image_or_404(image_id)
        version = preview.opener.version(item.source_url)
        key = f"tile|{item.source_url}|{version}|{zi}/{xi}/{yi}|{size}|{fmt}"
        return cached_image(key, lambda: encode(preview.imagery.tile(item, zi, xi, yi, size), fmt))

    @bp.get("/api/images/<image_id>/tilejson.json")
    def tilejson_doc(image_id: str) -> Any:
        item = image_or_404(image_id)
        info = tiled_info(item)
        tiles = image_urls(item, api_root())["tiles"]
        return document(json.dumps(tilejson(item, info, tiles)), "application/json")

    @bp.get("/api/images/<image_id>/WMTSCapabilities.xml")
    def wmts(image_id: str) -> Any:
        item = image_or_404(image_id)
        info = tiled_info(item)
        root = api_root()
        base = f"{root}api/images/{item.id}"
        xml = wmts_capabilities(
            item,
            info,
            f"{base}/tiles/{{TileMatrix}}/{{TileCol}}/{{TileRow}}.png",
            f"{base}/WMTSCapabilities.xml",
        )
        return document(xml, "application/xml")


def init_app(app: Flask, catalog: Catalog | CatalogStore | None = None, url_prefix: str = "") -> Blueprint:
    """Register a new oam-preview blueprint on ``app`` at ``url_prefix``; return it."""
    bp = create_blueprint(catalog)
    app.register_blueprint(bp, url_prefix=url_prefix or None)
    return bp
