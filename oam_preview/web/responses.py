"""How the routes answer: JSON errors of API.md, CORS, cacheable bodies with ETag and 304.

``Cache-Control`` is decided here, in :func:`cache_control`, for every
cacheable response (images, TileJSON, WMTS, the mosaic's): a URL whose ``v=``
names the current version of its file is ``immutable``; any other gets
``OAM_PREVIEW_CACHE_CONTROL`` with ``stale-while-revalidate``/``stale-if-error``
(a CDN or nginx may serve it stale while it refetches, or while the origin
fails); what must not be kept is ``no-store``. Errors are ``no-store`` but a
404 outside an image, which is ``OAM_PREVIEW_CACHE_CONTROL_OUTSIDE``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from types import MappingProxyType
from typing import Any, Literal

from flask import Response, current_app, g, request
from werkzeug.exceptions import HTTPException

from ..cache.entry import CachedResponse
from ..config import Settings
from ..errors import (
    BadRequest,
    BodyTooLarge,
    HeadersTooLarge,
    Internal,
    MethodNotAllowed,
    NotFound,
    OamPreviewError,
    OutsideBounds,
    RangeNotSatisfiable,
    UriTooLong,
    ZoomOutOfRange,
)
from .services import current

log = logging.getLogger(__name__)

#: How a cacheable response may be kept: ``default`` (the settings), ``immutable`` (its URL names
#: one version of its content for ever) or ``no-store``.
CachePolicy = Literal["default", "immutable", "no-store"]
#: Cache-Control of a response whose URL holds the current version token: a year, never revalidated.
IMMUTABLE = "public, max-age=31536000, immutable"


def with_stale(base: str, while_revalidate: int, if_error: int) -> str:
    """``base`` Cache-Control with ``stale-while-revalidate``/``stale-if-error`` (seconds; 0 or
    already in ``base``: not added; nothing is added to a ``no-store``)."""
    lowered = base.lower()
    if not base or "no-store" in lowered:
        return base
    parts = [base]
    for name, seconds in (("stale-while-revalidate", while_revalidate), ("stale-if-error", if_error)):
        if seconds and name not in lowered:
            parts.append(f"{name}={seconds}")
    return ", ".join(parts)


def cache_control(policy: CachePolicy, settings: Settings) -> str:
    """The ``Cache-Control`` of a cacheable response kept by ``policy`` (the one decision)."""
    if policy == "no-store":
        return "no-store"
    if policy == "immutable":
        return IMMUTABLE
    return with_stale(
        settings.cache_control, settings.cache_stale_while_revalidate, settings.cache_stale_if_error
    )


def version_policy(token: str | None, asked: str | None) -> CachePolicy:
    """``immutable`` when the request's ``v`` (``asked``) is ``token``, the current version token
    of what it asks for; ``default`` for any other ``v`` or none (old URLs keep working, kept
    less long)."""
    return "immutable" if token is not None and asked == token else "default"


#: Werkzeug's HTTP errors that have an API.md slug; any other is answered with its own status.
_HTTP_CODES: dict[int, type[OamPreviewError]] = {
    400: BadRequest,
    404: NotFound,
    405: MethodNotAllowed,
    413: BodyTooLarge,
    414: UriTooLong,
    416: RangeNotSatisfiable,  # a download's Range past its end (send_file)
    431: HeadersTooLarge,
}


#: Headers of every response: CORS (browser editors ``fetch()`` tiles) and ``nosniff``; the
#: errors gunicorn answers before the app (:mod:`oam_preview.serve`) carry them too.
COMMON_HEADERS = MappingProxyType(
    {
        "Access-Control-Allow-Origin": "*",
        "Access-Control-Expose-Headers": (
            "ETag, X-Mosaic-Images, X-Mosaic-Coverage, X-VE-TILEMETA-CaptureDatesRange, X-OIN-Provider"
        ),
        "X-Content-Type-Options": "nosniff",
    }
)


def add_common_headers(response: Response) -> Response:
    """:data:`COMMON_HEADERS` on every response, and CORS preflight answers."""
    response.headers.update(COMMON_HEADERS)
    if request.method == "OPTIONS":
        rule = request.url_rule  # POST /api/exports: the preflight of a JSON POST must allow it
        methods = sorted(rule.methods or ()) if rule is not None else ["GET", "HEAD", "OPTIONS"]
        response.headers["Access-Control-Allow-Methods"] = ", ".join(methods)
        response.headers["Access-Control-Allow-Headers"] = request.headers.get(
            "Access-Control-Request-Headers", "If-None-Match"
        )
        response.headers["Access-Control-Max-Age"] = "86400"
    return response


def error_response(exc: Exception) -> tuple[Response, int]:
    """API.md's JSON error for any exception; unexpected ones are logged, never shown."""
    error, status = api_error(exc)
    response = current_app.response_class(
        json.dumps(error.to_dict()), status=status, mimetype="application/json"
    )
    if isinstance(exc, HTTPException):  # its own headers: a 405's Allow, a 416's Content-Range
        response.headers.update((k, v) for k, v in exc.get_headers() if k.lower() != "content-type")
    response.headers["Cache-Control"] = error_cache_control(error)
    response.headers.update(error.headers)  # e.g. Retry-After of a failing or busy upstream host
    return response, status


