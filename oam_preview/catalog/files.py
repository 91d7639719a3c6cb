"""GeoTIFFs without a catalog: a text file of their URLs, or a local directory of them.

Each image's id is a slug of its file name and its footprint, bbox and GSD
come from the file's own header, read with rasterio (GDAL): for a remote
file that is one or two small range requests. Headers are read a few at a
time (:data:`HEADER_CONCURRENCY`) so a list of thousands neither crawls
nor floods the server holding the files.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from shapely.geometry import Polygon, box
from shapely.geometry.base import BaseGeometry

from .geometry import degrees_to_metres, normalize_footprint
from .model import slugify
from .sources import (
    Progress,
    Record,
    Skip,
    _is_url,
    build_image,
    crs_units,
    href_file_stem,
    resolve_href,
)

log = logging.getLogger(__name__)

#: Headers read at once.
HEADER_CONCURRENCY = 8
#: Points per edge of the image when its outline is reprojected to EPSG:4326.
EDGE_POINTS = 21
GEOTIFF_SUFFIXES = (".tif", ".tiff")

#: GDAL options for reading only a header: don't list the remote directory
#: looking for sidecar files, and don't send a HEAD before the first GET.
HEADER_GDAL_OPTIONS = {
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "CPL_VSIL_CURL_USE_HEAD": "NO",
    "GDAL_HTTP_TIMEOUT": "30",
}


# -- Sources ---------------------------------------------------------------------------


def url_list_entries(text: str) -> list[str]:
    """The non-blank lines of a URL list that are not ``#`` comments, stripped."""
    entries = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            entries.append(line)
    return entries


def is_url_list(text: str) -> bool:
    """Whether ``text`` is a list of GeoTIFF URLs or paths, one a line.

    Every entry must be one word (so an HTML error page or prose is not
    taken for a list), and at least one must be an http(s) URL or end in
    ``.tif``/``.tiff``.
    """
    entries = url_list_entries(text)
    return (
        bool(entries)
        and all(len(entry.split()) == 1 for entry in entries)
        and any(_is_url(e) or e.lower().endswith(GEOTIFF_SUFFIXES) for e in entries)
    )


def load_url_list(text: str, base: str) -> Iterator[Record]:
    """Images of a text file of GeoTIFF URLs (relative ones resolved against ``base``).

    A list read over http(s) may only name http(s) URLs; a local list may
    also name local paths.
    """
    targets: list[tuple[str, str]] = []  # (href as written, resolved)
    for entry in url_list_entries(text):
        try:
            targets.append((entry, resolve_href(base, entry)))
        except ValueError as exc:
            yield Skip(entry, str(exc))
    yield from read_headers(targets)


def load_directory(root: Path) -> Iterator[Record]:
    """Images of every GeoTIFF under ``root`` (recursively, hidden entries left out), by path."""
    root = root.resolve()
    paths = sorted(
        path
        for path in root.rglob("*")
        if path.suffix.lower() in GEOTIFF_SUFFIXES
        and not any(part.startswith(".") for part in path.relative_to(root).parts)
        and path.is_file()
    )
    yield from read_headers([(str(path.relative_to(root)), str(path)) for path in paths])


def read_headers(targets: Sequence[tuple[str, str]]) -> Iterator[Record]:
    """One record per ``(name, path or URL)``, in order, headers read concurrently."""
    progress = Progress("GeoTIFF headers", len(targets))
    try:
        with ThreadPoolExecutor(max_workers=HEADER_CONCURRENCY) as pool:
            for record in pool.map(lambda target: header_record(*target), targets):
                progress.update()
                yield record
    finally:
        progress.close()


def header_record(name: str, location: str) -> Record:
    """The image of one GeoTIFF (id: slug of its file name), or a :class:`Skip` saying why not."""
    import rasterio  # heavy; only these sources need it at load time
    from rasterio.errors import RasterioError

    try:
        with rasterio.Env(**HEADER_GDAL_OPTIONS), rasterio.open(location, driver="GTiff") as ds:
            footprint, gsd = _header_footprint(ds)
            info: dict[str, Any] = {
                "width": ds.width,
                "height": ds.height,
                "bands": ds.count,
                "dtype": ds.dtypes[0] if ds.dtypes else None,
            }
            if ds.crs is not None:
                info["crs"] = ds.crs.to_string()
    except (RasterioError, OSError, ValueError) as exc:
        return Skip(name, f"cannot read the GeoTIFF header: {exc}")
    file_name = href_file_stem(location)
    return build_image(
        image_id=slugify(file_name),
        source_url=location,
        title=os.path.basename(location.split("?", 1)[0]) or file_name,
        footprint=footprint,
        gsd=gsd,
        properties=info,
    )


