"""The benchmark's GeoTIFFs, built once into ``benchmarks/work/`` and kept between runs.

- ``big_cog``: 20480x20480 RGB JPEG (YCbCr, quality 85) COG, 512 px blocks,
  overviews down to one block, EPSG:3857 at 0.3 m (an aerial ortho of a city).
- ``stripped``: 8000x8000 RGB uncompressed, stripped, no overviews (a raw upload).
- ``uint16``: 4096x4096 4-band (R, G, B, NIR) uint16 DEFLATE COG with nodata 0.
- ``deflate64``: 8000x8000 RGB DEFLATE + horizontal predictor, 64-row strips, no
  overviews (a GIS export).
- ``pix4d``: 8000x8000 RGBA LZW, 1-row strips, no overviews, an alpha footprint
  (a Pix4D orthomosaic export).

Every image is written block by block (never held whole in memory), first to
a temporary tiled GeoTIFF, then copied to its final layout by GDAL's COG
driver. File names carry a version: change the recipe, bump it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import ColorInterp
from rasterio.shutil import copy as rio_copy
from rasterio.transform import from_origin
from rasterio.windows import Window

VERSION = 1
BIG_SIZE = 20480
STRIPPED_SIZE = 8000
UINT16_SIZE = 4096
BLOCK = 512
#: Kathmandu, Web Mercator metres (west, north) and pixel size in metres.
BIG_ORIGIN = (9497000.0, 3211000.0, 0.3)

NAMES = {
    "big_cog": f"big_cog_v{VERSION}.tif",
    "stripped": f"stripped_v{VERSION}.tif",
    "uint16": f"uint16_v{VERSION}.tif",
    "deflate64": f"deflate64_v{VERSION}.tif",
    "pix4d": f"pix4d_v{VERSION}.tif",
}


def _texture(seed: int) -> np.ndarray:
    """A fixed (1024, 1024) float32 noise field, reused at varying offsets (cheap texture)."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(0.0, 1.0, (1024, 1024)).astype(np.float32)
    # A little smoothing so JPEG sees texture, not white noise (aerial imagery is not noise).
    return (noise + np.roll(noise, 1, 0) + np.roll(noise, 1, 1) + np.roll(noise, (1, 1), (0, 1))) / 2


def _parcels(seed: int, cells: int) -> np.ndarray:
    """(cells, cells, 3) random field colours, one per 96 px parcel."""
    rng = np.random.default_rng(seed)
    greens = rng.integers(0, 4, (cells, cells))
    palette = np.array(
        [[96, 112, 64], [150, 140, 110], [70, 90, 60], [180, 170, 160]], dtype=np.float32
    )  # crops, bare soil, trees, roofs
    jitter = rng.normal(0, 12, (cells, cells, 3)).astype(np.float32)
    return palette[greens] + jitter


