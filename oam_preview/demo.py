"""The embedded demo: synthetic but realistic-looking GeoTIFFs at real places, served over HTTP.

``build()`` generates the images once into the user's cache directory (a
minute or so on first run, with a progress bar); ``running_demo_catalog()``
serves them from a Range-capable :class:`~oam_preview.fileserver.FileServer`
so the app reads them with HTTP range requests, exactly as in production.
"""

from __future__ import annotations

import atexit
import json
import math
import os
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.enums import ColorInterp
from rasterio.transform import from_origin
from rasterio.warp import transform as warp_transform
from rasterio.windows import Window
from shapely.geometry import mapping

from .catalog import Catalog, load_document
from .fileserver import FileServer
from .georeference import geographic_footprint

#: Bump when the generated images change, so old caches are not reused.
DEMO_VERSION = "1"
BLOCK = 1024


@dataclass(frozen=True)
class DemoImage:
    """One demo GeoTIFF: where it is and how it is stored."""

    id: str
    title: str
    lon: float  # centre, degrees
    lat: float
    epsg: int
    resolution: float  # CRS units (metres) per pixel
    width: int
    height: int
    kind: str  # "rgb_cog", "rgb_collar_cog", "rgba_cog", "rgb_stripped", "uint16_cog", "palette_cog"
    provider: str
    acquired: str  # ISO date
    seed: int

    @property
    def filename(self) -> str:
        return f"{self.id}.tif"


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

PALETTE = {
    0: (0, 0, 0, 0),
    1: (31, 120, 180, 255),  # water
    2: (51, 160, 44, 255),  # trees
    3: (178, 223, 138, 255),  # crops
    4: (227, 26, 28, 255),  # built-up
    5: (253, 191, 111, 255),  # bare ground
}


def cache_dir() -> Path:
    """Where the demo images live: ``$OAM_PREVIEW_DEMO_DIR`` or the user's cache directory."""
    explicit = os.environ.get("OAM_PREVIEW_DEMO_DIR")
    if explicit:
        return Path(explicit)
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "oam-preview" / f"demo-v{DEMO_VERSION}"


# -- synthetic landscapes ---------------------------------------------------------------


def _smooth_noise(rng: np.random.Generator, cells: int) -> np.ndarray:
    return rng.random((cells + 2, cells + 2), dtype=np.float32)