# -- Footprint from a header -------------------------------------------------------------
# TODO: switch to oam_preview.imagery.geographic_footprint once it exists; this
# private copy only serves the catalog loaders until then.


def _header_footprint(dataset: Any) -> tuple[BaseGeometry | None, float | None]:
    """The image's outline in EPSG:4326 (split at the antimeridian) and its GSD in metres.

    Uses the geotransform, else a transform fitted to the GCPs. ``(None,
    None)`` for an image without georeferencing; the footprint alone is
    ``None`` when its outline does not land on the Earth (e.g. a
    geostationary disk's corners).
    """
    from rasterio.transform import from_gcps
    from rasterio.warp import transform as transform_points

    transform, crs = dataset.transform, dataset.crs
    if transform.is_identity:
        gcps, gcp_crs = dataset.gcps
        if not gcps or gcp_crs is None:
            return None, None
        transform, crs = from_gcps(gcps), gcp_crs
    if crs is None:
        return None, None
    xs, ys = _outline(dataset.width, dataset.height, transform)
    try:
        lons, lats = transform_points(crs, "EPSG:4326", xs, ys)
    except Exception:  # noqa: BLE001 - GDAL/PROJ raise several types for impossible transforms
        return None, _pixel_gsd(transform, crs, None)
    points = [(x, y) for x, y in zip(lons, lats, strict=True) if math.isfinite(x) and math.isfinite(y)]
    footprint = _ring_footprint(points) if len(points) == len(lons) else None
    latitude = None
    if footprint is not None:
        latitude = (footprint.bounds[1] + footprint.bounds[3]) / 2.0
    return footprint, _pixel_gsd(transform, crs, latitude)


def _outline(width: int, height: int, transform: Any) -> tuple[list[float], list[float]]:
    """Points along the image's edges, clockwise from the top left, in its CRS."""
    steps = [i / (EDGE_POINTS - 1) for i in range(EDGE_POINTS)]
    cols_rows = (
        [(t * width, 0.0) for t in steps]
        + [(width, t * height) for t in steps[1:]]
        + [((1 - t) * width, height) for t in steps[1:]]
        + [(0.0, (1 - t) * height) for t in steps[1:]]
    )
    xs, ys = [], []
    for col, row in cols_rows:
        x, y = transform @ (col, row)
        xs.append(x)
        ys.append(y)
    return xs, ys


def _ring_footprint(points: list[tuple[float, float]]) -> BaseGeometry | None:
    """A footprint from a closed ring of lon/lat points that may cross the antimeridian.

    Longitudes are made continuous (no jump over 180°), so a ring across the
    date line goes past ±180 and :func:`normalize_footprint` splits it. A
    ring that still does not close around in longitude circles a pole: the
    footprint is then everything from its farthest latitude to that pole.
    """
    lons = [points[0][0]]
    for lon, _ in points[1:]:
        previous = lons[-1]
        lon += 360.0 * round((previous - lon) / 360.0)
        lons.append(lon)
    lats = [lat for _, lat in points]
    if abs(lons[-1] - lons[0]) > 180.0:
        if sum(lats) < 0:
            return box(-180.0, -90.0, 180.0, max(lats))
        return box(-180.0, min(lats), 180.0, 90.0)
    return normalize_footprint(Polygon(list(zip(lons, lats, strict=True))))


def _pixel_gsd(transform: Any, crs: Any, latitude: float | None) -> float | None:
    """The side of a pixel in metres (square of the same area, so rotation doesn't matter)."""
    side = math.sqrt(abs(transform.a * transform.e - transform.b * transform.d))
    if not side > 0:
        return None
    units = crs_units(crs.to_wkt())
    if units is None:
        return None
    if units[0] == "degree":
        return degrees_to_metres(side, latitude) if latitude is not None else None
    return side * units[1]
