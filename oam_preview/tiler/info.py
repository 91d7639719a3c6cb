"""What one GeoTIFF is, as oam-preview needs it: :class:`ImageInfo` (a value), and the choice of
the bands a rendering shows. :func:`~oam_preview.tiler.description.describe` builds it from a header.

Geographic bounds are EPSG:4326 degrees ``(west, south, east, north)``, west
> east when the image crosses the antimeridian; resolutions are metres per
pixel (GSD on the ground, Web Mercator metres for zooms).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from rasterio.crs import CRS
from rasterio.enums import ColorInterp
from rasterio.transform import Affine
from shapely.geometry.base import BaseGeometry

from ..errors import NotGeoreferenced, OutsideBounds, ZoomOutOfRange
from ..geo.geometry import BBox, bbox_intersects
from ..geo.mercator import MAX_LATITUDE
from ..geo.tiles import OVERZOOM, geographic_bounds


def select_bands(colorinterp: Sequence[ColorInterp]) -> tuple[tuple[int, ...], str]:
    """Bands to show and how: ``("rgb" | "grey" | "palette")`` (1-based band indexes).

    By colour interpretation (RGB, palette, grey), else the first three
    non-alpha bands as RGB, else the first band as grey.
    """
    ci = list(colorinterp)
    if all(c in ci for c in (ColorInterp.red, ColorInterp.green, ColorInterp.blue)):
        return (
            ci.index(ColorInterp.red) + 1,
            ci.index(ColorInterp.green) + 1,
            ci.index(ColorInterp.blue) + 1,
        ), "rgb"
    if ci and ci[0] == ColorInterp.palette:
        return (1,), "palette"
    non_alpha = [i + 1 for i, c in enumerate(ci) if c != ColorInterp.alpha] or [1]
    if len(non_alpha) >= 3:
        return tuple(non_alpha[:3]), "rgb"
    return (non_alpha[0],), "grey"


@dataclass(frozen=True, eq=False)
class ImageInfo:
    """What oam-preview needs to know of a GeoTIFF, computed once per image version.

    ``crs``/``transform`` place the pixel grid (from GCPs for GCP-only files);
    both are ``None`` when the file is not georeferenced. ``bounds`` is the
    geographic bbox, ``gsd`` metres per pixel on the ground.
    """

    width: int
    height: int
    count: int
    dtype: str
    crs: CRS | None
    transform: Affine | None
    georeference: str | None  # "transform", "gcps" or None
    bounds: BBox | None
    footprint: BaseGeometry | None
    gsd: float | None
    native_zoom: int | None
    min_zoom: int | None
    bands: tuple[int, ...]
    mode: str  # "rgb", "grey" or "palette"
    palette: np.ndarray | None  # (256, 4) uint8 lookup table
    rescale: tuple[tuple[float, float], ...] | None  # per band of rescale_bands (low, high)
    overviews: tuple[int, ...]
    block_shape: tuple[int, int]  # rows, cols of one block (a strip for stripped files)
    bytes_per_pixel: int  # all bands, as stored
    #: Whether one band is alpha (GDAL's colour interpretation).
    alpha: bool = False
    #: Each band's description (GDAL's; ``""`` when it has none): a multispectral file's band names.
    descriptions: tuple[str, ...] = ()
    #: The bands ``rescale`` gives a range for (every band but alpha, up to a few): ``bands`` when empty.
    rescale_bands: tuple[int, ...] = ()

    @cached_property
    def web_mercator(self) -> bool:
        """Whether the pixel grid is in Web Mercator (EPSG:3857), the tile grid's CRS: a tile is
        then a window of the file, no warp (as OpenAerialMap's files are)."""
        return self.crs is not None and self.transform is not None and self.crs.to_epsg() == 3857

    def mercator_bounds(self) -> BBox | None:
        """Geographic bounds with latitudes clamped to Web Mercator's range."""
        if self.bounds is None:
            return None
        w, s, e, n = self.bounds
        return (w, max(s, -MAX_LATITUDE), e, min(n, MAX_LATITUDE))

    def require_tiles(self) -> ImageInfo:
        """``self``, or :class:`NotGeoreferenced` for an image that has no tiles."""
        if self.georeference is None or self.bounds is None or self.native_zoom is None:
            raise NotGeoreferenced(
                "this image has no georeferencing (no CRS, geotransform or GCPs), so it has no tiles; "
                "its thumbnail works"
            )
        return self

    def check_tile(self, z: int, x: int, y: int) -> None:
        """Raise the API error for a tile this image cannot serve."""
        native = self.require_tiles().native_zoom
        assert native is not None
        if z > native + OVERZOOM:
            raise ZoomOutOfRange(f"zoom {z} is beyond this image's native zoom {native} + {OVERZOOM}")
        image_bounds = self.mercator_bounds()
        assert image_bounds is not None
        if image_bounds[1] >= image_bounds[3] or not bbox_intersects(
            image_bounds, geographic_bounds(z, x, y)
        ):
            raise OutsideBounds(f"tile {z}/{x}/{y} is outside this image's bounds")