def _sample(grid: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Bilinear sample of ``grid`` at fractional cell coordinates (u: cols, v: rows)."""
    u0 = np.floor(u).astype(np.int32)
    v0 = np.floor(v).astype(np.int32)
    fu, fv = (u - u0).astype(np.float32), (v - v0).astype(np.float32)
    fu = fu * fu * (3 - 2 * fu)  # smoothstep hides the grid
    fv = fv * fv * (3 - 2 * fv)
    a, b = grid[v0, u0], grid[v0, u0 + 1]
    c, d = grid[v0 + 1, u0], grid[v0 + 1, u0 + 1]
    return (a * (1 - fu) + b * fu) * (1 - fv) + (c * (1 - fu) + d * fu) * fv


class Landscape:
    """A deterministic aerial-looking landscape over a ``width`` x ``height`` pixel grid."""

    def __init__(self, width: int, height: int, seed: int) -> None:
        self.width, self.height = width, height
        rng = np.random.default_rng(seed)
        self.scale = max(width, height)
        self.octaves = [(_smooth_noise(rng, c), c) for c in (4, 9, 23, 61)]
        self.parcel = _smooth_noise(rng, 400)
        self.rng = rng
        self.angle = rng.uniform(0.2, 0.6)

    def _field(self, cols: np.ndarray, rows: np.ndarray) -> np.ndarray:
        total = np.zeros(cols.shape, np.float32)
        for i, (grid, cells) in enumerate(self.octaves):
            total += _sample(grid, cols / self.scale * cells, rows / self.scale * cells) * 0.5**i
        return total / 1.875

    def rgb(self, window: Window) -> tuple[np.ndarray, np.ndarray]:
        """(3, rows, cols) uint8 colours and the (rows, cols) land-cover class (1..5) of a window."""
        rows, cols = np.mgrid[
            window.row_off : window.row_off + window.height, window.col_off : window.col_off + window.width
        ].astype(np.float32)
        height = self._field(cols, rows)
        ca, sa = math.cos(self.angle), math.sin(self.angle)
        rx, ry = cols * ca - rows * sa, cols * sa + rows * ca
        parcel_u, parcel_v = np.floor(rx / 180.0), np.floor(ry / 120.0)
        parcel = self.parcel[(parcel_v % 400).astype(np.int32), (parcel_u % 400).astype(np.int32)]
        cls = np.full(height.shape, 3, np.uint8)
        cls[height < 0.36] = 1
        cls[(height >= 0.36) & (height < 0.45)] = 2
        cls[height > 0.62] = 4
        cls[(cls == 3) & (parcel < 0.12)] = 5
        colours = {
            1: (38, 62, 74),
            2: (46, 74, 38),
            3: (112, 128, 70),
            4: (142, 134, 124),
            5: (160, 138, 104),
        }
        out = np.zeros((3,) + height.shape, np.float32)
        for k, rgb in colours.items():
            sel = cls == k
            for b in range(3):
                out[b][sel] = rgb[b]
        crop_tint = (parcel - 0.5) * 60
        fields = cls == 3
        out[0][fields] += crop_tint[fields]
        out[1][fields] += crop_tint[fields] * 0.7
        # Buildings: roofs on a jittered grid in built-up areas.
        cell_u, cell_v = np.floor(rx / 28.0), np.floor(ry / 28.0)
        roof = self.parcel[(cell_v % 400).astype(np.int32), (cell_u % 400).astype(np.int32)]
        inside = (np.abs((rx % 28.0) - 14) < 10) & (np.abs((ry % 28.0) - 14) < 9)
        built = (cls == 4) & inside & (roof > 0.25)
        out[0][built] = 150 + roof[built] * 90
        out[1][built] = 80 + roof[built] * 60
        out[2][built] = 60 + roof[built] * 40
        # Roads every ~900 px, lanes in towns.
        road = (np.abs((rx % 900.0) - 450) < 5) | (np.abs((ry % 700.0) - 350) < 4)
        road |= (cls == 4) & ((np.abs((rx % 140.0) - 70) < 3) | (np.abs((ry % 112.0) - 56) < 3))
        road &= cls != 1
        for b, v in enumerate((118, 116, 112)):
            out[b][road] = v
        noise = self.rng.normal(0, 7, height.shape).astype(np.float32)
        out += noise[np.newaxis] + (height[np.newaxis] - 0.5) * 40
        return np.clip(out, 0, 255).astype(np.uint8), cls


# -- writing ----------------------------------------------------------------------------


def _profile(spec: DemoImage) -> dict[str, Any]:
    crs = CRS.from_epsg(spec.epsg)
    (x,), (y,) = warp_transform(CRS.from_epsg(4326), crs, [spec.lon], [spec.lat])
    left = x - spec.width * spec.resolution / 2
    top = y + spec.height * spec.resolution / 2
    return {
        "driver": "GTiff",
        "width": spec.width,
        "height": spec.height,
        "crs": crs,
        "transform": from_origin(left, top, spec.resolution, spec.resolution),
    }


def _windows(width: int, height: int) -> list[Window]:
    return [
        Window(c, r, min(BLOCK, width - c), min(BLOCK, height - r))
        for r in range(0, height, BLOCK)
        for c in range(0, width, BLOCK)
    ]


def _alpha(land: Landscape, window: Window) -> np.ndarray:
    """An irregular drone-survey footprint: 255 inside, 0 outside."""
    rows, cols = np.mgrid[
        window.row_off : window.row_off + window.height, window.col_off : window.col_off + window.width
    ].astype(np.float32)
    u = (cols / land.width - 0.5) * 2
    v = (rows / land.height - 0.5) * 2
    wobble = _sample(land.octaves[1][0], cols / land.scale * 9, rows / land.scale * 9) * 0.35
    return np.where(u * u + v * v * 1.3 < 0.75 + wobble, 255, 0).astype(np.uint8)


_TILED = {"tiled": True, "blockxsize": 512, "blockysize": 512}
#: The raw file of each kind of demo image, before it becomes a COG (all but the stripped upload).
KIND_PROFILES: dict[str, dict[str, Any]] = {
    "rgb_stripped": {"count": 3, "dtype": "uint8", "photometric": "RGB"},  # uncompressed strips
    "rgb_cog": {"count": 3, "dtype": "uint8", **_TILED},
    "rgba_cog": {"count": 4, "dtype": "uint8", **_TILED},
    "rgb_collar_cog": {"count": 3, "dtype": "uint8", "nodata": 0, **_TILED},
    "uint16_cog": {"count": 4, "dtype": "uint16", "nodata": 0, **_TILED},
    "palette_cog": {"count": 1, "dtype": "uint8", "nodata": 0, **_TILED},
}


def write_image(spec: DemoImage, path: Path, tick: Callable[[], None]) -> None:
    """Generate one demo image at ``path`` (via a temporary file, then renamed)."""
    from rio_cogeo.cogeo import cog_translate
    from rio_cogeo.profiles import cog_profiles

    land = Landscape(spec.width, spec.height, spec.seed)
    profile = _profile(spec)
    tmp_dir = Path(tempfile.mkdtemp(dir=path.parent))
    raw = tmp_dir / "raw.tif"
    windows = _windows(spec.width, spec.height)
    profile.update(KIND_PROFILES[spec.kind])
    with rasterio.open(raw, "w", **profile) as dst:
        if spec.kind == "rgba_cog":
            dst.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.alpha]
        if spec.kind == "palette_cog":
            dst.write_colormap(1, PALETTE)
        if spec.kind == "uint16_cog":
            dst.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.undefined]
        for window in windows:
            rgb, cls = land.rgb(window)
            if spec.kind == "uint16_cog":
                # Reflectance-like values, 0 outside a rotated scene (as Landsat scenes are).
                rows, cols = np.mgrid[
                    window.row_off : window.row_off + window.height,
                    window.col_off : window.col_off + window.width,
                ]
                inside = (
                    np.abs((cols - spec.width / 2) * 0.9 + (rows - spec.height / 2) * 0.4) < spec.width * 0.42
                )
                nir = np.where(cls == 1, 300, np.where(cls == 2, 4200, 2600)).astype(np.float32)
                bands = [rgb[i].astype(np.float32) * 28 + 400 for i in range(3)] + [nir]
                data = np.stack([np.where(inside, b, 0) for b in bands]).astype(np.uint16)
                dst.write(data, window=window)
            elif spec.kind == "palette_cog":
                dst.write(cls, 1, window=window)
            elif spec.kind == "rgba_cog":
                dst.write(np.concatenate([rgb, _alpha(land, window)[np.newaxis]]), window=window)
            elif spec.kind == "rgb_collar_cog":  # nodata (0) outside the flight's outline
                inside = _alpha(land, window) > 0
                dst.write(np.where(inside, np.maximum(rgb, 1), 0).astype(np.uint8), window=window)
            else:
                dst.write(rgb, window=window)
            tick()
    if spec.kind == "rgb_stripped":
        os.replace(raw, path)
    else:
        cog = cog_profiles.get("jpeg" if spec.kind == "rgb_cog" else "deflate")
        if spec.kind == "rgb_cog":
            cog.update(photometric="YCbCr")
        cog_translate(
            str(raw),
            str(path),
            cog,
            quiet=True,
            overview_resampling="average" if spec.kind != "palette_cog" else "nearest",
            in_memory=False,
        )
    for leftover in tmp_dir.iterdir():
        leftover.unlink()
    tmp_dir.rmdir()


def build(directory: Path | None = None, progress: bool = True) -> Path:
    """Generate the demo images that are missing in ``directory``; return it."""
    directory = directory or cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    missing = [spec for spec in DEMO_IMAGES if not (directory / spec.filename).exists()]
    if not missing:
        return directory
    total = sum(len(_windows(s.width, s.height)) for s in missing)
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


def running_demo_catalog() -> Catalog:
    """Build the demo if needed, serve it over HTTP, and return its catalog."""
    directory = build()
    server = start_server(directory)
    return load_document(catalog_document(directory, server.url))
