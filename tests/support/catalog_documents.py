"""GeoJSON catalog documents of the served test files: the server tests' (``catalog_doc``) and the
page tests' (``Image`` records, ``feature``, ``write_catalog``). Coordinates are EPSG:4326 degrees."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .geotiffs import geographic_bounds
from .processes import free_port

#: cogeo.tif's bounds, EPSG:4326 degrees (west, south, east, north).
COGEO_BOUNDS = (128.655396, 37.666429, 128.660889, 37.670777)

#: A title that is script if a page ever renders a title as HTML.
XSS_TITLE = '<script>window.__xss = "script"</script><img src=x onerror="window.__xss = \'img\'">'


def box_polygon(bbox: tuple[float, float, float, float]) -> dict[str, Any]:
    """The GeoJSON Polygon of a (west, south, east, north) box."""
    w, s, e, n = bbox
    return {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}


def catalog_doc(server_url: str, names: list[str], slow_url: str | None = None) -> dict[str, Any]:
    """A GeoJSON catalog of the served files, ids = file stems, plus fault cases."""
    features = [
        {
            "type": "Feature",
            "id": Path(name).stem,
            "geometry": None,
            "properties": {
                "title": f"Test image {Path(name).stem}",
                "source_url": f"{server_url}/{name}",
                "provider": "tests",
                "license": "CC0-1.0",
                "acquisition_start": "2020-01-01",
            },
        }
        for name in names
    ]
    faults = {
        "missing": f"{server_url}/missing.tif",
        "refused": f"http://127.0.0.1:{free_port()}/nothing.tif",
    }
    if slow_url:
        faults["slow"] = f"{slow_url}/cogeo.tif"
    features += [
        {"type": "Feature", "id": fid, "geometry": None, "properties": {"source_url": url, "title": fid}}
        for fid, url in faults.items()
    ]
    return {"type": "FeatureCollection", "features": features}


def records_doc(records: dict[str, str]) -> dict[str, Any]:
    """A GeoJSON catalog of bare records, ``{id: source_url}``, no footprints."""
    return {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "id": image_id, "geometry": None, "properties": {"source_url": url}}
            for image_id, url in records.items()
        ],
    }


# ------------------------------------------------------------------ the page tests' catalog


@dataclass(frozen=True)
class Image:
    """A record of the page tests' catalogs: a served file under a footprint, EPSG:4326 degrees."""

    id: str
    file: str
    title: str
    bbox: tuple[float, float, float, float]  # w, s, e, n in EPSG:4326
    acquired: str
    gsd: float
    provider: str
    license: str

    @property
    def center(self) -> tuple[float, float]:
        """(lat, lng) of the footprint's middle."""
        w, s, e, n = self.bbox
        return (s + n) / 2, (w + e) / 2


def catalog_images(directory: Path) -> list[Image]:
    """The small catalog most page tests use: three real images and a hostile title."""
    korea = geographic_bounds(directory / "cogeo.tif")
    bahamas = geographic_bounds(directory / "landsat_cog.tif")
    colorado = geographic_bounds(directory / "cog_rgba.tif")
    return [
        Image(
            "korea-aerial",
            "cogeo.tif",
            "Korea ski slope aerial",
            korea,
            "2019-02-10",
            0.15,
            "Drone Team",
            "CC-BY 4.0",
        ),
        Image(
            "bahamas-landsat",
            "landsat_cog.tif",
            "Bahamas satellite mosaic",
            bahamas,
            "2018-06-01",
            300.0,
            "Landsat",
            "Public domain",
        ),
        Image(
            "colorado-rgba",
            "cog_rgba.tif",
            "Colorado parking lot",
            colorado,
            "2020-09-15",
            0.3,
            "County GIS",
            "CC0",
        ),
        Image(
            "hostile-title",
            "cog_rgba.tif",
            XSS_TITLE,
            colorado,
            "2021-03-03",
            0.3,
            "<b>Bold</b> & Co",
            "<i>odd</i>",
        ),
    ]


def feature(image: Image, base_url: str) -> dict[str, Any]:
    """``image`` as a catalog Feature whose file is served under ``base_url``."""
    return {
        "type": "Feature",
        "id": image.id,
        "bbox": list(image.bbox),
        "geometry": box_polygon(image.bbox),
        "properties": {
            "title": image.title,
            "source_url": f"{base_url}/{image.file}",
            "gsd": image.gsd,
            "acquisition_start": f"{image.acquired}T10:00:00Z",
            "acquisition_end": f"{image.acquired}T10:30:00Z",
            "provider": image.provider,
            "license": image.license,
        },
    }


def write_catalog(path: Path, images: list[Image], base_url: str) -> Path:
    """A GeoJSON catalog file of ``images`` served under ``base_url``."""
    doc = {
        "type": "FeatureCollection",
        "features": [feature(i, base_url) for i in images],
    }
    path.write_text(json.dumps(doc))
    return path


def synthetic_images(count: int) -> list[Image]:
    """``count`` small footprints spread over the land-ish world, all cogeo.tif."""
    rnd = random.Random(20_000)
    images = []
    for i in range(count):
        w = rnd.uniform(-170.0, 170.0)
        s = rnd.uniform(-50.0, 65.0)
        day = 1 + i % 28
        images.append(
            Image(
                f"synthetic-{i:05d}",
                "cogeo.tif",
                f"Synthetic image {i:05d}",
                (w, s, w + 0.05, s + 0.04),
                f"20{10 + i % 15:02d}-{1 + i % 12:02d}-{day:02d}",
                round(0.05 + (i % 50) / 10, 2),
                f"Provider {i % 37}",
                "CC-BY 4.0",
            )
        )
    return images
