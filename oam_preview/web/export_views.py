"""The exports' views (API.md "Exports"): ``POST /api/exports`` makes (or finds) a job, its URL
answers its state until the package is ready, then the package.

Listed in :data:`oam_preview.web.views.ROUTES`. What a job covers is planned here from the
services (:func:`oam_preview.offline.coverage.covered`), so a request over the limits is
answered at once; the tiles are rendered by the job store's workers
(:mod:`oam_preview.offline.jobs`), never in this process.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from typing import IO

from flask import Response, request, send_file

from ..catalog import Image, privacy
from ..errors import BadRequest, BodyTooLarge, ExportFailed, ExportTooLarge, NotFound
from ..offline.coverage import TooManyTiles, covered, plan, tiles
from ..offline.jobs import ACTIVE, JobStatus
from ..offline.request import ExportError, ExportRequest
from . import access
from .image_request import catalog_image
from .links import api_root
from .responses import json_response
from .services import Services, current

#: Largest request body, bytes: 1000 ids of 128 characters and the rest.
MAX_BODY = 256 * 1024
#: Bytes read from a request body at a time.
READ_SIZE = 64 * 1024
MEDIA_TYPES = {"mbtiles": "application/vnd.sqlite3", "pmtiles": "application/vnd.pmtiles"}


def private_ids(images: Sequence[Image]) -> tuple[str, ...]:
    """The ids of ``images`` private now: a job holding one is its requester's scope's alone."""
    moment = privacy.now()
    return tuple(sorted(image.id for image in images if privacy.private_at(image, moment)))


def may_fetch(services: Services, status: JobStatus, scope: access.Scope) -> bool:
    """Whether this request may see the job ``status``: every image it holds that is private now
    is one ``scope`` allows (an anonymous job holds none)."""
    catalog, moment = services.store.catalog, privacy.now()
    for image_id in status.private:
        image = catalog.get(image_id)
        if image is None or (privacy.private_at(image, moment) and not scope.allowed(image)):
            return False
    return True


def job_url(status: JobStatus) -> str:
    return f"{api_root()}api/exports/{status.id}"


def status_response(status: JobStatus, code: int) -> Response:
    response = json_response(status.to_dict(job_url(status)), code)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Location"] = job_url(status)
    if status.state in ACTIVE:
        response.headers["Retry-After"] = "2"
    return response


def read_capped(stream: IO[bytes], cap: int) -> bytes:
    """At most ``cap`` bytes of ``stream`` to its end; :class:`BodyTooLarge` as soon as it holds
    more (a chunked body says its size only at its end: never read past ``cap + 1``)."""
    parts: list[bytes] = []
    size = 0
    while size <= cap:
        part = stream.read(min(READ_SIZE, cap + 1 - size))
        if not part:
            return b"".join(parts)
        parts.append(part)
        size += len(part)
    raise BodyTooLarge(f"the body is larger than {cap} bytes")


def request_body(cap: int) -> bytes:
    """The request's body, sized or chunked, of at most ``cap`` bytes (else 413)."""
    if (request.content_length or 0) > cap:
        raise BodyTooLarge(f"the body is larger than {cap} bytes")
    try:
        return read_capped(request.stream, cap)
    except BodyTooLarge:
        raise
    except Exception:  # noqa: BLE001  # the client went away, or the WSGI server's own error
        # for a malformed transfer (gunicorn: InvalidChunkSize…): the client's, never a 500
        raise BadRequest("the body could not be read: a broken or malformed transfer") from None


def create_export() -> Response:
    """``POST /api/exports``: 202 and the job (new, or the one of the same request)."""
    try:
        body = json.loads(request_body(MAX_BODY))
    except ValueError:  # not JSON, or not UTF-8
        body = None
    if body is None:
        raise BadRequest('the body must be a JSON object, e.g. {"ids": ["…"], "format": "mbtiles"}')
    asked = ExportRequest.from_json(body)
    services = current()
    scope = access.bearer_scope(services.access)  # a token's private images too
    # An id: as an image route finds it (a private one: its token, else 404/403).
    found = covered(services, asked, functools.partial(catalog_image, services), scope.allowed)
    try:
        count = len(tiles(plan(asked, found.doc, found.areas), services.exports.limits.max_tiles))
    except TooManyTiles as exc:
        raise ExportTooLarge(str(exc)) from None
    except ExportError as exc:
        raise BadRequest(str(exc)) from None
    client = request.remote_addr or "unknown"
    status, _ = services.exports.submit(
        asked, found.images, client, count, found.name, private_ids(found.images)
    )
    return status_response(status, 202 if status.state in ACTIVE else 200)


def export_job(job_id: str) -> Response:
    """A job: 202 and its state while it runs, 200 and the package (Range-capable) when done."""
    services = current()
    exports = services.exports
    status = exports.status(job_id)
    if status is not None and status.private:  # its private images' scope only; else as none
        catalog = services.store.catalog
        access.shown(image for i in status.private if (image := catalog.get(i)) is not None)
        if not may_fetch(services, status, access.bearer_scope(services.access)):
            status = None
    if status is None:
        raise NotFound("no such export (never made, or expired): POST the request again")
    if status.state == "failed":
        raise ExportFailed(f"the export failed: {status.error}; POST the same request again to resume it")
    if status.state != "done":
        return status_response(status, 202)
    response = send_file(
        exports.file(status),
        mimetype=MEDIA_TYPES[status.request["format"]],
        as_attachment=True,
        download_name=status.filename,
        conditional=True,  # ETag, Last-Modified, Range and 206
        max_age=0,
    )
    response.headers["Cache-Control"] = "private, no-cache"
    return response
