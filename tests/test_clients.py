"""Real GIS clients: GDAL's WMTS and WMS/TMS drivers read the live server like QGIS does."""

from __future__ import annotations

import json
import urllib.request

import numpy as np
import pytest
import rasterio
from rasterio.enums import Resampling
from rasterio.windows import from_bounds

from .support.gdal_client import cogeo_bounds_3857, read_tms, web_mercator_reference


def test_gdal_wmts_driver_reads_our_capabilities(live_server, tiff_dir):
    url = f"{live_server}/api/images/cogeo/WMTSCapabilities.xml"
    with rasterio.Env(GDAL_HTTP_TIMEOUT=20), rasterio.open(f"WMTS:{url}") as ds:
        assert ds.crs.to_epsg() == 3857
        assert ds.count in (3, 4)
        bounds = cogeo_bounds_3857(tiff_dir)
        window = from_bounds(*bounds, transform=ds.transform)
        width, height = round(window.width), round(window.height)
        out = ds.read((1, 2, 3), window=window, out_shape=(3, height, width), resampling=Resampling.nearest)
    ref = web_mercator_reference(tiff_dir / "cogeo.tif", bounds, width, height)
    diff = np.abs(out.astype(int) - ref.astype(int))
    assert diff.mean() < 3


def test_gdal_wms_driver_reads_our_xyz_template(live_server, tiff_dir):
    tiles = json.load(urllib.request.urlopen(f"{live_server}/api/images/cogeo/tilejson.json"))["tiles"][0]
    out, ref = read_tms(tiles, tiff_dir)
    assert (out[3] == 255).all()  # every pixel inside the image is opaque
    diff = np.abs(out[:3].astype(int) - ref.astype(int))
    assert diff.mean() < 3


def test_cors_and_errors_on_the_live_server(live_server):
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"{live_server}/api/images/nope/tiles/0/0/0.png")
    assert info.value.code == 404
    assert info.value.headers["Access-Control-Allow-Origin"] == "*"
    assert json.load(info.value)["error"]["code"] == "not_found"
