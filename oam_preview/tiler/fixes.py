"""The command that makes a GeoTIFF ready: one GDAL command line, chosen for the file's kind.

:func:`fix_command` writes a ``gdal_translate -of COG`` (``gdalwarp -of COG`` for a file
placed by GCPs, so the placement is baked in) that mends every finding marked
``fixable``: a tiled, compressed, cloud-optimized copy with internal overviews, laid out
in COG order, its georeference taken from the sidecars GDAL reads beside it, a collar
marked empty. Compression by kind: visual imagery stays lossless when it is, or when it has
nodata (DEFLATE, horizontal predictor), else JPEG with the alpha band as a mask; other data is DEFLATE
with the predictor for its type (2 integers, 3 floating point) and ``average``
overviews; a palette keeps ``nearest``. GDAL >= 3.1.
"""

from __future__ import annotations

import shlex
import urllib.parse
from pathlib import PurePosixPath

from .findings import product_type
from .structure import Structure

#: JPEG quality of visual imagery made lossy (a 35+ dB PSNR on aerial imagery).
JPEG_QUALITY = 90


def local_name(source: str) -> str:
    """The file's name as its owner has it: the last part of a URL's path, or of a path."""
    path = urllib.parse.urlsplit(source).path if "://" in source else source
    return PurePosixPath(path).name or "image.tif"


def output_name(name: str) -> str:
    stem = PurePosixPath(name).stem
    return f"{stem}_cog.tif"


def creation_options(s: Structure, nodata: float | None) -> list[str]:
    """``-co`` options for the file's kind (see the module doc); ``nodata``: the value that
    will mark empty pixels (the file's, or one the fix adds)."""
    kind = product_type(s)
    floating = s.dtypes[0].startswith("float")
    if kind == "visual":
        # Lossy only without nodata: JPEG would blur the empty pixels' value into the image's.
        if nodata is None and (s.lossy or s.compression == "NONE"):
            options = ["COMPRESS=JPEG", f"QUALITY={JPEG_QUALITY}", "OVERVIEW_RESAMPLING=AVERAGE"]
        else:
            options = ["COMPRESS=DEFLATE", "PREDICTOR=2", "OVERVIEW_RESAMPLING=AVERAGE"]
    elif kind == "pseudocolor":
        options = ["COMPRESS=DEFLATE", "OVERVIEW_RESAMPLING=NEAREST"]
    else:
        options = ["COMPRESS=DEFLATE", f"PREDICTOR={3 if floating else 2}", "OVERVIEW_RESAMPLING=AVERAGE"]
    return options


def fix_command(
    s: Structure, source: str, collar_value: float | None, gcps_only: bool, srs: str | None = None
) -> str:
    """The one command line that mends the fixable findings of the file ``source`` (run where
    the file and its sidecars are); ``collar_value``: the edge value to mark empty; ``srs``: the
    CRS a sidecar gives (GDAL reads a ``.tfw`` beside a GeoTIFF, but not its ``.prj``)."""
    name = local_name(source)
    nodata = collar_value if collar_value is not None else s.nodata
    options = creation_options(s, nodata)
    args = (
        ["gdalwarp", "-of", "COG", "-order", "1", "-r", "bilinear"]
        if gcps_only
        else ["gdal_translate", "-of", "COG"]
    )
    if collar_value is not None:
        args += ["-dstnodata" if gcps_only else "-a_nodata", _value(collar_value)]
    if srs is not None:
        args += ["-a_srs", srs]
    for option in options:
        args += ["-co", option]
    args += [name, output_name(name)]
    return shlex.join(args)


def _value(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)