def api_error(exc: Exception) -> tuple[OamPreviewError, int]:
    """The API error ``exc`` is answered with, and its HTTP status: a Werkzeug HTTP error without
    an API.md slug keeps its own status (its body says ``internal``); unexpected ones are logged."""
    if isinstance(exc, OamPreviewError):
        return exc, exc.status
    if isinstance(exc, HTTPException):
        status = exc.code or 500
        cls = _HTTP_CODES.get(status)
        return (cls(exc.description or exc.name), status) if cls else (Internal(exc.name), status)
    log.exception("unexpected error on %s %s", request.method, request.path)
    return Internal("internal error; it has been logged"), 500


def error_cache_control(error: OamPreviewError) -> str:
    """``no-store`` for every error but a 404 outside an image's bounds or zooms, which stays so
    until the file changes: cacheable for ``OAM_PREVIEW_CACHE_CONTROL_OUTSIDE``."""
    services = g.get("oam_preview")  # None outside the blueprint's routes
    if services is not None and isinstance(error, (OutsideBounds, ZoomOutOfRange)):
        return services.settings.cache_control_outside or "no-store"
    return "no-store"


def json_response(doc: Any, status: int = 200, media_type: str = "application/json") -> Response:
    return current_app.response_class(json.dumps(doc), status=status, mimetype=media_type)


def etag_of(body: bytes) -> str:
    return hashlib.blake2b(body, digest_size=12).hexdigest()


def conditional(entry: CachedResponse, policy: CachePolicy = "default") -> Response:
    """``entry`` as a cacheable response kept by ``policy`` (see :func:`cache_control`), or
    ``304`` (with the same ``ETag`` and ``Cache-Control``) when the client's ETag matches."""
    if request.if_none_match.contains(entry.etag):
        response = current_app.response_class(status=304)
    else:
        response = current_app.response_class(entry.body, mimetype=entry.media_type)
    response.set_etag(entry.etag)
    response.headers["Cache-Control"] = cache_control(policy, current().settings)
    response.headers.extend(entry.headers)
    return response


class Uncacheable(Exception):
    """Raised by a render whose response must not be cached (a part of it failed)."""

    def __init__(self, entry: CachedResponse) -> None:
        super().__init__("uncacheable response")
        self.entry = entry


def cached_response(
    key: str,
    render: Callable[[], CachedResponse],
    policy: CachePolicy = "default",
    learnt_key: Callable[[], str] | None = None,
) -> Response:
    """The response for ``key`` from the response cache, rendered on a miss: concurrent misses
    of one key render it once, in this process and (with Redis) across the fleet. A render
    that raises :class:`Uncacheable` is served with ``no-store`` and kept nowhere.

    ``learnt_key()``, asked after a render, is the key the next request will compute (a
    mosaic's render learns the versions of the files it read): the entry is kept under it
    too, else every cold tile would render twice."""
    cache = current().cache

    def produce() -> CachedResponse:
        entry = render()
        if learnt_key is not None and (learnt := learnt_key()) != key:
            cache.put(learnt, entry)
        return entry

    try:
        entry = cache.fetch(key, produce)
    except Uncacheable as exc:
        return conditional(exc.entry, "no-store")
    return conditional(entry, policy)


def cached_image(
    key: str, produce: Callable[[], tuple[bytes, str]], policy: CachePolicy = "default"
) -> Response:
    """:func:`cached_response` of an image that ``produce()`` encodes as (bytes, media type)."""

    def render() -> CachedResponse:
        body, media_type = produce()
        return CachedResponse(body, media_type, etag_of(body))

    return cached_response(key, render, policy)


def document(body: str, media_type: str, policy: CachePolicy = "default") -> Response:
    """A small generated document (TileJSON, WMTS) with an ETag of its content."""
    data = body.encode()
    return conditional(CachedResponse(data, media_type, etag_of(data)), policy)
