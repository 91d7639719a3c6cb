"""The bodies of the tile routes: one image's tile and a mosaic tile, from the response cache or
rendered once. The tile views answer them (:mod:`oam_preview.web.views`,
:mod:`oam_preview.web.mosaic_views`); ``oam-preview seed`` and the exports
(:mod:`oam_preview.offline`) call the same functions, so the cache holds, and a
package holds, the routes' very bytes (same render, cache keys and render-once locks).

Tiles are XYZ ``z/x/y`` of ``size`` pixels (256 or 512), ``fmt`` the asked encoding
(png, jpg, webp or auto).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ..cache.entry import CachedResponse, Produce, Uncacheable, etag_of
from ..catalog.model import Image
from ..remote.freshness import Version
from .capture import capture_headers
from .imagery import Imagery
from .mosaic import Mosaic
from .render import encode
from .rendering import Rendering
from .renders import Asked, compose
from .selection import Selection


class ResponseCache(Protocol):
    """What a tile asks of the response cache (:mod:`oam_preview.cache`)."""

    def fetch(self, key: str, produce: Produce) -> CachedResponse: ...

    def put(self, key: str, entry: CachedResponse) -> None: ...


class TileServices(Protocol):
    """The parts a tile is rendered with (the blueprint's ``Services`` has them)."""

    @property
    def imagery(self) -> Imagery: ...

    @property
    def mosaic(self) -> Mosaic: ...

    @property
    def cache(self) -> ResponseCache: ...


@dataclass(frozen=True)
class TileBody:
    """A tile route's body, media type, ETag and headers (``entry``); ``stored``: False when a
    part of it failed, so it was kept in no cache and is answered ``no-store``."""

    entry: CachedResponse
    stored: bool = True


def image_tile(
    services: TileServices,
    image: Image,
    version: Version,
    rendering: Rendering,
    tile: tuple[int, int, int],
    size: int,
    fmt: str,
) -> TileBody:
    """Tile ``z/x/y`` of ``image``'s file at ``version`` drawn as ``rendering``; the API's errors
    (404 outside the image or past its zooms, 400 a rendering it cannot show, upstream's)."""
    z, x, y = tile
    imagery = services.imagery
    fmt = rendering.output_format(fmt)
    key = imagery.tile_key(image, z, x, y, size, fmt, version, rendering)

    def render() -> CachedResponse:
        body, media_type = encode(imagery.tile(image, z, x, y, size, rendering, version=version), fmt)
        return CachedResponse(body, media_type, etag_of(body))

    return TileBody(services.cache.fetch(key, render))


def mosaic_tile(
    services: TileServices,
    selection: Selection,
    tile: tuple[int, int, int],
    size: int,
    fmt: str,
    asked: Asked,
) -> TileBody:
    """Tile ``z/x/y`` of the mosaic of ``selection``, each image drawn as ``asked``; the API's
    errors (404 a tile that shows nothing). A tile one of whose images failed is not stored."""
    z, x, y = tile
    mosaic = services.mosaic
    # The request's own algorithm decides the encoding (terrainrgb and terrarium: PNG only):
    # its parameters as one rendering, composed once per spelling (not parsed again).
    fmt = compose(None, asked).output_format(fmt)
    plan = mosaic.plan(selection, z, x, y)  # a tile that shows nothing: its error, now
    key = mosaic.key(selection, plan, size, fmt, asked)

    def render() -> CachedResponse:
        result = mosaic.tile(selection, plan, size, asked)
        body, media_type = encode(result.pixels, fmt)
        shown = (i for i in map(selection.catalog.get, result.images) if i is not None)
        headers = (
            ("X-Mosaic-Images", ", ".join(result.images)),
            ("X-Mosaic-Coverage", str(result.coverage)),
            *capture_headers(shown),  # of the images that gave pixels, as this render found them
        )
        entry = CachedResponse(body, media_type, etag_of(body), headers)
        if result.failed:
            raise Uncacheable(entry)
        # A render learns the versions of the files it read: the next request's key. Kept
        # under it too, else every cold tile would render twice.
        learnt = mosaic.key(selection, plan, size, fmt, asked)
        if learnt != key:
            services.cache.put(learnt, entry)
        return entry

    try:
        return TileBody(services.cache.fetch(key, render))
    except Uncacheable as exc:
        return TileBody(exc.entry, stored=False)
