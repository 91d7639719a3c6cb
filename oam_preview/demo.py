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
import shutil
import sys
import tempfile
import threading
import urllib.parse
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from shapely.geometry import mapping

from .catalog import Catalog, load_document
from .fileserver import FileServer
from .geo.georeference import geographic_footprint
from .progress_lines import ProgressLines
from .synthetic import BLOCK, DSM_NODATA, MULTISPECTRAL_BANDS, DemoImage, windows, write_image

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
    # OpenAerialMap's current uploads: lossless ZSTD COGs in their native data type, each item
    # with its product type and render hints (STAC render extension v2), as its STAC API has them.
    DemoImage(
        "goma-dsm",
        "Goma, drone surface model of a volcano's flank (synthetic, float32, 50 cm)",
        29.23,
        -1.66,
        32735,
        0.5,
        2048,
        2048,
        "dsm_zstd_cog",
        "oam-preview demo",
        "2021-06-10",
        11,
    ),
    DemoImage(
        "kigali-multispectral",
        "Kigali, 4-band multispectral drone survey (synthetic, uint16 R G B NIR)",
        30.06,
        -1.95,
        32735,
        0.2,
        2048,
        2048,
        "multispectral_zstd_cog",
        "oam-preview demo",
        "2022-07-15",
        12,
    ),
    DemoImage(
        "lusaka-landcover",
        "Lusaka, land-cover classes with the catalog's colours (synthetic)",
        28.28,
        -15.42,
        32735,
        1.0,
        2048,
        2048,
        "landcover_zstd_cog",
        "oam-preview demo",
        "2023-03-01",
        13,
    ),
)

