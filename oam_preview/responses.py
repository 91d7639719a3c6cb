"""How the routes answer: JSON errors of API.md, CORS, cacheable bodies with ETag and 304."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from typing import Any

from flask import Response, current_app, request
from werkzeug.exceptions import HTTPException

from .cache import CachedResponse
from .errors import BadRequest, Internal, MethodNotAllowed, NotFound, OamPreviewError
from .services import current

log = logging.getLogger(__name__)

#: Werkzeug's HTTP errors that have an API.md slug; any other is answered with its own status.
_HTTP_CODES = {400: BadRequest, 404: NotFound, 405: MethodNotAllowed}


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
    response.headers.update(error.headers)  # e.g. Retry-After of a failing or busy upstream host
    return response, error.status


def json_response(doc: Any, status: int = 200, media_type: str = "application/json") -> Response:
    return current_app.response_class(json.dumps(doc), status=status, mimetype=media_type)


def etag_of(body: bytes) -> str:
    return hashlib.blake2b(body, digest_size=12).hexdigest()


def conditional(entry: CachedResponse) -> Response:
    """``entry`` as a cacheable response, or ``304`` when the client's ETag matches."""
    if request.if_none_match.contains(entry.etag):
        response = current_app.response_class(status=304)
    else:
        response = current_app.response_class(entry.body, mimetype=entry.media_type)
    response.set_etag(entry.etag)
    response.headers["Cache-Control"] = current().settings.cache_control
    response.headers.extend(entry.headers)
    return response


class Uncacheable(Exception):
    """Raised by a render whose response must not be cached (a part of it failed)."""

    def __init__(self, entry: CachedResponse) -> None:
        super().__init__("uncacheable response")
        self.entry = entry


def cached_response(key: str, render: Callable[[], CachedResponse]) -> Response:
    """The response for ``key`` from the response cache, rendered on a miss: concurrent misses
    of one key render it once, in this process and (with Redis) across the fleet. A render
    that raises :class:`Uncacheable` is served with ``no-store`` and kept nowhere."""
    try:
        entry = current().cache.fetch(key, render)
    except Uncacheable as exc:
        response = conditional(exc.entry)
        response.headers["Cache-Control"] = "no-store"
        return response
    return conditional(entry)


def cached_image(key: str, produce: Callable[[], tuple[bytes, str]]) -> Response:
    """:func:`cached_response` of an image that ``produce()`` encodes as (bytes, media type)."""

    def render() -> CachedResponse:
        body, media_type = produce()
        return CachedResponse(body, media_type, etag_of(body))

    return cached_response(key, render)


def document(body: str, media_type: str) -> Response:
    """A small generated document (TileJSON, WMTS) with an ETag of its content."""
    data = body.encode()
    return conditional(CachedResponse(data, media_type, etag_of(data)))
