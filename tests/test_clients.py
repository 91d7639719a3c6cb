"""Real GIS clients: GDAL's WMTS and WMS/TMS drivers read the live server like QGIS does."""

from __future__ import annotations

import json
import urllib.request

import numpy as np
import pytest
import rasterio
from rasterio.enums import Resampling
from rasterio.warp import reproject
from rasterio.windows import from_bounds


def web_mercator_reference(path, bounds, width, height) -> np.ndarray:
    """The source file warped to a Web Mercator grid (what a correct client should see)."""
    dst = np.zeros((3, height, width), np.uint8)
    transform = rasterio.transform.from_bounds(*bounds, width, height)
    with rasterio.open(path) as src:
        for b in range(3):
            reproject(
                rasterio.band(src, b + 1),
                dst[b],
                dst_transform=transform,
                dst_crs="EPSG:3857",
                resampling=Resampling.nearest,
            )
    return dst


def cogeo_bounds_3857(tiff_dir):
    with rasterio.open(tiff_dir / "cogeo.tif") as ds:
        assert ds.crs.to_epsg() == 3857
        left, bottom, right, top = ds.bounds
    # Inset a little so every read pixel is inside the image.
    inset = 20.0
    return (left + inset, bottom + inset, right - inset, top - inset)


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
    template = tiles.replace("{z}", "${z}").replace("{x}", "${x}").replace("{y}", "${y}")
    xml = f"""<GDAL_WMS>
  <Service name="TMS"><ServerUrl>{template}</ServerUrl></Service>
  <DataWindow>
    <UpperLeftX>-20037508.34</UpperLeftX><UpperLeftY>20037508.34</UpperLeftY>
    <LowerRightX>20037508.34</LowerRightX><LowerRightY>-20037508.34</LowerRightY>
    <TileLevel>19</TileLevel><TileCountX>1</TileCountX><TileCountY>1</TileCountY>
    <YOrigin>top</YOrigin>
  </DataWindow>
  <Projection>EPSG:3857</Projection>
  <BlockSizeX>256</BlockSizeX><BlockSizeY>256</BlockSizeY>
  <BandsCount>4</BandsCount>
  <ZeroBlockHttpCodes>204,404</ZeroBlockHttpCodes>
</GDAL_WMS>"""
    bounds = cogeo_bounds_3857(tiff_dir)
    with rasterio.Env(GDAL_HTTP_TIMEOUT=20), rasterio.open(xml) as ds:
        window = from_bounds(*bounds, transform=ds.transform)
        width, height = round(window.width), round(window.height)
        out = ds.read(window=window, out_shape=(4, height, width), resampling=Resampling.nearest)
    assert (out[3] == 255).all()  # every pixel inside the image is opaque
    ref = web_mercator_reference(tiff_dir / "cogeo.tif", bounds, width, height)
    diff = np.abs(out[:3].astype(int) - ref.astype(int))
    assert diff.mean() < 3


def test_cors_and_errors_on_the_live_server(live_server):
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"{live_server}/api/images/nope/tiles/0/0/0.png")
    assert info.value.code == 404
    assert info.value.headers["Access-Control-Allow-Origin"] == "*"
    assert json.load(info.value)["error"]["code"] == "not_found"
