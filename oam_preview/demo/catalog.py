"""The demo's catalog: a STAC ItemCollection shaped like OpenAerialMap's STAC API answers, its
GeoTIFF URLs under the file server that serves them, written to a file of each server's own.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from shapely.geometry import mapping

from ..geo.georeference import geographic_footprint
from .images import DEMO_IMAGES
from .synthetic import DSM_NODATA, MULTISPECTRAL_BANDS, DemoImage

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
