"""GeoTIFF fixtures generated at run time, for the cases no small, freely licensed file covers.

Each stands for a kind of upload a catalog holds (a stripped Landsat scene and its
COG copy, a GCP-georeferenced scene, a file with no georeference at all, a
lat/lon raster, a polar grid around the South Pole, a drone orthomosaic with
alpha and nodata), so a fresh clone runs every test with nothing beside it.
Pixels are deterministic (a fixed seed): a smooth pattern plus noise, so
overviews, JPEG and resampling have something to work on. ``write_all`` writes
them all into a directory, in about a second. ``write_cog`` and ``write_stripped`` write one
synthetic RGB file of any size (a COG, a raw upload); ``GEOTIFFS`` holds the committed ones.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import rasterio
from rasterio.control import GroundControlPoint
from rasterio.crs import CRS
from rasterio.errors import NotGeoreferencedWarning
from rasterio.transform import Affine, from_origin
from rasterio.warp import transform_bounds

#: The tests' committed data: catalogs, schemas and the small, freely licensed GeoTIFFs.
DATA = Path(__file__).resolve().parents[1] / "data"
GEOTIFFS = DATA / "geotiff"

#: The files ``write_all`` writes, by name, with what each is for.
GENERATED = {
    "landsat_stripped.tif": "3 x uint8, EPSG:32618, 300 m, nodata=0 collar around a tilted scene; stripped, "
    "uncompressed, no overviews (a raw upload)",
    "landsat_cog.tif": "the same pixels, georeference and nodata as a DEFLATE COG with an overview",
    "gcps.tif": "3 x uint8 over southern India georeferenced by five GCPs (EPSG:4326), tiled, with overviews",
    "no_georef.tif": "the same pixels with no georeference at all (no CRS, transform or GCPs)",
    "lonlat_stripped.tif": "3 x uint8 in EPSG:4326, 1/30 degree pixels over 129..146 E, 29..54 N; stripped",
    "south_pole.tif": "1 x float32 sea-ice-like grid in EPSG:3412 (polar stereographic south) containing the "
    "pole, nodata=-3.4e38, stripped, LZW",
    "alpha_nodata.tif": "4 x uint8 RGBA drone orthomosaic (EPSG:32737), alpha footprint and nodata=0",
}

#: ``landsat_*.tif``: the transform of rasterio's RGB.byte.tif (UTM 18N, about 300 m pixels).
LANDSAT_TRANSFORM = Affine(300.0379266750948, 0.0, 101985.0, 0.0, -300.041782729805, 2826915.0)
LANDSAT_SHAPE = (718, 791)  # rows, columns
#: ``gcps.tif`` and ``no_georef.tif``: rows, columns.
GCP_SHAPE = (420, 640)
#: ``gcps.tif``: (row, col, lon, lat) of its ground control points; a slightly rotated scene.
GCP_POINTS = (
    (0, 0, 75.70, 11.10),
    (0, 640, 78.10, 11.20),
    (420, 0, 75.60, 9.30),
    (420, 640, 78.00, 9.40),
    (210, 320, 76.85, 10.25),
)


def texture(bands: int, rows: int, cols: int, seed: int = 0) -> np.ndarray:
    """A smooth uint8 pattern with noise, shape (bands, rows, cols), values 1..255 (never 0: 0 is nodata)."""
    rng = np.random.default_rng(seed)
    r, c = np.mgrid[0:rows, 0:cols].astype(np.float32)
    base = (np.sin(c / 23.0) + np.cos(r / 17.0)) * 50 + 128
    out = np.stack([base + rng.normal(0, 12, base.shape) + 25 * b for b in range(bands)])
    return np.clip(out, 1, 255).astype(np.uint8)


def tilted_scene(rows: int, cols: int) -> np.ndarray:
    """True inside a tilted rectangle covering about two thirds of the array (a path/row scene)."""
    r, c = np.mgrid[0:rows, 0:cols].astype(np.float64)
    u = (c - cols / 2) * np.cos(0.2) + (r - rows / 2) * np.sin(0.2)
    v = -(c - cols / 2) * np.sin(0.2) + (r - rows / 2) * np.cos(0.2)
    return (np.abs(u) < cols * 0.4) & (np.abs(v) < rows * 0.4)


def write_landsat(root: Path) -> tuple[Path, Path]:
    """``landsat_stripped.tif`` and ``landsat_cog.tif``: identical pixels, a raw upload and its COG."""
    from rio_cogeo.cogeo import cog_translate
    from rio_cogeo.profiles import cog_profiles

    rows, cols = LANDSAT_SHAPE
    pixels = texture(3, rows, cols, seed=1)
    pixels[:, ~tilted_scene(rows, cols)] = 0
    stripped = root / "landsat_stripped.tif"
    with rasterio.open(
        stripped,
        "w",
        driver="GTiff",
        width=cols,
        height=rows,
        count=3,
        dtype="uint8",
        crs="EPSG:32618",
        transform=LANDSAT_TRANSFORM,
        nodata=0,
        photometric="RGB",
        blockysize=3,
    ) as dst:
        dst.write(pixels)
    cog = root / "landsat_cog.tif"
    cog_translate(str(stripped), str(cog), cog_profiles.get("deflate"), quiet=True, overview_level=1)
    return stripped, cog


def write_gcps(root: Path) -> tuple[Path, Path]:
    """``gcps.tif`` (georeferenced by GCPs only) and ``no_georef.tif`` (not at all), same pixels."""
    rows, cols = GCP_SHAPE
    pixels = texture(3, rows, cols, seed=2)
    profile = {
        "driver": "GTiff",
        "width": cols,
        "height": rows,
        "count": 3,
        "dtype": "uint8",
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "deflate",
        "photometric": "RGB",
    }
    gcps = [GroundControlPoint(row=r, col=c, x=lon, y=lat) for r, c, lon, lat in GCP_POINTS]
    with_gcps = root / "gcps.tif"
    with rasterio.open(with_gcps, "w", gcps=gcps, crs=CRS.from_epsg(4326), **profile) as dst:
        dst.write(pixels)
        dst.build_overviews([2, 4])
    bare = root / "no_georef.tif"
    with warnings.catch_warnings(), rasterio.open(bare, "w", **profile) as dst:
        warnings.simplefilter("ignore", NotGeoreferencedWarning)  # the point of this file
        dst.write(pixels)
        dst.build_overviews([2, 4])
    return with_gcps, bare


def write_lonlat(root: Path) -> Path:
    """``lonlat_stripped.tif``: RGB in EPSG:4326, 510 x 750 pixels of 1/30 degree over 129..146 E, 29..54 N."""
    path = root / "lonlat_stripped.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=510,
        height=750,
        count=3,
        dtype="uint8",
        crs="EPSG:4326",
        transform=from_origin(129.0, 54.0, 1 / 30, 1 / 30),
        photometric="RGB",
        blockysize=5,
    ) as dst:
        dst.write(texture(3, 750, 510, seed=3))
    return path


def write_south_pole(root: Path) -> Path:
    """``south_pole.tif``: NSIDC's 25 km southern grid (EPSG:3412), ice concentration 0..100 in a
    ring around the pole, nodata -3.4e38 in the corners; its extent contains the pole."""
    rows, cols = 332, 316
    r, c = np.mgrid[0:rows, 0:cols].astype(np.float64)
    x = -3950000 + (c + 0.5) * 25000
    y = 4350000 - (r + 0.5) * 25000
    distance = np.hypot(x, y)
    ice = np.clip(100 - np.abs(distance - 2000000) / 15000, 0, 100).astype(np.float32)
    ice[distance > 3900000] = -3.4e38
    path = root / "south_pole.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=cols,
        height=rows,
        count=1,
        dtype="float32",
        crs="EPSG:3412",
        transform=from_origin(-3950000.0, 4350000.0, 25000.0, 25000.0),
        nodata=-3.4e38,
        compress="lzw",
        blockysize=6,
    ) as dst:
        dst.write(ice, 1)
    return path


def write_alpha_nodata(root: Path) -> Path:
    """``alpha_nodata.tif``: an RGBA drone orthomosaic over Dar es Salaam (5 cm), transparent outside
    an irregular footprint, and nodata=0 as well (as Pix4D writes them)."""
    rows, cols = 480, 600
    pixels = texture(4, rows, cols, seed=4)
    r, c = np.mgrid[0:rows, 0:cols]
    inside = ((r - 240) / 220.0) ** 2 + ((c - 300) / 280.0) ** 2 < 1
    pixels[:3, ~inside] = 0
    pixels[3] = np.where(inside, 255, 0)
    path = root / "alpha_nodata.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=cols,
        height=rows,
        count=4,
        dtype="uint8",
        crs="EPSG:32737",
        transform=from_origin(530000.0, 9250000.0, 0.05, 0.05),
        nodata=0,
        photometric="RGB",
        alpha="YES",
        tiled=True,
        compress="deflate",
    ) as dst:
        dst.write(pixels)
        dst.build_overviews([2, 4])
    return path


def write_all(root: Path) -> list[Path]:
    """Every file of :data:`GENERATED`, written into ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    paths = [*write_landsat(root), *write_gcps(root), write_lonlat(root), write_south_pole(root)]
    paths.append(write_alpha_nodata(root))
    assert sorted(p.name for p in paths) == sorted(GENERATED)
    return paths


