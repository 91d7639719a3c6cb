"""One image route's request, resolved once: the catalog image, its file's version, its rendering
and how its answer may be kept.

Every route under ``/api/images/{id}`` (the Feature, thumbnail, tiles, point, statistics,
TileJSON, WMTS; the report and the exports find the image the same way) starts with
:func:`resolve`: the id is looked up in the catalog (:func:`catalog_image`, the one place an id
becomes a record), ``?v=`` is read once, the file's version is checked once (at most one HEAD,
:meth:`~oam_preview.tiler.imagery.Imagery.current_version`), the render is picked and the
request's parameters put over it once, and the cache policy decided from that version. The
views then hand that :class:`~oam_preview.remote.freshness.Version` to every
:class:`~oam_preview.tiler.imagery.Imagery` call, so a request's key, pixels and URLs are of one
version of the file.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from flask import request

from ..catalog import Image
from ..errors import OamPreviewError
from ..remote.freshness import Version
from ..tiler.rendering import Rendering
from ..tiler.renders import Asked, Render
from . import access
from .responses import CachePolicy, version_policy
from .services import Services, current


@dataclass(frozen=True)
class ImageRequest:
    """An image route's request resolved: the ``image``, its file's ``version``, what it asked
    (``asked``: ``render=`` and the rendering parameters), the render that resolves to
    (``render``, ``None`` for none) and the ``rendering`` drawn (the render's fields with the
    request's over them), and the ``policy`` of its cacheable answer (``immutable`` when its
    ``v`` is ``version``'s token)."""

    image: Image
    version: Version
    asked: Asked
    render: Render | None
    rendering: Rendering
    policy: CachePolicy

    @property
    def token(self) -> str | None:
        """The version token the URLs this answer emits carry (``None``: not known yet)."""
        return self.version.token

    @property
    def named(self) -> Render | None:
        """The render the emitted URLs name: the one resolved when the request named one, else
        none (the image's default render is drawn without a name)."""
        return self.render if self.asked.render is not None else None


def catalog_image(services: Services, image_id: str) -> Image:
    """The catalog image ``image_id`` names, for this request; a 404 naming the ids meant.

    The one place an image id from a client becomes a catalog record: every image route
    (through :func:`resolve`), the health report and the exports come through here, so a rule
    on who may see an image belongs here and nowhere else."""
    image = services.store.catalog.require(image_id)
    access.check(services.access, image)  # a private image: a token or a signature, else 404/403
    return image


def resolve(image_id: str, reads: bool = True) -> ImageRequest:
    """This request for image ``image_id``, resolved once (see the module): its parameters parsed
    (a 400 before a 404), the image found, its version checked, its render picked and composed.

    ``reads``: the route reads the file (its pixels or description), whose failure is its answer
    (502, 422...); the file is opened while the version's HEAD is out. Else (the Feature: the
    catalog's document) the file is described when it can be, and the render picked from what
    is known: an unreadable file has its catalog's renders, and its tiles say what is wrong."""
    services = current()
    imagery = services.imagery
    asked = Asked.from_args(request.args)
    image = catalog_image(services, image_id)
    asked_version = request.args.get("v")
    version = imagery.current_version(image, asked_version, reading=reads)
    if not reads:
        with contextlib.suppress(OamPreviewError):
            imagery.info(image, version=version)
    render, rendering = imagery.pick(image, asked, reads, version=version)
    return ImageRequest(
        image, version, asked, render, rendering, version_policy(version.token, asked_version)
    )
