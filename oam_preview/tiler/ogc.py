"""TileJSON 3.0.0 and OGC WMTS 1.0.0 documents of one tiled layer: an image or a mosaic (pure functions)."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any
from xml.sax.saxutils import escape as xml_escape
from xml.sax.saxutils import quoteattr

from ..catalog.model import BBox, Image
from ..geo.mercator import HALF_EQUATOR, WORLD
from ..geo.tiles import tile_range
from .info import ImageInfo
from .renders import Render

#: OGC's standardized rendering pixel, metres: 0.28 mm (WMTS 1.0.0; OGC 17-083r2).
STANDARDIZED_PIXEL = 0.00028
#: Scale denominator of GoogleMapsCompatible zoom 0: the world's width (Web Mercator metres) on
#: one 256 px tile of standardized pixels (559082264.0287178, as OGC 17-083r2 lists it).
SCALE_DENOMINATOR_Z0 = 2 * HALF_EQUATOR / 256 / STANDARDIZED_PIXEL


#: Characters XML 1.0 cannot carry even escaped (C0 controls but tab/LF/CR, surrogates, U+FFFE/F).
XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def escape(text: str) -> str:
    """``text`` as XML character data: escaped, and without the characters XML cannot hold
    (a catalog title with a NUL must not make the whole capabilities document unreadable)."""
    return xml_escape(XML_INVALID.sub("", text))


def attribution(image: Image) -> str | None:
    """ "Provider, license" of an image, as a map's attribution line, when known."""
    parts = [p for p in (image.provider, image.license) if p]
    return ", ".join(parts) if parts else None


def center(bounds: tuple[float, float, float, float], zoom: int) -> list[float]:
    """[lon, lat, zoom] of the middle of a bbox that may cross the antimeridian."""
    w, s, e, n = bounds
    if w > e:
        e += 360.0
    lon = (w + e) / 2
    if lon > 180:
        lon -= 360.0
    return [round(lon, 7), round((s + n) / 2, 7), zoom]


def inward(bounds: tuple[float, float, float, float], digits: int = 7) -> list[float]:
    """Bounds rounded to ``digits`` decimals towards their inside, so a client never asks for
    an edge tile that only the rounding put inside."""
    scale = 10**digits
    w, s, e, n = bounds
    return [
        math.ceil(w * scale) / scale,
        math.ceil(s * scale) / scale,
        math.floor(e * scale) / scale,
        math.floor(n * scale) / scale,
    ]


@dataclass(frozen=True)
class TiledLayer:
    """What the documents say of a layer: ``bounds`` in EPSG:4326 degrees within Web Mercator's
    latitudes (west > east across the antimeridian), zooms of 256 px tiles."""

    id: str
    title: str
    attribution: str | None
    bounds: BBox
    minzoom: int
    maxzoom: int


def image_layer(image: Image, info: ImageInfo) -> TiledLayer:
    """The layer of one image's tiles."""
    return TiledLayer(
        id=image.id,
        title=image.title or image.id,
        attribution=attribution(image),
        bounds=info.mercator_bounds() or WORLD,
        minzoom=info.min_zoom if info.min_zoom is not None else 0,
        maxzoom=info.native_zoom if info.native_zoom is not None else 0,
    )


def tilejson(layer: TiledLayer, tiles_url: str) -> dict[str, Any]:
    """TileJSON 3.0.0 of ``layer``; ``tiles_url`` has literal ``{z}/{x}/{y}``."""
    bounds, minzoom, maxzoom = layer.bounds, layer.minzoom, layer.maxzoom
    doc: dict[str, Any] = {
        "tilejson": "3.0.0",
        "name": layer.title,
        "tiles": [tiles_url],
        "scheme": "xyz",
        "bounds": inward(bounds),
        "center": center(bounds, max(minzoom, min(maxzoom, minzoom + 2))),
        "minzoom": minzoom,
        "maxzoom": maxzoom,
    }
    if layer.attribution:
        doc["attribution"] = layer.attribution
    return doc


def render_layer(layer: TiledLayer, render: Render | None, main: bool = True) -> TiledLayer:
    """``layer`` drawn as ``render``: its zooms within the render's ``minmax_zoom``; not the
    ``main`` layer (another of an image's renders), also its id and title suffixed with the
    render's name and title."""
    if render is None:
        return layer
    minzoom, maxzoom = layer.minzoom, layer.maxzoom
    if render.minmax_zoom is not None:
        low, high = render.minmax_zoom
        minzoom, maxzoom = max(minzoom, low), min(maxzoom, high)
        if minzoom > maxzoom:  # zooms the image does not have: its own
            minzoom, maxzoom = layer.minzoom, layer.maxzoom
    if main:
        return replace(layer, minzoom=minzoom, maxzoom=maxzoom)
    return replace(
        layer,
        id=f"{layer.id}:{render.name}",
        title=f"{layer.title} ({render.title})",
        minzoom=minzoom,
        maxzoom=maxzoom,
    )