def rgb_block(
    row0: int, col0: int, rows: int, cols: int, parcels: np.ndarray, texture: np.ndarray
) -> np.ndarray:
    """(3, rows, cols) uint8 pixels of a synthetic aerial image at a pixel offset."""
    r = np.arange(row0, row0 + rows)
    c = np.arange(col0, col0 + cols)
    colour = parcels[(r // 96) % parcels.shape[0]][:, (c // 96) % parcels.shape[1]]  # rows, cols, 3
    tex = texture[np.ix_(r % 1024, (c * 7) % 1024)] * 14.0
    roads = ((r[:, None] % 480) < 10) | ((c[None, :] % 640) < 12)
    out = colour + tex[..., None]
    out[roads] = (120, 120, 125)
    return np.clip(out, 0, 255).astype(np.uint8).transpose(2, 0, 1)


def _write_blockwise(
    path: Path, profile: dict, produce: Callable[[Window], np.ndarray], step: int = BLOCK
) -> None:
    """Write ``path`` window by window (``step`` rows at a time), never the whole image."""
    with rasterio.open(path, "w", **profile) as dst:
        for row in range(0, profile["height"], step):
            rows = min(step, profile["height"] - row)
            window = Window(0, row, profile["width"], rows)
            dst.write(produce(window), window=window)
        if profile["count"] == 4:
            dst.colorinterp = (ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.undefined)


def build_big_cog(path: Path) -> None:
    """The 20480² JPEG COG (about a minute on two cores)."""
    parcels, texture = _parcels(1, BIG_SIZE // 96 + 1), _texture(2)
    west, north, res = BIG_ORIGIN
    raw = path.with_suffix(".raw.tif")
    profile = {
        "driver": "GTiff",
        "width": BIG_SIZE,
        "height": BIG_SIZE,
        "count": 3,
        "dtype": "uint8",
        "crs": "EPSG:3857",
        "transform": from_origin(west, north, res, res),
        "tiled": True,
        "blockxsize": BLOCK,
        "blockysize": BLOCK,
        "compress": "JPEG",
        "jpeg_quality": 97,
        "photometric": "YCBCR",
    }
    _write_blockwise(
        raw,
        profile,
        lambda w: rgb_block(int(w.row_off), 0, int(w.height), int(w.width), parcels, texture),
    )
    _to_cog(raw, path, COMPRESS="JPEG", QUALITY=85, OVERVIEW_RESAMPLING="AVERAGE")


def build_stripped(path: Path) -> None:
    """The 8000² uncompressed stripped GeoTIFF, no overviews (192 MB)."""
    parcels, texture = _parcels(3, STRIPPED_SIZE // 96 + 1), _texture(4)
    profile = {
        "driver": "GTiff",
        "width": STRIPPED_SIZE,
        "height": STRIPPED_SIZE,
        "count": 3,
        "dtype": "uint8",
        "crs": "EPSG:32618",
        "transform": from_origin(780000.0, 2052000.0, 0.5, 0.5),
        "photometric": "RGB",
        "interleave": "pixel",
    }
    tmp = path.with_suffix(".part.tif")
    _write_blockwise(
        tmp,
        profile,
        lambda w: rgb_block(int(w.row_off), 0, int(w.height), int(w.width), parcels, texture),
    )
    os.replace(tmp, path)


def uint16_block(row0: int, rows: int, cols: int) -> np.ndarray:
    """(4, rows, cols) uint16 reflectance-like values; a nodata (0) triangle in the south-west."""
    r = np.arange(row0, row0 + rows, dtype=np.float32)[:, None]
    c = np.arange(cols, dtype=np.float32)[None, :]
    base = 1800 + 900 * np.sin(c / 150.0) * np.cos(r / 210.0)
    bands = [base * k + 300 * np.sin((r + c) / (40.0 + 13 * i)) for i, k in enumerate((1.0, 1.1, 0.9, 1.6))]
    out = np.clip(np.stack(bands), 1, 65535).astype(np.uint16)
    out[:, np.broadcast_to(r > (UINT16_SIZE - c) * 1.4, (rows, cols))] = 0
    return out


def build_uint16(path: Path) -> None:
    """The 4096² uint16 4-band DEFLATE COG with nodata 0."""
    raw = path.with_suffix(".raw.tif")
    profile = {
        "driver": "GTiff",
        "width": UINT16_SIZE,
        "height": UINT16_SIZE,
        "count": 4,
        "dtype": "uint16",
        "nodata": 0,
        "crs": "EPSG:32737",
        "transform": from_origin(250000.0, 9860000.0, 3.0, 3.0),
        "tiled": True,
        "blockxsize": BLOCK,
        "blockysize": BLOCK,
        "compress": "DEFLATE",
    }
    _write_blockwise(raw, profile, lambda w: uint16_block(int(w.row_off), int(w.height), int(w.width)))
    _to_cog(raw, path, COMPRESS="DEFLATE", PREDICTOR="2", OVERVIEW_RESAMPLING="AVERAGE")


def _to_cog(raw: Path, path: Path, **options: str | int) -> None:
    """Copy ``raw`` to ``path`` as a COG (GDAL's COG driver), then drop ``raw``."""
    tmp = path.with_suffix(".part.tif")
    with rasterio.Env(GDAL_NUM_THREADS="ALL_CPUS", GDAL_CACHEMAX=512):
        rio_copy(str(raw), str(tmp), driver="COG", BLOCKSIZE=BLOCK, **options)
    os.replace(tmp, path)
    raw.unlink()


def build_strips(path: Path, compress: str, rows_per_strip: int, alpha: bool, **options: int) -> None:
    """An 8000² stripped RGB (or RGBA with a diamond footprint) GeoTIFF without overviews."""
    parcels, texture = _parcels(5, STRIPPED_SIZE // 96 + 1), _texture(6)
    size = STRIPPED_SIZE
    profile = {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "count": 4 if alpha else 3,
        "dtype": "uint8",
        "crs": "EPSG:32618",
        "transform": from_origin(780000.0, 2052000.0, 0.5, 0.5),
        "interleave": "pixel",
        "compress": compress,
        "blockysize": rows_per_strip,
        **({} if alpha else {"photometric": "RGB"}),
        **options,
    }

    def produce(w: Window) -> np.ndarray:
        row0, rows = int(w.row_off), int(w.height)
        rgb = rgb_block(row0, 0, rows, size, parcels, texture)
        if not alpha:
            return rgb
        r = np.abs(np.arange(row0, row0 + rows)[:, None] - size / 2)
        c = np.abs(np.arange(size)[None, :] - size / 2)
        inside = (r + c) < size * 0.48  # a drone survey's footprint: the rest transparent
        rgb = np.where(inside, rgb, 0).astype(np.uint8)
        return np.concatenate([rgb, np.where(inside, 255, 0).astype(np.uint8)[None]])

    tmp = path.with_suffix(".part.tif")
    with rasterio.open(tmp, "w", **profile) as dst:
        for row in range(0, size, BLOCK):
            window = Window(0, row, size, min(BLOCK, size - row))
            dst.write(produce(window), window=window)
        if alpha:
            dst.colorinterp = (ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.alpha)
    os.replace(tmp, path)


BUILDERS: dict[str, Callable[[Path], None]] = {
    "big_cog": build_big_cog,
    "stripped": build_stripped,
    "uint16": build_uint16,
    "deflate64": lambda p: build_strips(p, "DEFLATE", 64, alpha=False, predictor=2),
    "pix4d": lambda p: build_strips(p, "LZW", 1, alpha=True),
}


def build(directory: Path, log: Callable[[str], None] = print) -> dict[str, Path]:
    """Build the missing images into ``directory``; return their paths by role."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for role, name in NAMES.items():
        path = directory / name
        if not path.exists():
            started = time.perf_counter()
            log(f"building {name} ...")
            BUILDERS[role](path)
            log(f"built {name}: {path.stat().st_size / 1e6:.0f} MB in {time.perf_counter() - started:.0f} s")
        paths[role] = path
    return paths


if __name__ == "__main__":
    build(Path(__file__).resolve().parent / "work")
