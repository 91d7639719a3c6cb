"""The exports' views (API.md "Exports"): ``POST /api/exports`` makes (or finds) a job, its URL
answers its state until the package is ready, then the package.

Listed in :data:`oam_preview.web.views.ROUTES`. What a job covers is planned here from the
services (the image's description, the mosaic's selection), so a request over the limits
is answered at once; the tiles are rendered by :mod:`oam_preview.export_jobs`' workers.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Sequence
from typing import IO, Any

from flask import Response, request, send_file

from ..catalog import Image
from ..catalog.query import ImageQuery
from ..errors import BadRequest, BodyTooLarge, ExportFailed, ExportTooLarge, NotFound
from ..export import ExportRequest, TooManyTiles, plan, tiles
from ..export_jobs import ACTIVE, JobStatus
from ..tile_package import ExportError
from ..tiler.ogc import image_layer, tilejson
from ..tiler.renders import Asked
from . import access
from .image_request import catalog_image
from .links import api_root
from .mosaic_views import LAYER_TITLE
from .responses import json_response
from .services import Services, current

#: Largest request body, bytes: 1000 ids of 128 characters and the rest.
MAX_BODY = 256 * 1024
#: Bytes read from a request body at a time.
READ_SIZE = 64 * 1024
MEDIA_TYPES = {"mbtiles": "application/vnd.sqlite3", "pmtiles": "application/vnd.pmtiles"}


def coverage(
    services: Services, asked: ExportRequest
) -> tuple[dict[str, Any], list[Sequence[float]], tuple[Image, ...], str]:
    """What ``asked`` covers: its TileJSON, the imagery's boxes (degrees), the catalog records
    the job reads and a name for its file; the API's errors (404 unknown id, empty selection)."""
    catalog = services.store.catalog
    if asked.single:
        image = catalog_image(services, asked.ids[0])
        access.public_or_404(image)  # exports are rendered anonymously: a private image is left out
        imagery = services.imagery
        version = imagery.current_version(image)  # a changed file is described anew
        info = imagery.tiled_info(image, version=version)
        # What the image cannot show as asked (a render it does not have…): the tiles' 400, now.
        look = Asked(asked.render, tuple(asked.rendering.to_args()))
        imagery.shown(image, imagery.rendering(image, look, version=version), info)
        doc = tilejson(image_layer(image, info), "")
        return doc, [doc["bounds"]], (image,), image.id
    if asked.mosaic is None:
        images = tuple(catalog_image(services, i) for i in asked.ids)
        for image in images:
            access.public_or_404(image)
        query = ImageQuery(ids=asked.ids, order="catalog")
        name = "group"
    else:
        query = ImageQuery.from_args(dict(urllib.parse.parse_qsl(asked.mosaic)), default_order="newest")
        images = catalog.select(query)
        name = "mosaic"
    selection = services.mosaic.selection(catalog, query)
    doc = tilejson(selection.layer(LAYER_TITLE), "")
    return doc, [i.bbox for i in selection.images if i.bbox is not None], images, name


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
    doc, areas, images, name = coverage(services, asked)
    try:
        count = len(tiles(plan(asked, doc, areas), services.exports.limits.max_tiles))
    except TooManyTiles as exc:
        raise ExportTooLarge(str(exc)) from None
    except ExportError as exc:
        raise BadRequest(str(exc)) from None
    status, _ = services.exports.submit(asked, images, request.remote_addr or "unknown", count, name)
    return status_response(status, 202 if status.state in ACTIVE else 200)


def export_job(job_id: str) -> Response:
    """A job: 202 and its state while it runs, 200 and the package (Range-capable) when done."""
    exports = current().exports
    status = exports.status(job_id)
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
