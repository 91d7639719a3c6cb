"""``GET /api/images/{id}/report``: the health report of a catalog image's file (issue 34).

Only images of the catalog: the server never checks a URL a client sends. The report
(:func:`~oam_preview.tiler.checkup.check`) reads the file as the server does, through the
upstream policy and this worker's upstream guard, each of its steps within
``OAM_PREVIEW_UPSTREAM_TIMEOUT``; it is kept in the response cache under the file's
version, so asking again costs the upstream nothing until the file changes. A report
that could not reach the file is answered, not kept.
"""

from __future__ import annotations

import json

from flask import Response

from ..cache.entry import CachedResponse
from ..tiler.checkup import FINAL, check
from .image_request import catalog_image
from .responses import Uncacheable, cached_response, etag_of
from .services import current


def image_report(image_id: str) -> Response:
    """The report of one catalog image, as JSON (API additions, "Health report")."""
    services = current()
    item = catalog_image(services, image_id)
    version = services.imagery.current_version(item)
    key = f"report|{item.source_url}|{version.token or f'g{version.generation}'}"

    def render() -> CachedResponse:
        report = check(item.source_url, services.settings, services.opener.guard, item.id)
        body = json.dumps(report.to_dict()).encode()
        entry = CachedResponse(body, "application/json", etag_of(body))
        if any(code in FINAL for code in report.problems()):
            raise Uncacheable(entry)  # the host may answer next time
        return entry

    return cached_response(key, render)