#: OpenAerialMap's product type of each kind of demo file.
PRODUCT_TYPES = {
    "dsm_zstd_cog": "elevation",
    "multispectral_zstd_cog": "multispectral",
    "landcover_zstd_cog": "pseudocolor",
    "palette_cog": "pseudocolor",
    "uint16_cog": "multispectral",
}
#: The land-cover classes' colours as the catalog gives them (a JSON colormap, TiTiler's form).
LANDCOVER_COLORMAP = {
    "1": [0, 92, 230, 255],  # water
    "2": [38, 115, 0, 255],  # trees
    "3": [230, 230, 0, 255],  # crops
    "4": [168, 0, 0, 255],  # built-up
    "5": [205, 170, 102, 255],  # bare ground
}


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
    label = f"building demo images in {directory}"
    lines = (
        ProgressLines(label, total, f"blocks of {BLOCK} px") if progress and not sys.stderr.isatty() else None
    )
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if lines is not None:  # a log or a pipe: a line at each tenth
            lines.update()
        elif progress and (30 * done // total != 30 * (done - 1) // total or done == total):
            bar = "#" * (30 * done // total)  # redrawn only when it grows
            sys.stderr.write(f"{label} [{bar:<30}] {done}/{total} blocks\r")
            sys.stderr.flush()

    if lines is not None:
        lines.start()
    for spec in missing:
        write_image(spec, directory / spec.filename, tick)
    if progress and lines is None:
        sys.stderr.write("\n")
    return directory


def catalog_document(directory: Path, base_url: str) -> dict[str, Any]:
    """The demo catalog as a STAC ItemCollection shaped like OpenAerialMap's STAC API answers,
    with GeoTIFF URLs under ``base_url``: each item's ``visual`` asset, product type and, for the
    ZSTD uploads, render hints."""
    features = []
    for spec in DEMO_IMAGES:
        with rasterio.open(directory / spec.filename) as dataset:
            footprint, gsd = geographic_footprint(dataset)
            ranges = _stretch(dataset) if spec.kind in ("dsm_zstd_cog", "multispectral_zstd_cog") else []
        asset: dict[str, Any] = {
            "href": f"{base_url}/{spec.filename}",
            "type": "image/tiff; application=geotiff; profile=cloud-optimized",
            "roles": ["data", "visual"],
        }
        properties: dict[str, Any] = {
            "title": spec.title,
            "datetime": f"{spec.acquired}T00:00:00Z",
            "gsd": round(gsd, 3) if gsd else None,
            "license": "CC0-1.0",
            "oam:producer_name": spec.provider,
            "oam:product_type": PRODUCT_TYPES.get(spec.kind, "visual"),
        }
        renders = _renders(spec, ranges)
        if renders:
            properties["renders"] = renders
        if spec.kind == "multispectral_zstd_cog":
            asset["bands"] = [
                {"name": name, "eo:common_name": name, "data_type": "uint16", "nodata": 0}
                for name in MULTISPECTRAL_BANDS
            ]
        features.append(
            {
                "type": "Feature",
                "stac_version": "1.1.0",
                "stac_extensions": ["https://stac-extensions.github.io/render/v2.0.0/schema.json"],
                "id": spec.id,
                "collection": "openaerialmap",
                "geometry": mapping(footprint) if footprint is not None else None,
                "bbox": list(footprint.bounds) if footprint is not None else None,
                "properties": properties,
                "assets": {"visual": asset},
                "links": [],
            }
        )
    return {"type": "FeatureCollection", "features": features, "links": []}


def _stretch(dataset: Any) -> list[list[float]]:
    """Each band's 2nd and 98th percentiles of valid values, from a 256 px read, rounded: the
    ``rescale`` the upload pipeline writes into a render."""
    scale = max(dataset.width, dataset.height) / 256
    out_shape = (dataset.count, max(1, round(dataset.height / scale)), max(1, round(dataset.width / scale)))
    data = dataset.read(out_shape=out_shape, masked=True)
    ranges = []
    for band in data:
        low, high = np.percentile(band.compressed(), (2, 98))
        ranges.append([round(float(low), 1), round(float(high), 1)])
    return ranges


def _renders(spec: DemoImage, ranges: list[list[float]]) -> dict[str, Any]:
    """The render hints of an OpenAerialMap-style demo item (none for the older uploads)."""
    if spec.kind == "dsm_zstd_cog":
        return {
            "browse": {
                "assets": ["visual"],
                "title": "Elevation",
                "bidx": [1],
                "rescale": ranges[:1],
                "colormap_name": "terrain",
                "nodata": DSM_NODATA,
            },
            "hillshade": {"assets": ["visual"], "title": "Hillshade", "algorithm": "hillshade"},
        }
    if spec.kind == "multispectral_zstd_cog":
        return {
            "browse": {
                "assets": ["visual"],
                "title": "True colour",
                "bands": [["red", "green", "blue"]],
                "rescale": ranges[:3],
                "nodata": 0,
            },
            "ndvi": {
                "assets": ["visual"],
                "title": "NDVI",
                "expression": "(b4-b1)/(b4+b1)",
                "rescale": [[-1, 1]],
                "colormap_name": "rdylgn",
                "nodata": 0,
            },
        }
    if spec.kind == "landcover_zstd_cog":
        return {
            "browse": {
                "assets": ["visual"],
                "title": "Land cover",
                "colormap": LANDCOVER_COLORMAP,
                "nodata": 0,
            }
        }
    return {}


def own_catalog_file(directory: Path, base_url: str) -> Path:
    """Write the demo catalog for the file server at ``base_url`` into a new file of this process's
    own, removed when this process exits; return its path.

    One file per server, never the demo directory's: the workers of a ``serve`` read it whenever
    they start, so a shared file rewritten by a second demo server sent the first one's restarted
    workers to the second's port (refused: 403).
    """
    home = Path(tempfile.mkdtemp(prefix="oam-preview-demo-"))
    path = home / "catalog.json"
    path.write_text(json.dumps(catalog_document(directory, base_url), indent=1))
    owner = os.getpid()

    def remove() -> None:
        if os.getpid() == owner:  # not in a forked worker, whose exit runs its parent's handlers too
            shutil.rmtree(home, ignore_errors=True)

    atexit.register(remove)
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
