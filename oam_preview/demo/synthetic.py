"""Synthetic but realistic-looking GeoTIFFs for the demo: a landscape, and the file kinds served.

:class:`DemoImage` says where an image lies and how it is stored;
:func:`write_image` writes it, block by block (a 10240 px image needs little
memory), as a stripped upload or a COG.
"""

from __future__ import annotations

import math
import os
import tempfile
import warnings
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

BLOCK = 1024
#: The nodata value of the demo's surface model (OpenAerialMap's for elevation).
DSM_NODATA = -9999.0


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
    kind: str  # a key of KIND_PROFILES

    provider: str
    acquired: str  # ISO date
    seed: int

    @property
    def filename(self) -> str:
        return f"{self.id}.tif"


PALETTE = {
    0: (0, 0, 0, 0),
    1: (31, 120, 180, 255),  # water
    2: (51, 160, 44, 255),  # trees
    3: (178, 223, 138, 255),  # crops
    4: (227, 26, 28, 255),  # built-up
    5: (253, 191, 111, 255),  # bare ground
}


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


def windows(width: int, height: int) -> list[Window]:
    """The blocks an image of ``width`` x ``height`` pixels is written in (BLOCK pixels square)."""
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


def _collared(spec: DemoImage, window: Window, rgb: np.ndarray) -> np.ndarray:
    """``rgb`` inside a rotated rectangle, black (0) outside it: the collar of an ortho warped
    north-up and uploaded as JPEG without a nodata value (OAM's ``&nodata=0`` case)."""
    rows, cols = np.mgrid[
        window.row_off : window.row_off + window.height, window.col_off : window.col_off + window.width
    ].astype(np.float32)
    u, v = cols - spec.width / 2, rows - spec.height / 2
    ca, sa = math.cos(0.35), math.sin(0.35)
    inside = (np.abs(u * ca - v * sa) < spec.width * 0.36) & (np.abs(u * sa + v * ca) < spec.height * 0.36)
    # At least 1 inside, so only the collar is 0 before the JPEG blurs its edge.
    return np.where(inside, np.maximum(rgb, 1), 0).astype(np.uint8)


def _flooded(land: Landscape, window: Window, rgb: np.ndarray) -> np.ndarray:
    """``rgb`` after a flood: muddy brown water over a wide lobe of the image's middle and
    its low ground, so a before/after pair shows the change at any zoom."""
    rows, cols = np.mgrid[
        window.row_off : window.row_off + window.height, window.col_off : window.col_off + window.width
    ].astype(np.float32)
    u = (cols / land.width - 0.45) * 2
    v = (rows / land.height - 0.55) * 2
    wobble = _sample(land.octaves[2][0], cols / land.scale * 23, rows / land.scale * 23) * 0.3
    water = (u * u * 0.8 + v * v < 0.55 + wobble) | (land._field(cols, rows) < 0.42)
    out = rgb.astype(np.float32)
    for b, value in enumerate((122, 98, 64)):
        out[b][water] = value + (out[b][water] - out[b][water].mean()) * 0.15 if water.any() else value
    return np.clip(out, 0, 255).astype(np.uint8)


_TILED = {"tiled": True, "blockxsize": 512, "blockysize": 512}
#: The raw file of each kind of demo image, before it becomes a COG (all but the stripped upload).
KIND_PROFILES: dict[str, dict[str, Any]] = {
    "rgb_stripped": {"count": 3, "dtype": "uint8", "photometric": "RGB"},  # uncompressed strips
    "rgb_cog": {"count": 3, "dtype": "uint8", **_TILED},
    "rgb_flood_cog": {"count": 3, "dtype": "uint8", **_TILED},
    "rgb_jpeg_collar_cog": {"count": 3, "dtype": "uint8", **_TILED},  # black collar, no nodata set
    "rgba_cog": {"count": 4, "dtype": "uint8", **_TILED},
    "rgb_collar_cog": {"count": 3, "dtype": "uint8", "nodata": 0, **_TILED},
    "uint16_cog": {"count": 4, "dtype": "uint16", "nodata": 0, **_TILED},
    "palette_cog": {"count": 1, "dtype": "uint8", "nodata": 0, **_TILED},
    # As OpenAerialMap's current upload pipeline writes them: lossless ZSTD in the native type.
    "dsm_zstd_cog": {"count": 1, "dtype": "float32", "nodata": DSM_NODATA, **_TILED},
    "multispectral_zstd_cog": {"count": 4, "dtype": "uint16", "nodata": 0, **_TILED},
    "landcover_zstd_cog": {"count": 1, "dtype": "uint8", "nodata": 0, **_TILED},
}
#: The kinds written as OpenAerialMap's pipeline does, lossless ZSTD: each kind's predictor (2,
#: horizontal, for integers; 3, floating point; 1, none, for classes) and level. OAM's level is
#: 12; the visual images take 6, lossless all the same: on the 10240 px aerial, level 12 cost
#: 75 s of CPU against 39 s for a file 2 % smaller (167 against 170 MB), most of the demo's
#: build. Not the uploads kept as they were: the stripped file and the JPEG one whose collar
#: JPEG made near-black (Freetown).
ZSTD_KINDS: dict[str, tuple[int, int]] = {
    "rgb_cog": (2, 6),
    "rgb_flood_cog": (2, 6),
    "rgb_collar_cog": (2, 6),
    "rgba_cog": (2, 6),
    "dsm_zstd_cog": (3, 12),
    "multispectral_zstd_cog": (2, 12),
    "landcover_zstd_cog": (1, 12),
}
#: Names of the multispectral survey's bands, in order (STAC ``eo:common_name``).
MULTISPECTRAL_BANDS = ("red", "green", "blue", "nir")


