"""The catalog as the operator serves it: loaded, and marked with the privacy marks of the
operator's credential profiles (``OAM_PREVIEW_SOURCES``: a profile's ``private`` and
``embargo_until``, :mod:`.privacy`).

:func:`served_store` is the one place a catalog gets those marks, whoever loads it: the server
(:mod:`oam_preview.web.services`), seed and export (:mod:`oam_preview.offline.renderer`) and every
command that reads a catalog (``export --footprints``, ``check``, ``catalog``, ``thumbnail``).
The marks apply to the catalog current now, to each one made current later (a refresh), and
again each time the profiles file is read anew (:meth:`~oam_preview.remote.cloud_routes.CloudRoutes.watch`):
a mark added to the file, or taken off it, applies with no restart.
"""

from __future__ import annotations

import dataclasses

from ..config import Settings
from ..remote.opener import Opener
from .records import CatalogError
from .search import Catalog
from .sources import load
from .store import CatalogStore


def served_store(
    settings: Settings,
    opener: Opener,
    store: CatalogStore | None = None,
    *,
    footprints: bool = True,
) -> CatalogStore:
    """``store`` (``None``: one of ``settings.catalog``, loaded now, its missing footprints read
    in the background unless ``footprints`` is false) with the marks of ``opener``'s profiles on
    its catalogs, now and whenever the profiles are read again. :class:`CatalogError` when the
    catalog cannot be loaded. The store is not started (its refresh thread is the caller's)."""
    if store is None:
        store = CatalogStore.for_source(
            settings.catalog,
            settings.catalog_ttl,
            opener=opener,
            max_records=settings.catalog_max_records,
            footprints=footprints,
        )
        store.mark_with(opener.cloud.marks)  # before the first load: it is marked as made current
        if not store.reload():
            raise CatalogError(f"cannot load catalog {settings.catalog}: {store.status().last_error}")
    else:
        store.mark_with(opener.cloud.marks)
    marked = store
    opener.cloud.subscribe(lambda: marked.mark_with(opener.cloud.marks))
    return store


def served_catalog(source: str, settings: Settings | None = None) -> Catalog:
    """The catalog at ``source`` as the server would serve it under ``settings`` (default: the
    environment's), loaded once, for a command that reads a catalog and ends; the loader's
    :class:`CatalogError` as it is."""
    resolved = dataclasses.replace(settings or Settings.from_env(), catalog=source)
    opener = Opener(resolved)
    loaded = load(source, max_records=resolved.catalog_max_records, opener=opener)
    return served_store(resolved, opener, CatalogStore.fixed(loaded, source)).catalog
