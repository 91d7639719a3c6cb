"""A collared, JPEG-compressed RGB GeoTIFF like a georeferenced scan: the case ``collar=`` is for.

The scene is a tilted rectangle of texture inside a frame of scanner-noise black
(values 0-8, so ``nodata=0`` catches almost none of it), saved as JPEG (YCbCr,
quality 75): near the scene's edge the compression rings, as uploads in the wild
do. Inside the scene lie a few near-black patches (value 4) that must stay: they
are the image's own darks, not connected to its edge. The file is in EPSG:3857
on the XYZ grid of zoom :data:`ZOOM` (its origin a tile corner, its pixel a tile
pixel), so a tile's pixels are the file's, one for one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin

from oam_preview.geo.tiles import xy_bounds

from .geotiffs import texture

#: The XYZ zoom whose tile pixels are the file's pixels, and its first (north-west) tile (Freetown).
ZOOM = 16
ORIGIN_TILE = (30354, 31214)  # even: the @2x tiles of zoom 15 cover it too
#: Tiles across and down (256 px each): the file is 2560 x 2048 px.
TILES = (10, 8)
#: The scene's tilt, degrees, and its half-size as fractions of the file's.
TILT = 9.0
HALF = (0.40, 0.38)
#: Centres (row, col) and radius (px) of near-black patches inside the scene.
DARK_PATCHES = ((700, 900, 40), (1300, 1500, 60), (1024, 1900, 30))


def scene_mask(rows: int, cols: int) -> np.ndarray:
    """Where (rows, cols) the tilted scene is, as opposed to its collar."""
    r, c = np.mgrid[0:rows, 0:cols].astype(np.float64)
    r -= rows / 2
    c -= cols / 2
    angle = np.radians(TILT)
    u = c * np.cos(angle) + r * np.sin(angle)
    v = -c * np.sin(angle) + r * np.cos(angle)
    return (np.abs(u) <= HALF[0] * cols) & (np.abs(v) <= HALF[1] * rows)


def collared_pixels() -> np.ndarray:
    """The file's uint8 RGB (3, rows, cols) before compression."""
    cols, rows = TILES[0] * 256, TILES[1] * 256
    rng = np.random.default_rng(7)
    scene = np.clip(texture(3, rows, cols, seed=3).astype(np.int16) // 2 + 60, 40, 230).astype(np.uint8)
    r, c = np.mgrid[0:rows, 0:cols]
    for row, col, radius in DARK_PATCHES:
        scene[:, (r - row) ** 2 + (c - col) ** 2 <= radius**2] = 4
    noise = rng.integers(0, 9, size=(3, rows, cols), dtype=np.uint8)
    return np.where(scene_mask(rows, cols)[np.newaxis], scene, noise)


def write_collared(path: Path) -> Path:
    """The collared JPEG GeoTIFF at ``path``: tiled 256 px, with overviews (2, 4, 8)."""
    data = collared_pixels()
    west, _, east, north = xy_bounds(ZOOM, *ORIGIN_TILE)
    pixel = (east - west) / 256  # metres
    profile = {
        "driver": "GTiff", "width": data.shape[2], "height": data.shape[1], "count": 3, "dtype": "uint8",
        "crs": "EPSG:3857", "transform": from_origin(west, north, pixel, pixel),
        "tiled": True, "blockxsize": 256, "blockysize": 256, "compress": "jpeg", "photometric": "ycbcr",
        "jpeg_quality": 75,
    }  # fmt: skip
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(data)
    with rasterio.open(path, "r+") as ds:
        ds.build_overviews([2, 4, 8], rasterio.enums.Resampling.average)
    return path


def write_under(path: Path) -> Path:
    """A plain red image on the same grid as :func:`write_collared` (DEFLATE): what a mosaic shows
    through the scan's collar when it is made transparent."""
    cols, rows = TILES[0] * 256, TILES[1] * 256
    data = np.empty((3, rows, cols), dtype=np.uint8)
    data[0], data[1], data[2] = 200, 40, 40
    west, _, east, north = xy_bounds(ZOOM, *ORIGIN_TILE)
    pixel = (east - west) / 256  # metres
    profile = {
        "driver": "GTiff", "width": cols, "height": rows, "count": 3, "dtype": "uint8", "crs": "EPSG:3857",
        "transform": from_origin(west, north, pixel, pixel), "tiled": True, "compress": "deflate",
    }  # fmt: skip
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(data)
    return path


def footprint(path: Path) -> dict[str, object]:
    """The GeoJSON Polygon of ``path``'s bounds, EPSG:4326 degrees."""
    from rasterio.warp import transform_bounds

    with rasterio.open(path) as ds:
        w, s, e, n = transform_bounds(ds.crs, "EPSG:4326", *ds.bounds)
    return {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}


def write_utm(source: Path, path: Path) -> Path:
    """``source`` warped to UTM 28N (as most uploads are: every tile read a warped one), JPEG with
    overviews like it."""
    from rasterio.warp import Resampling, calculate_default_transform, reproject

    with rasterio.open(source) as src:
        transform, width, height = calculate_default_transform(
            src.crs, "EPSG:32628", src.width, src.height, *src.bounds
        )
        profile = {
            **src.profile,
            "crs": "EPSG:32628",
            "transform": transform,
            "width": width,
            "height": height,
        }
        with rasterio.open(path, "w", **profile) as dst:
            for band in range(1, 4):
                reproject(rasterio.band(src, band), rasterio.band(dst, band), resampling=Resampling.bilinear)
    with rasterio.open(path, "r+") as ds:
        ds.build_overviews([2, 4, 8], Resampling.average)
    return path