def write_cog(path: Path, width: int, height: int, *, seed: int = 0, overviews: bool = True) -> Path:
    """A synthetic RGB JPEG COG in EPSG:3857 over Kathmandu, 0.6 m pixels, tiled 512, with overviews."""
    from rio_cogeo.cogeo import cog_translate
    from rio_cogeo.profiles import cog_profiles

    rng = np.random.default_rng(seed)
    raw = path.with_suffix(".raw.tif")
    profile = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": 3,
        "dtype": "uint8",
        "crs": "EPSG:3857",
        "transform": from_origin(9497000.0, 3211000.0, 0.6, 0.6),
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
    }
    with rasterio.open(raw, "w", **profile) as dst:
        rows, cols = np.mgrid[0:height, 0:width]
        base = ((np.sin(cols / 37.0) + np.cos(rows / 23.0)) * 60 + 120).astype(np.float32)
        for b in range(3):
            dst.write(np.clip(base + rng.normal(0, 10, base.shape) + b * 20, 0, 255).astype(np.uint8), b + 1)
    cog = cog_profiles.get("jpeg")
    cog.update(photometric="YCbCr")
    cog_translate(str(raw), str(path), cog, quiet=True, overview_level=None if overviews else 0)
    raw.unlink()
    return path


def write_stripped(path: Path, width: int, height: int, crs: str = "EPSG:32618") -> Path:
    """An uncompressed, stripped RGB GeoTIFF without overviews (a raw upload), 0.5 CRS units a
    pixel; written 512 rows at a time, so a huge one needs little memory."""
    origin = (9497000.0, 3211000.0) if crs == "EPSG:3857" else (780000.0, 2052000.0)
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=width,
        height=height,
        count=3,
        dtype="uint8",
        crs=crs,
        transform=from_origin(*origin, 0.5, 0.5),
        photometric="RGB",
    ) as dst:
        cols = np.arange(width, dtype=np.uint16)
        rows = np.stack([((cols + b * 50) % 256).astype(np.uint8) for b in range(3)])[:, np.newaxis, :]
        for top in range(0, height, 512):
            bottom = min(top + 512, height)
            dst.write(np.broadcast_to(rows, (3, bottom - top, width)), window=((top, bottom), (0, width)))
    return path


def geographic_bounds(path: Path) -> tuple[float, float, float, float]:
    """The file's bounds in EPSG:4326 degrees (west, south, east, north)."""
    with rasterio.open(path) as ds:
        return tuple(transform_bounds(ds.crs, "EPSG:4326", *ds.bounds))  # type: ignore[return-value]


def centre(path: Path) -> tuple[float, float]:
    """The middle of the file's bounds, EPSG:4326 degrees (lon, lat)."""
    w, s, e, n = geographic_bounds(path)
    return (w + e) / 2, (s + n) / 2


def geotiff_dir(root: Path) -> Path:
    """``root`` filled with the committed GeoTIFFs and the generated ones (``write_all``)."""
    root.mkdir(parents=True, exist_ok=True)
    for src in sorted(GEOTIFFS.glob("*.tif")):
        shutil.copy(src, root / src.name)
    write_all(root)
    return root
