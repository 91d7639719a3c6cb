"""GeoTIFFs that each have one thing wrong (or nothing), generated at run time, for the health
report's tests (tests/test_checkup.py): :data:`CORPUS` names each file, the findings its report
must raise (exactly those), and whether its fix is lossless.

All are 1024 x 1024 px (over rio-cogeo's 512 px limit) over Kathmandu in UTM 45N, 0.5 m
pixels, of a smooth deterministic pattern (JPEG and resampling keep it recognisable).
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.control import GroundControlPoint
from rasterio.errors import NotGeoreferencedWarning
from rasterio.transform import from_origin

SIZE = 1024
CRS = "EPSG:32645"
TRANSFORM = from_origin(330000.0, 3067000.0, 0.5, 0.5)


class Case(NamedTuple):
    """A corpus file: the codes its report raises (warnings and errors), and its fix's kind:
    ``lossless`` (tiles equal), ``lossy`` (PSNR), or ``None`` (nothing to fix)."""

    problems: tuple[str, ...]
    fix: str | None


CORPUS = {
    "good_cog.tif": Case((), None),
    "no_ghost.tif": Case((), None),
    "stripped.tif": Case(("stripped",), "lossless"),
    "no_overviews.tif": Case(("no_overviews",), "lossless"),
    "spread_ifds.tif": Case(("header_not_first", "parts_out_of_order"), "lossless"),
    "edited.tif": Case(("edited_after_creation",), "lossless"),
    "external_ovr.tif": Case(("external_overviews",), "lossless"),
    "sidecar_georef.tif": Case(("georeference_in_sidecar",), "lossless"),
    "gcps.tif": Case(("gcps_only",), "lossy"),
    "collar.tif": Case(("collar_without_nodata",), "lossless"),
    "lossy_dsm.tif": Case(("lossy_non_visual",), "lossless"),
    "uncompressed.tif": Case(("uncompressed",), "lossy"),
}
#: The georeferenced twin of sidecar_georef.tif (not served): what its fix must look like.
TWIN = "sidecar_twin.tif"


def pattern(bands: int) -> np.ndarray:
    """Smooth uint8 values 20..235, shape (bands, SIZE, SIZE)."""
    r, c = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    base = (np.sin(c / 61.0) + np.cos(r / 47.0)) * 50 + 128
    return np.stack([np.clip(base + 15 * b, 20, 235) for b in range(bands)]).astype(np.uint8)


def elevation() -> np.ndarray:
    r, c = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    return (1300 + 40 * np.sin(c / 90.0) * np.cos(r / 70.0) + r * 0.05).astype(np.float32)[np.newaxis]


def _raw(path: Path, pixels: np.ndarray, **extra: object) -> Path:
    profile = {
        "driver": "GTiff", "width": SIZE, "height": SIZE, "count": pixels.shape[0],
        "dtype": str(pixels.dtype), "crs": CRS, "transform": TRANSFORM, "tiled": True,
        "blockxsize": 512, "blockysize": 512, "compress": "deflate",
        **({"photometric": "RGB"} if pixels.shape[0] == 3 else {}), **extra,
    }  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(pixels)
    return path


def _cog(source: Path, path: Path, **options: object) -> Path:
    rasterio.shutil.copy(source, path, driver="COG", **({"compress": "DEFLATE"} | options))
    return path


def write_corpus(root: Path) -> Path:
    """Every file of :data:`CORPUS` (and its sidecars), and :data:`TWIN`, in ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    work = root / "work"
    work.mkdir(exist_ok=True)
    rgb = _raw(work / "rgb.tif", pattern(3))
    _cog(rgb, root / "good_cog.tif", predictor=2)
    data = bytearray((root / "good_cog.tif").read_bytes())
    at = data.find(b"GDAL_STRUCTURAL_METADATA_SIZE=")
    data[at : at + 30] = b" " * 30  # the layout stays a COG's; only GDAL's note of it is gone
    (root / "no_ghost.tif").write_bytes(bytes(data))

    shutil.copy(rgb, root / "no_overviews.tif")
    with_overviews = work / "with_overviews.tif"
    shutil.copy(rgb, with_overviews)
    with rasterio.open(with_overviews, "r+") as dst:
        dst.build_overviews([2, 4], resampling=rasterio.enums.Resampling.average)
    shutil.copy(with_overviews, root / "spread_ifds.tif")  # gdaladdo's: overview IFDs after the data
    rasterio.shutil.copy(
        with_overviews, root / "stripped.tif", driver="GTiff", tiled=False, compress="deflate",
        predictor=2, copy_src_overviews=True, photometric="RGB",
    )  # fmt: skip
    shutil.copy(rgb, root / "external_ovr.tif")
    with rasterio.Env(TIFF_USE_OVR=True), rasterio.open(root / "external_ovr.tif", "r+") as dst:
        dst.build_overviews([2, 4])

    edited = root / "edited.tif"
    _cog(rgb, edited, predictor=2)
    noise = np.random.default_rng(7).integers(0, 256, (3, 512, 512), dtype=np.uint8)
    with rasterio.open(edited, "r+", IGNORE_COG_LAYOUT_BREAK="YES") as dst:
        dst.write(noise, window=((0, 512), (0, 512)))  # rewritten at the end: no longer in order

    bare = work / "bare.tif"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(
            bare, "w", driver="GTiff", width=SIZE, height=SIZE, count=3, dtype="uint8", photometric="RGB"
        ) as dst:
            dst.write(pattern(3))
        _cog(bare, root / "sidecar_georef.tif", predictor=2)
    a, b, c, d, e, f = TRANSFORM.a, TRANSFORM.b, TRANSFORM.c, TRANSFORM.d, TRANSFORM.e, TRANSFORM.f
    # A world file names the centre of the top-left pixel.
    (root / "sidecar_georef.tfw").write_text(f"{a}\n{d}\n{b}\n{e}\n{c + a / 2}\n{f + e / 2}\n")
    (root / "sidecar_georef.prj").write_text(rasterio.crs.CRS.from_string(CRS).to_wkt())
    _cog(rgb, root / TWIN, predictor=2)

    gcps = [
        GroundControlPoint(row=r, col=col, x=x, y=y)
        for r, col in ((0, 0), (0, SIZE), (SIZE, 0), (SIZE, SIZE), (SIZE / 2, SIZE / 2))
        for x, y in [TRANSFORM * (col, r)]
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        gcp_raw = work / "gcp_raw.tif"
        with rasterio.open(
            gcp_raw, "w", driver="GTiff", width=SIZE, height=SIZE, count=3, dtype="uint8",
            photometric="RGB", gcps=gcps, crs=CRS, tiled=True, compress="deflate",
        ) as dst:  # fmt: skip
            dst.write(pattern(3))
        _cog(gcp_raw, root / "gcps.tif", predictor=2)

    framed = pattern(3)
    framed[:, :160, :] = framed[:, -160:, :] = framed[:, :, :160] = framed[:, :, -160:] = 0
    _cog(_raw(work / "framed.tif", framed), root / "collar.tif", predictor=2)
    dsm = _raw(work / "dsm.tif", elevation())
    _cog(dsm, root / "lossy_dsm.tif", compress="LERC_ZSTD", max_z_error=0.5)
    _cog(rgb, root / "uncompressed.tif", compress="NONE")
    shutil.rmtree(work)
    return root
