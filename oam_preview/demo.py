"""The embedded demo: synthetic but realistic-looking GeoTIFFs at real places, served over HTTP.

``build()`` generates the images once into the user's cache directory (a
minute or so on first run, with a progress bar); ``running_demo_catalog()``
serves them from a Range-capable :class:`~oam_preview.fileserver.FileServer`
so the app reads them with HTTP range requests, exactly as in production.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import threading
import urllib.parse
from pathlib import Path
from typing import Any

import rasterio
from shapely.geometry import mapping

from .catalog import Catalog, load_document
from .fileserver import FileServer
from .geo.georeference import geographic_footprint
from .synthetic import DemoImage, windows, write_image

#: The demo's base map unless ``OAM_PREVIEW_BASEMAP_URL`` is set: "" is the page's offline
#: Natural Earth layer, so ``make serve`` shows the world without a network.
DEMO_BASEMAP_URL = ""

#: Bump when the generated images change, so old caches are not reused.
DEMO_VERSION = "1"

DEMO_IMAGES = (
    DemoImage(
        "kathmandu-aerial",
        "Kathmandu valley, aerial mosaic (synthetic, 10240 px)",
        85.324,
        27.708,
        32645,
        0.3,
        10240,
        10240,
        "rgb_cog",
        "oam-preview demo",
        "2024-03-14",
        1,
    ),
    # Two more over Kathmandu, so the mosaic ("all imagery") has a stack to composite: an older,
    # coarser satellite scene around the aerial, and a newer drone survey inside it whose
    # nodata collar lets the aerial show through.
    DemoImage(
        "kathmandu-satellite",
        "Kathmandu valley, satellite scene (synthetic, 2 m)",
        85.326,
        27.706,
        32645,
        2.0,
        2560,
        2560,
        "rgb_cog",
        "oam-preview demo",
        "2019-11-02",
        6,
    ),
    DemoImage(
        "kathmandu-drone",
        "Kathmandu, drone survey with a nodata collar (synthetic, 12 cm)",
        85.3265,
        27.7095,
        32645,
        0.12,
        2400,
        2400,
        "rgb_collar_cog",
        "oam-preview demo",
        "2025-04-20",
        7,
    ),
    # A before/after pair over Beira (cyclone Idai's floods, 2019): one landscape, then flooded,
    # so the page's compare swipe and timeline show a change at once.
    DemoImage(
        "beira-before",
        "Beira, before the flood (synthetic, 50 cm)",
        34.853,
        -19.835,
        32736,
        0.5,
        2048,
        2048,
        "rgb_cog",
        "oam-preview demo",
        "2019-02-20",
        8,
    ),
    DemoImage(
        "beira-after",
        "Beira, after the flood (synthetic, 50 cm)",
        34.853,
        -19.835,
        32736,
        0.5,
        2048,
        2048,
        "rgb_flood_cog",
        "oam-preview demo",
        "2019-03-22",
        8,
    ),
    DemoImage(
        "freetown-collar",
        "Freetown, warped JPEG upload with a black collar (synthetic; try nodata=0)",
        -13.234,
        8.484,
        32628,
        0.5,
        2048,
        2048,
        "rgb_jpeg_collar_cog",
        "oam-preview demo",
        "2023-09-12",
        9,
    ),
    DemoImage(
        "dar-es-salaam-drone",
        "Dar es Salaam, drone survey with alpha (synthetic)",
        39.272,
        -6.792,
        32737,
        0.1,
        2400,
        1800,
        "rgba_cog",
        "oam-preview demo",
        "2023-08-02",
        2,
    ),
    DemoImage(
        "port-au-prince-stripped",
        "Port-au-Prince, stripped non-COG upload (synthetic)",
        -72.335,
        18.543,
        32618,
        0.5,
        3000,
        2400,
        "rgb_stripped",
        "oam-preview demo",
        "2022-01-20",
        3,
    ),
    DemoImage(
        "nairobi-uint16",
        "Nairobi, 4-band 16-bit satellite scene (synthetic)",
        36.82,
        -1.29,
        32737,
        10.0,
        2048,
        2048,
        "uint16_cog",
        "oam-preview demo",
        "2021-11-05",
        4,
    ),
    DemoImage(
        "dhaka-landcover",
        "Dhaka, land-cover classes with a palette (synthetic)",
        90.41,
        23.81,
        3857,
        2.0,
        2048,
        2048,
        "palette_cog",
        "oam-preview demo",
        "2020-06-30",
        5,
    ),
)


def cache_dir() -> Path:
    """Where the demo images live: ``$OAM_PREVIEW_DEMO_DIR`` or the user's cache directory."""
    explicit = os.environ.get("OAM_PREVIEW_DEMO_DIR")
    if explicit:
        return Path(explicit)
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "oam-preview" / f"demo-v{DEMO_VERSION}"


def build(directory: Path | None = None, progress: bool = True) -> Path:
    """Generate the demo images that are missing in ``directory``; return it."""
    directory = directory or cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    missing = [spec for spec in DEMO_IMAGES if not (directory / spec.filename).exists()]
    if not missing:
        return directory
    total = sum(len(windows(s.width, s.height)) for s in missing)
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        # Redraw only when the bar grows, so a log file gets 30 lines, not hundreds.
        if progress and (30 * done // total != 30 * (done - 1) // total or done == total):
            bar = "#" * (30 * done // total)
            end = "\r" if sys.stderr.isatty() else "\n"
            sys.stderr.write(f"building demo images in {directory} [{bar:<30}] {done}/{total}{end}")
            sys.stderr.flush()

    for spec in missing:
        write_image(spec, directory / spec.filename, tick)
    if progress and sys.stderr.isatty():
        sys.stderr.write("\n")
    return directory


def catalog_document(directory: Path, base_url: str) -> dict[str, Any]:
    """The demo catalog as API.md's GeoJSON, with GeoTIFF URLs under ``base_url``."""
    features = []
    for spec in DEMO_IMAGES:
        with rasterio.open(directory / spec.filename) as dataset:
            footprint, gsd = geographic_footprint(dataset)
        features.append(
            {
                "type": "Feature",
                "id": spec.id,
                "geometry": mapping(footprint) if footprint is not None else None,
                "properties": {
                    "title": spec.title,
                    "source_url": f"{base_url}/{spec.filename}",
                    "gsd": round(gsd, 3) if gsd else None,
                    "acquisition_start": spec.acquired,
                    "acquisition_end": spec.acquired,
                    "provider": spec.provider,
                    "license": "CC0-1.0",
                },
            }
        )
    return {"type": "FeatureCollection", "features": features}


def write_catalog(directory: Path, base_url: str) -> Path:
    """Write the demo catalog for a file server at ``base_url``; return its path."""
    path = directory / "catalog.json"
    path.write_text(json.dumps(catalog_document(directory, base_url), indent=1))
    return path


_server: FileServer | None = None
_server_lock = threading.Lock()


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


def running_demo_catalog() -> Catalog:
    """Build the demo if needed, serve it over HTTP, and return its catalog."""
    directory = build()
    server = start_server(directory)
    return load_document(catalog_document(directory, server.url))
