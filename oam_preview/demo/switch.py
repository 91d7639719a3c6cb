"""The "catalog or demo" switch: what serves ``OAM_PREVIEW_CATALOG=demo`` (the default).

The web app serves a catalog path or URL and never starts a file server; the
commands (``oam-preview serve``, ``thumbnail``, ``seed``, ``export``) pass their
settings through :func:`serving_config` first, which turns the demo into such
a catalog: the images built, their file server started, its own catalog file.
"""

from __future__ import annotations

import atexit
import threading
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..config import DEMO_CATALOG, Settings
from .catalog import own_catalog_file
from .fileserver import FileServer
from .images import build

#: The demo's base map unless ``OAM_PREVIEW_BASEMAP_URL`` is set: "" is the page's offline
#: Natural Earth layer, so ``make serve`` shows the world without a network.
DEMO_BASEMAP_URL = ""

_server: FileServer | None = None
_server_lock = threading.Lock()


def serving_config(config: Mapping[str, Any]) -> dict[str, str]:
    """The ``OAM_PREVIEW_*`` values to add to ``config`` (settings as keys, e.g. ``os.environ``)
    for it to be served: none when its catalog is a path or URL. For the demo: the images built
    (once), their file server started (one per process, stopped at exit), the catalog written to
    a file of this process's own for that server, the server allowed upstream (it is on
    loopback) and the offline base map unless one is set."""
    settings = Settings.from_mapping(config)
    if settings.catalog != DEMO_CATALOG:
        return {}
    directory = build()
    server = start_server(directory)
    values = {
        "OAM_PREVIEW_CATALOG": str(own_catalog_file(directory, server.url)),
        "OAM_PREVIEW_UPSTREAM_ALLOW": allowing_demo(settings.upstream_allow, server),
    }
    if config.get("OAM_PREVIEW_BASEMAP_URL") is None:
        values["OAM_PREVIEW_BASEMAP_URL"] = DEMO_BASEMAP_URL
    return values


def serving_settings(config: Mapping[str, Any]) -> Settings:
    """The :class:`Settings` of ``config`` with :func:`serving_config`'s values."""
    return Settings.from_mapping({**config, **serving_config(config)})


def start_server(directory: Path) -> FileServer:
    """The demo's file server (one per process, stopped at exit)."""
    global _server
    with _server_lock:
        if _server is None:
            _server = FileServer(directory).start()
            atexit.register(_server.stop)
        return _server


def allowing_demo(allow: str, server: FileServer) -> str:
    """``OAM_PREVIEW_UPSTREAM_ALLOW`` plus the demo's own file server (on loopback)."""
    netloc = urllib.parse.urlsplit(server.url).netloc
    return f"{allow} {netloc}".strip()
