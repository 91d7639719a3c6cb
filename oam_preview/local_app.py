"""The app's own routes in this process, through a Flask test client: how ``seed`` and ``export``
get tiles that are the tile routes' very bytes (the same render, cache and versions)."""

from __future__ import annotations

import time

from .catalog import Catalog
from .config import Settings


class LocalApp:
    """A standalone app at the root URL of ``settings`` (``catalog``: the images to serve, else
    the settings' catalog), and its test client."""

    def __init__(self, settings: Settings, catalog: Catalog | None = None) -> None:
        # At call time, not import time: the route that submits exports imports export, which
        # builds one of these in its job's own process.
        from .web.app import create_app

        self.settings = settings
        self.app = create_app(settings.as_config() | {"OAM_PREVIEW_PREFIX": ""}, catalog=catalog)
        self.client = self.app.test_client()

    def catalog(self) -> Catalog:
        """The catalog the app serves now."""
        services = self.app.extensions["oam_preview"]["oam_preview"]
        catalog: Catalog = services.store.catalog
        return catalog

    def wait_for_footprints(self, timeout: float = 120.0) -> None:
        """A mosaic places images by their footprints: let the background fill the missing ones
        (at most ``timeout`` seconds)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.client.get("/healthz").get_json()["catalog"].get("footprints_pending"):
                return
            time.sleep(0.2)