def has_zstd() -> bool:
    """Whether the installed GDAL writes ZSTD-compressed GeoTIFFs."""
    from rasterio.io import MemoryFile

    try:
        with (
            MemoryFile() as memory,
            memory.open(
                driver="GTiff", width=8, height=8, count=1, dtype="uint8", compress="zstd"
            ) as dataset,
        ):
            dataset.write(np.zeros((1, 8, 8), np.uint8))
        return True
    except Exception:  # noqa: BLE001  # a GDAL without the codec: deflate instead
        return False


def elevation(land: Landscape, window: Window) -> np.ndarray:
    """A surface model of the landscape's window, metres: a volcano-flanked valley from about
    800 m to 1,400 m, with a crater, the ``-9999`` nodata outside a surveyed ellipse."""
    rows, cols = np.mgrid[
        window.row_off : window.row_off + window.height, window.col_off : window.col_off + window.width
    ].astype(np.float32)
    u = (cols / land.width - 0.5) * 2
    v = (rows / land.height - 0.5) * 2
    cone = np.clip(1.0 - np.hypot(u - 0.25, v + 0.2) / 0.7, 0, None) ** 1.6 * 450
    crater = np.clip(1.0 - np.hypot(u - 0.25, v + 0.2) / 0.12, 0, None) * -120
    heights = 800 + land._field(cols, rows) * 180 + cone + crater
    surveyed = u * u + v * v * 1.2 < 0.92
    return np.where(surveyed, heights, DSM_NODATA).astype(np.float32)


def write_image(spec: DemoImage, path: Path, tick: Callable[[], None]) -> None:
    """Generate one demo image at ``path`` (via a temporary file, then renamed)."""
    from rio_cogeo.cogeo import cog_translate
    from rio_cogeo.profiles import cog_profiles

    land = Landscape(spec.width, spec.height, spec.seed)
    profile = _profile(spec)
    tmp_dir = Path(tempfile.mkdtemp(dir=path.parent))
    raw = tmp_dir / "raw.tif"
    blocks = windows(spec.width, spec.height)
    profile.update(KIND_PROFILES[spec.kind])
    with rasterio.open(raw, "w", **profile) as dst:
        if spec.kind == "rgba_cog":
            dst.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.alpha]
        if spec.kind == "palette_cog":
            dst.write_colormap(1, PALETTE)
        if spec.kind == "uint16_cog":
            dst.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.undefined]
        if spec.kind == "landcover_zstd_cog":
            dst.write_colormap(1, PALETTE)
        if spec.kind == "multispectral_zstd_cog":  # as a drone camera's: bands named, no colours
            dst.colorinterp = [ColorInterp.undefined] * 4
            for band, name in enumerate(MULTISPECTRAL_BANDS, start=1):
                dst.set_band_description(band, name)
        for window in blocks:
            rgb, cls = land.rgb(window)
            if spec.kind == "dsm_zstd_cog":
                dst.write(elevation(land, window), 1, window=window)
            elif spec.kind == "landcover_zstd_cog":
                dst.write(np.where(_alpha(land, window) > 0, cls, 0).astype(np.uint8), 1, window=window)
            elif spec.kind in ("uint16_cog", "multispectral_zstd_cog"):
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
            elif spec.kind == "rgb_flood_cog":  # the same landscape after a flood: muddy water
                dst.write(_flooded(land, window, rgb), window=window)
            elif spec.kind == "rgb_jpeg_collar_cog":  # a warped upload: black outside, lossy JPEG
                dst.write(_collared(spec, window, rgb), window=window)
            elif spec.kind == "rgb_collar_cog":  # nodata (0) outside the flight's outline
                inside = _alpha(land, window) > 0
                dst.write(np.where(inside, np.maximum(rgb, 1), 0).astype(np.uint8), window=window)
            else:
                dst.write(rgb, window=window)
            tick()
    if spec.kind == "rgb_stripped":
        os.replace(raw, path)
    else:
        zstd = spec.kind in ZSTD_KINDS and has_zstd()
        # Without the codec, the visual images fall back to JPEG as they were; the others to DEFLATE.
        jpeg = spec.kind == "rgb_jpeg_collar_cog" or (not zstd and spec.kind in ("rgb_cog", "rgb_flood_cog"))
        with warnings.catch_warnings():  # rio-cogeo's note that ZSTD is not in the COG spec: OAM's choice
            warnings.simplefilter("ignore", UserWarning)
            cog = cog_profiles.get("jpeg" if jpeg else "zstd" if zstd else "deflate")
        if jpeg:
            cog.update(photometric="YCbCr")
        if zstd:  # OpenAerialMap's: 512 px blocks, the predictor of the data type
            predictor, level = ZSTD_KINDS[spec.kind]
            cog.update(zstd_level=level, predictor=predictor, blockxsize=512, blockysize=512)
        categorical = spec.kind in ("palette_cog", "landcover_zstd_cog")
        cog_translate(
            str(raw),
            str(path),
            cog,
            quiet=True,
            overview_resampling="nearest" if categorical else "average",
            in_memory=False,
        )
    for leftover in tmp_dir.iterdir():
        leftover.unlink()
    tmp_dir.rmdir()
