"""GDAL as a client of the server: its TMS driver reading an XYZ template, and the reference a
correct client should see (the source file warped to Web Mercator)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.warp import reproject
from rasterio.windows import from_bounds


def web_mercator_reference(path: Path, bounds: tuple[float, ...], width: int, height: int) -> np.ndarray:
    """The source file's first three bands warped to a Web Mercator grid over ``bounds``
    (EPSG:3857 metres): what a correct client should see."""
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


def cogeo_bounds_3857(tiff_dir: Path) -> tuple[float, float, float, float]:
    """cogeo.tif's bounds (EPSG:3857 metres), inset 20 m so every pixel read is inside it."""
    with rasterio.open(tiff_dir / "cogeo.tif") as ds:
        assert ds.crs.to_epsg() == 3857
        left, bottom, right, top = ds.bounds
    inset = 20.0
    return (left + inset, bottom + inset, right - inset, top - inset)


def read_tms(template: str, tiff_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """cogeo.tif's area read through GDAL's TMS driver at the XYZ ``template`` (``{z}`` or
    ``{zoom}``, ``{x}``, ``{y}``), as RGBA, and the reference RGB it should equal."""
    server_url = (  # {z} before {zoom}: the "${z}" put in holds "{z}"
        template.replace("{z}", "${z}")
        .replace("{zoom}", "${z}")
        .replace("{x}", "${x}")
        .replace("{y}", "${y}")
    )
    xml = f"""<GDAL_WMS>
  <Service name="TMS"><ServerUrl>{server_url.replace("&", "&amp;")}</ServerUrl></Service>
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
    return out, web_mercator_reference(tiff_dir / "cogeo.tif", bounds, width, height)
