"""The tile routes' functions in a process of its own: how seed and export get the routes' very bytes.

A :class:`TileRenderer` holds what the blueprint's services hold for a tile (the catalog,
Imagery, the Mosaic, the response cache of the settings) and asks
:mod:`oam_preview.tiler.tile_bodies` for each tile, as the tile views do: same render,
cache keys, versions and render-once locks, each tile under the request deadline the
blueprint gives a request (``OAM_PREVIEW_UPSTREAM_TIMEOUT``). No Flask, no HTTP.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from .. import deadline
from ..cache.tiered import ResponseCache, TieredCache, settings_cache
from ..catalog import Catalog, CatalogError, Image
from ..catalog.query import ImageQuery
from ..catalog.served import served_store
from ..catalog.store import CatalogStore
from ..config import Settings
from ..errors import OamPreviewError
from ..remote.opener import Opener
from ..tiler.imagery import Imagery
from ..tiler.mosaic import Mosaic
from ..tiler.renders import Asked
from ..tiler.tile_bodies import TileBody, image_tile, mosaic_tile
from .coverage import Tile
from .request import ExportError

T = TypeVar("T")
log = logging.getLogger(__name__)


def _catalog(settings: Settings, images: Sequence[Image] | None) -> tuple[Catalog | None, Settings]:
    """The catalog to serve when it is built here: ``images`` (a job's snapshot); ``None``: the
    settings' (the demo is switched in before, by :func:`oam_preview.demo.switch.serving_config`)."""
    if images is not None:
        return Catalog.from_images(images), settings
    return None, settings


def _loaded(settings: Settings, opener: Opener) -> CatalogStore:
    """The settings' catalog, loaded once (its missing footprints read in the background), marked
    with the operator's profiles' private/embargo_until as the server's is."""
    try:
        return served_store(settings, opener)
    except CatalogError as exc:
        raise ExportError(str(exc)) from None


class TileRenderer:
    """The tiles of one process. ``images``: the images to serve (a job's snapshot); ``None``:
    the settings' catalog."""

    def __init__(self, settings: Settings, images: Sequence[Image] | None = None) -> None:
        catalog, self.settings = _catalog(settings, images)
        # The settings' catalog serves an anonymous client (seed, the command line's export): its
        # private images are not found. A job's snapshot was allowed when its request was made.
        self.allowed: Callable[[Image], bool] | None = None if images is None else (lambda image: True)
        opener = Opener(self.settings)  # one for the tiles and the catalog's header reads
        self.store = CatalogStore.fixed(catalog) if catalog is not None else _loaded(self.settings, opener)
        self.imagery = Imagery(opener, self.settings)
        self.mosaic = Mosaic(self.imagery, self.settings.mosaic_max_images, self.settings.mosaic_min_pixels)
        self.cache: ResponseCache | TieredCache = settings_cache(self.settings)
        self._placed = False  # the catalog's footprints all read (or waited for long enough)

    @property
    def catalog(self) -> Catalog:
        """The catalog served now."""
        return self.store.catalog

    def wait_for_footprints(self, timeout: float = 120.0) -> None:
        """A mosaic places images by their footprints: let the background fill the missing ones
        (at most ``timeout`` seconds, once: this process's catalog is not reloaded)."""
        ends = time.monotonic() + timeout
        while not self._placed and self.store.status().footprints_pending and time.monotonic() < ends:
            time.sleep(0.2)
        self._placed = True

    def find(self, image_id: str) -> Image:
        """The image ``image_id`` names; 404 for an unknown one, and for one private now unless
        the images are a job's snapshot (see ``__init__``)."""
        if self.allowed is not None:
            return self.catalog.require(image_id)
        return self.catalog.require_public(image_id)

    def image_tile(self, image_id: str, asked: Asked, tile: Tile, size: int, fmt: str) -> TileBody:
        """As ``/api/images/{image_id}/tiles/{z}/{x}/{y}``: the file's current version (no
        ``?v=``), the look ``asked`` resolved for the image."""
        image = self.find(image_id)
        version = self.imagery.current_version(image, None, reading=True)
        rendering = self.imagery.rendering(image, asked, version=version)
        return image_tile(self, image, version, rendering, tile, size, fmt)

    def mosaic_tile(self, query: ImageQuery, asked: Asked, tile: Tile, size: int, fmt: str) -> TileBody:
        """As ``/api/mosaic/tiles/{z}/{x}/{y}`` of ``query``, each image drawn as ``asked``."""
        self.wait_for_footprints()
        selection = self.mosaic.selection(self.catalog, query, self.allowed)
        return mosaic_tile(self, selection, tile, size, fmt, asked)

    def within_deadline(self, work: Callable[[], T]) -> T:
        """``work()`` under the deadline the blueprint gives a request."""
        deadline.start(self.settings.upstream_timeout)
        try:
            return work()
        finally:
            deadline.clear()

    def attempt(self, draw: Callable[[], TileBody]) -> bytes | Exception:
        """The body ``draw()`` gives, within a request's deadline; else what it raised (the API
        error a route would answer, or any other failure: a route's 500)."""
        try:
            return self.within_deadline(draw).entry.body
        except OamPreviewError as exc:  # an API error, as a route answers it
            return exc
        except Exception as exc:  # noqa: BLE001  # a route's 500: said, and the caller decides
            log.warning("a tile failed: %s", exc, exc_info=exc)
            return exc
