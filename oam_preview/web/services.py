"""The services behind one registration of the blueprint, and how a request finds them."""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import g

from ..cache.local import ResponseCache
from ..cache.tiered import TieredCache, settings_cache
from ..catalog.added import AddedLog, MemoryAddedLog, added_log
from ..catalog.served import served_store
from ..catalog.store import CatalogStore
from ..config import Settings
from ..offline.jobs import ExportJobs
from ..remote.opener import Opener
from ..tiler.footprint_tiles import FootprintTiles
from ..tiler.imagery import Imagery
from ..tiler.mosaic import Mosaic
from .access import AccessRules


@dataclass
class Services:
    """What the routes of one blueprint use: settings, the catalog, remote reads, caches.

    Built when an app registers the blueprint (:meth:`build`), or given to
    :func:`~oam_preview.web.blueprint.create_blueprint` whole, as a host app or a
    test injects its own.
    """

    settings: Settings
    store: CatalogStore
    opener: Opener
    imagery: Imagery
    cache: ResponseCache | TieredCache
    mosaic: Mosaic
    exports: ExportJobs  # the jobs of POST /api/exports
    footprints: FootprintTiles = field(default_factory=FootprintTiles)
    added: AddedLog = field(default_factory=MemoryAddedLog)  # when each image was first seen
    access: AccessRules = field(default_factory=AccessRules)  # who sees private images (web.access)

    @classmethod
    def build(
        cls,
        settings: Settings,
        store: CatalogStore | None,
        opener: Opener | None = None,
        imagery: Imagery | None = None,
        cache: ResponseCache | TieredCache | None = None,
        exports: ExportJobs | None = None,
        added: AddedLog | None = None,
    ) -> Services:
        """The services for ``settings``; any one given is used as it is (``store`` ``None``: the
        settings' catalog, loaded now, not started). The "added" log observes every catalog
        ``store`` makes current from now on; the privacy marks of the operator's credential
        profiles (``OAM_PREVIEW_SOURCES``) mark each of them, again whenever the file is edited
        (:func:`~oam_preview.catalog.served.served_store`)."""
        opener = opener or Opener(settings)
        store = served_store(settings, opener, store)  # private/embargo_until of the operator's profiles
        imagery = imagery or Imagery(opener, settings)
        added = added or added_log(store.source, settings.state_dir, settings.cache_url)
        store.subscribe(added.observe)
        store.subscribe(lambda catalog: imagery.render_report.observe(catalog.images))
        return cls(
            settings=settings,
            store=store,
            opener=opener,
            imagery=imagery,
            cache=cache or settings_cache(settings),
            mosaic=Mosaic(imagery, settings.mosaic_max_images, settings.mosaic_min_pixels),
            exports=exports or ExportJobs(settings),
            added=added,
            access=AccessRules.load(settings.access),
        )


def current() -> Services:
    """The services of the blueprint handling this request (bound to ``g`` before each request)."""
    services: Services = g.oam_preview
    return services