def wmts_capabilities(
    layer: TiledLayer,
    tiles_url: str,
    capabilities_url: str,
    more: Sequence[tuple[TiledLayer, str]] = (),
) -> str:
    """WMTS 1.0.0 capabilities (GoogleMapsCompatible) with one layer, and ``more`` layers
    (another layer and its tiles URL each: an image's other renders).

    ``tiles_url`` has the WMTS placeholders ``{TileMatrix}/{TileCol}/{TileRow}``;
    every URL is XML-escaped.
    """
    layers = [(layer, tiles_url), *more]
    maxzoom = max(one.maxzoom for one, _ in layers)
    matrices = []
    for z in range(0, maxzoom + 1):
        size = 2**z
        matrices.append(
            f"""      <TileMatrix>
        <ows:Identifier>{z}</ows:Identifier>
        <ScaleDenominator>{SCALE_DENOMINATOR_Z0 / size!r}</ScaleDenominator>
        <TopLeftCorner>{-HALF_EQUATOR!r} {HALF_EQUATOR!r}</TopLeftCorner>
        <TileWidth>256</TileWidth>
        <TileHeight>256</TileHeight>
        <MatrixWidth>{size}</MatrixWidth>
        <MatrixHeight>{size}</MatrixHeight>
      </TileMatrix>"""
        )
    title = escape(layer.title)
    contents = "\n".join(_layer_xml(one, url) for one, url in layers)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Capabilities xmlns="http://www.opengis.net/wmts/1.0" xmlns:ows="http://www.opengis.net/ows/1.1"
    xmlns:xlink="http://www.w3.org/1999/xlink" xmlns:gml="http://www.opengis.net/gml"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    xsi:schemaLocation="http://www.opengis.net/wmts/1.0 http://schemas.opengis.net/wmts/1.0/wmtsGetCapabilities_response.xsd"
    version="1.0.0">
  <ows:ServiceIdentification>
    <ows:Title>oam-preview: {title}</ows:Title>
    <ows:ServiceType>OGC WMTS</ows:ServiceType>
    <ows:ServiceTypeVersion>1.0.0</ows:ServiceTypeVersion>
  </ows:ServiceIdentification>
  <ows:OperationsMetadata>
    <ows:Operation name="GetCapabilities">
      <ows:DCP><ows:HTTP><ows:Get xlink:href={quoteattr(capabilities_url)}>
        <ows:Constraint name="GetEncoding"><ows:AllowedValues><ows:Value>RESTful</ows:Value></ows:AllowedValues></ows:Constraint>
      </ows:Get></ows:HTTP></ows:DCP>
    </ows:Operation>
    <ows:Operation name="GetTile">
      <ows:DCP><ows:HTTP><ows:Get xlink:href={quoteattr(tiles_url)}>
        <ows:Constraint name="GetEncoding"><ows:AllowedValues><ows:Value>RESTful</ows:Value></ows:AllowedValues></ows:Constraint>
      </ows:Get></ows:HTTP></ows:DCP>
    </ows:Operation>
  </ows:OperationsMetadata>
  <Contents>
{contents}
    <TileMatrixSet>
      <ows:Identifier>GoogleMapsCompatible</ows:Identifier>
      <ows:SupportedCRS>urn:ogc:def:crs:EPSG::3857</ows:SupportedCRS>
      <WellKnownScaleSet>urn:ogc:def:wkss:OGC:1.0:GoogleMapsCompatible</WellKnownScaleSet>
{chr(10).join(matrices)}
    </TileMatrixSet>
  </Contents>
  <ServiceMetadataURL xlink:href={quoteattr(capabilities_url)}/>
</Capabilities>
"""


def _layer_xml(layer: TiledLayer, tiles_url: str) -> str:
    """One ``<Layer>`` of the capabilities: its title, bounds, zooms and tiles URL."""
    w, s, e, n = layer.bounds
    if w > e:  # WGS84BoundingBox can't cross the antimeridian
        w, e = WORLD[0], WORLD[2]
    return f"""    <Layer>
      <ows:Title>{escape(layer.title)}</ows:Title>
      <ows:Abstract>{escape(layer.attribution or "")}</ows:Abstract>
      <ows:WGS84BoundingBox crs="urn:ogc:def:crs:OGC:2:84">
        <ows:LowerCorner>{w!r} {s!r}</ows:LowerCorner>
        <ows:UpperCorner>{e!r} {n!r}</ows:UpperCorner>
      </ows:WGS84BoundingBox>
      <ows:Identifier>{escape(layer.id)}</ows:Identifier>
      <Style isDefault="true"><ows:Identifier>default</ows:Identifier></Style>
      <Format>image/png</Format>
      <TileMatrixSetLink>
        <TileMatrixSet>GoogleMapsCompatible</TileMatrixSet>
        <TileMatrixSetLimits>
{_limits(w, s, e, n, layer.maxzoom)}
        </TileMatrixSetLimits>
      </TileMatrixSetLink>
      <ResourceURL format="image/png" resourceType="tile" template={quoteattr(tiles_url)}/>
    </Layer>"""


def _limits(w: float, s: float, e: float, n: float, maxzoom: int) -> str:
    """TileMatrixLimits rows/cols covering the bbox at each zoom."""
    rows = []
    for z in range(0, maxzoom + 1):
        (col0, col1), (row0, row1) = tile_range((w, s, e, n), z)
        rows.append(
            "          <TileMatrixLimits>"
            f"<TileMatrix>{z}</TileMatrix>"
            f"<MinTileRow>{row0}</MinTileRow><MaxTileRow>{row1}</MaxTileRow>"
            f"<MinTileCol>{col0}</MinTileCol><MaxTileCol>{col1}</MaxTileCol>"
            "</TileMatrixLimits>"
        )
    return "\n".join(rows)
