"""The standalone app: the blueprint at ``OAM_PREVIEW_PREFIX``, JSON errors for every URL."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from ..catalog import Catalog
from ..catalog.store import CatalogStore
from ..config import DEMO_CATALOG, Settings
from .blueprint import create_blueprint
from .responses import add_common_headers, error_response


def create_app(
    config: Mapping[str, Any] | None = None,
    catalog: Catalog | CatalogStore | None = None,
) -> Flask:
    """Build the oam-preview app.

    Settings come from ``OAM_PREVIEW_*`` environment variables, overridden by
    ``config``. ``catalog`` overrides ``OAM_PREVIEW_CATALOG``. The app serves a
    catalog and starts no server of its own: the catalog ``demo`` (the default)
    is made servable first by :func:`oam_preview.demo.switch.serving_config`, as
    ``oam-preview serve`` does (``ValueError`` otherwise).
    """
    app = Flask(__name__, static_folder=None)
    app.config.from_mapping(Settings.from_env().as_config())
    if config:
        app.config.from_mapping(config)
    settings = Settings.from_mapping(app.config)
    if catalog is None and settings.catalog == DEMO_CATALOG:
        raise ValueError(
            f"OAM_PREVIEW_CATALOG={DEMO_CATALOG}: the embedded demo is served by `oam-preview serve`; "
            "in Python, add oam_preview.demo.switch.serving_config(config) to the config first"
        )
    app.register_blueprint(create_blueprint(catalog, settings), url_prefix=settings.prefix or None)
    if settings.trusted_proxies:
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n, x_prefix=n)  # type: ignore[method-assign]
    # Outside the blueprint's routes too (unknown URLs, 405s): JSON errors and CORS.
    app.register_error_handler(Exception, error_response)
    app.after_request(add_common_headers)
    return app
