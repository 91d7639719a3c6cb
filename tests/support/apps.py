"""The apps the tests build: a test client's app over a catalog, a live one on a loopback port,
and the wait until an app has read its catalog's footprints."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.serving import make_server

from oam_preview import create_app
from oam_preview.catalog import Catalog, load_document

from .catalog_documents import Image


def app_over(catalog: Catalog | dict[str, Any], **config: Any) -> Flask:
    """An app over ``catalog`` (a Catalog or a GeoJSON catalog document), no base map, ``config``
    (``OAM_PREVIEW_*`` settings) on top."""
    if isinstance(catalog, dict):
        catalog = load_document(catalog)
    return create_app({"OAM_PREVIEW_BASEMAP_URL": "", **config}, catalog=catalog)


def wait_for_footprints(client: Any, timeout: float = 30.0) -> None:
    """Until the app of ``client`` (a Flask test client) has read every footprint its catalog
    lacks (from the images' headers, in the background); fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while (pending := client.get("/healthz").get_json()["catalog"]["footprints_pending"]) != 0:
        assert time.monotonic() < deadline, f"{pending} footprints still pending after {timeout} s"
        time.sleep(0.05)


@contextmanager
def served(app: Any) -> Iterator[str]:
    """``app`` on a free loopback port, threaded, from a daemon thread; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@dataclass
class LiveApp:
    """An app served on loopback, for a browser: where its page is and what its catalog holds."""

    root: str  # absolute URL of the page, prefix included, no trailing slash
    host: str  # scheme://host:port, to tell the app's own responses apart
    images: list[Image] = field(default_factory=list)

    @property
    def page_url(self) -> str:
        return self.root + "/"


@contextmanager
def serve_app(
    catalog: Path,
    prefix: str = "",
    images: list[Image] | None = None,
    basemap: str = "",
    config: dict[str, Any] | None = None,
) -> Iterator[LiveApp]:
    """The app over the catalog file ``catalog``, served on loopback under ``prefix``."""
    config = {
        "OAM_PREVIEW_CATALOG": str(catalog),
        "OAM_PREVIEW_BASEMAP_URL": basemap,
        **(config or {}),
    }
    if prefix:
        config["OAM_PREVIEW_PREFIX"] = prefix
    with served(create_app(config)) as host:
        yield LiveApp(root=host + prefix, host=host, images=images or [])
