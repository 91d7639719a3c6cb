"""The routes of API.md as a Flask blueprint that any app can mount at any prefix.

``create_blueprint()`` returns a fresh :class:`flask.Blueprint`. Its
:class:`~oam_preview.web.services.Services` (catalog, opener, imagery, response
cache) are built when an app registers it, from that app's ``OAM_PREVIEW_*``
config, unless given. The routes are :data:`oam_preview.web.views.ROUTES`. Every
error of a blueprint route is API.md's JSON error; every response carries CORS.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, current_app, g
from flask.blueprints import BlueprintSetupState

from .. import deadline
from ..catalog import Catalog, CatalogError
from ..catalog.store import CatalogStore
from ..config import Settings
from ..remote.opener import Opener
from . import access, metrics
from .responses import add_common_headers, error_response
from .services import Services
from .views import ROUTES

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # oam_preview/: its static/ and templates/


def create_blueprint(
    catalog: Catalog | CatalogStore | None = None,
    settings: Settings | None = None,
    name: str = "oam_preview",
    services: Services | None = None,
) -> Blueprint:
    """The oam-preview routes; register with ``app.register_blueprint(bp, url_prefix=...)``.

    ``catalog`` is a built :class:`Catalog`, a :class:`CatalogStore`, or
    ``None`` to load ``OAM_PREVIEW_CATALOG`` from the app's config. ``settings``
    default to the app's ``OAM_PREVIEW_*`` config keys. ``services`` replaces
    both with services built by the caller (e.g. :meth:`Services.build` with
    its own Opener or cache), as httpx takes a transport.
    """
    bp = Blueprint(
        name,
        __name__,
        # The page's files are package data beside web/: oam_preview/static and oam_preview/templates.
        root_path=str(PACKAGE_DIR),
        static_folder="static",
        static_url_path="/static",
        template_folder="templates",
    )

    @bp.record_once
    def _setup(state: BlueprintSetupState) -> None:
        app = state.app
        built = services or _build_services(app.config, catalog, settings)
        app.extensions.setdefault("oam_preview", {})[name] = built

    @bp.before_request
    def _bind() -> None:
        g.oam_preview = current_app.extensions["oam_preview"][name]
        deadline.start(g.oam_preview.settings.upstream_timeout)
        # An edit of the profiles file (a key, a privacy mark added or taken off): no restart.
        g.oam_preview.opener.cloud.watch()

    @bp.teardown_request
    def _unbind(exc: BaseException | None) -> None:
        deadline.clear()

    bp.after_request(add_common_headers)
    bp.after_request(access.private_cache_control)  # Cache-Control: private for private images
    bp.register_error_handler(Exception, error_response)
    for rule, view, *methods in ROUTES:
        bp.add_url_rule(rule, view_func=view, methods=list(methods[0]) if methods else ["GET"])
    metrics.register(bp)  # times and counts every request
    return bp


def _build_services(
    config: Mapping[str, Any], catalog: Catalog | CatalogStore | None, settings: Settings | None
) -> Services:
    """The services for an app's ``config``: one Opener for the tiles and the catalog's header reads."""
    resolved = settings or Settings.from_mapping(config)
    opener = Opener(resolved)
    if isinstance(catalog, CatalogStore):
        return Services.build(resolved, catalog, opener=opener)
    if isinstance(catalog, Catalog):
        return Services.build(resolved, CatalogStore.fixed(catalog), opener=opener)
    try:
        built = Services.build(resolved, None, opener=opener)  # OAM_PREVIEW_CATALOG, loaded now
    except CatalogError as exc:
        raise RuntimeError(str(exc)) from None
    built.store.start()
    return built


def init_app(app: Flask, catalog: Catalog | CatalogStore | None = None, url_prefix: str = "") -> Blueprint:
    """Register a new oam-preview blueprint on ``app`` at ``url_prefix``; return it."""
    bp = create_blueprint(catalog)
    app.register_blueprint(bp, url_prefix=url_prefix or None)
    return bp
