"""What one lent dataset is read for: a tile's pixels, a point's values, a statistics read, a
thumbnail. Functions of the open dataset, its file's :class:`ImageInfo` and the
:class:`Rendering` shown; :class:`~oam_preview.tiler.imagery.Imagery` decides which, of which
version of the file, and keeps what is kept.

Tiles are Web Mercator XYZ tiles (:mod:`oam_preview.geo.tiles`); ``shift`` is an image's
alignment offset as one EPSG:3857 vector (metres), applied where its pixels are read.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Literal

import numpy as np
from rasterio.warp import transform as transform_points
from rio_tiler.errors import PointOutsideBounds, TileOutsideBounds
from rio_tiler.io import Reader
from rio_tiler.reader import read as rio_read

from ..errors import OutsideBounds
from ..geo.tiles import TMS, xy_bounds
from .aligned_reads import read_aligned_tile
from .budget import check_read, read_cost, thumbnail_size
from .collar import CollarGrid, decollared, tile_zones
from .decimated import read_whole
from .description import STATS_SIZE, band_statistics
from .info import ImageInfo
from .render import Pixels, invalid_pixels, to_pixels
from .rendering import Rendering


def read_tile(
    dataset: Any,
    info: ImageInfo,
    shown: Rendering,
    z: int,
    x: int,
    y: int,
    size: int,
    shift: tuple[float, float] | None,
    collar: CollarGrid | None = None,
) -> Pixels:
    """The ``size``-pixel tile ``z/x/y`` shown as ``shown``, the file read ``shift`` metres back
    from where the tile is; :class:`OutsideBounds` when it holds none of the image. ``collar``:
    the image's collar grid, when ``shown`` asks a collar transparent."""
    zone, around = None, 0
    if collar is not None and shown.collar is not None:  # the zones where the pixels are read
        w, s, e, n = xy_bounds(z, x, y)
        dx, dy = shift or (0.0, 0.0)
        zone, around = tile_zones(collar, (w - dx, s - dy, e - dx, n - dy), TMS.rasterio_crs, size)
    # An algorithm that reads neighbours reads `buffer` pixels around the tile (rio-tiler's
    # buffer: the same grid, larger), so a pixel at its edge has them: no seams. So does a
    # collar's edge (collar.REACH).
    buffer = {"buffer": shown.buffer + around} if shown.buffer + around else {}
    bands = shown.bands(info.bands, info.count)
    aligned = None
    if shift is None and zone is None:
        aligned = read_aligned_tile(dataset, info, bands, z, x, y, size, shown.buffer, shown.nodata)
    if aligned is not None:
        return to_pixels(aligned, info, shown, shown.buffer)
    with Reader(None, dataset=dataset, tms=TMS) as reader:
        try:
            if shift is None:
                img = reader.tile(x, y, z, tilesize=size, indexes=bands, **buffer, **shown.read_options())
            else:  # the file read where the shown tile's pixels come from
                w, s, e, n = xy_bounds(z, x, y)
                dx, dy = shift
                img = reader.part(
                    (w - dx, s - dy, e - dx, n - dy), dst_crs=TMS.rasterio_crs,
                    bounds_crs=TMS.rasterio_crs, width=size, height=size, max_size=None,
                    indexes=bands, **buffer, **shown.read_options(),
                )  # fmt: skip
        except TileOutsideBounds:
            raise OutsideBounds(f"tile {z}/{x}/{y} is outside this image's bounds") from None
    pixels = to_pixels(img, info, shown, shown.buffer)
    if zone is None or shown.collar is None:
        return pixels
    return decollared(pixels, zone, shown.collar, crop=around)


def read_point(
    dataset: Any,
    info: ImageInfo,
    rendering: Rendering,
    lon: float,
    lat: float,
    file_lonlat: tuple[float, float],
) -> dict[str, Any]:
    """The values of ``rendering``'s bands (or its expression's outputs) at the shown point
    ``lon, lat`` (EPSG:4326 degrees), whose pixel is at ``file_lonlat`` in the file (moved back
    by the image's offset), its validity (``mask``) and the point in the image's CRS;
    :class:`OutsideBounds` outside."""
    bands = rendering.bands(tuple(range(1, info.count + 1)), info.count)
    file_lon, file_lat = file_lonlat
    with Reader(None, dataset=dataset) as reader:
        try:
            found = reader.point(file_lon, file_lat, indexes=bands, **rendering.read_options())
        except PointOutsideBounds:
            raise OutsideBounds(f"the point {lon},{lat} is outside this image") from None
    read = found.array.reshape(len(bands), 1, 1)
    # As the tiles show it (render.to_pixels): with ``nodata``, invalid where every band is.
    valid = not invalid_pixels(read, rendering.nodata)[0, 0]
    assert info.crs is not None  # tiled_info: georeferenced
    (x,), (y,) = transform_points("EPSG:4326", info.crs, [file_lon], [file_lat])
    doc: dict[str, Any] = {
        "coordinates": [lon, lat],
        "crs": info.crs.to_string(),
        "crs_coordinates": [x, y],
        "pixel": list(found.pixel_location) if found.pixel_location is not None else None,
        "bands": list(bands),
    }
    if rendering.expression is not None:
        outputs = rendering.expression.apply(read)
        doc["expression"] = list(rendering.expression.blocks)
        doc["values"] = [v.item() if valid else None for v in outputs.data[:, 0, 0]]
    else:
        # Null where masked, and where a float is not finite (JSON has no NaN).
        bad = np.ma.getmaskarray(read)[:, 0, 0] | ~np.isfinite(read.data[:, 0, 0])
        doc["values"] = [None if b else v.item() for v, b in zip(read.data[:, 0, 0], bad, strict=True)]
    doc["mask"] = 255 if valid else 0
    return doc


def read_statistics(
    dataset: Any, info: ImageInfo, rendering: Rendering, max_read_bytes: float
) -> dict[str, Any]:
    """Statistics of ``rendering``'s bands (or its expression's outputs) from a read of at most
    :data:`STATS_SIZE` px a side (an overview's; the read budget of ``max_read_bytes`` applies)."""
    bands = rendering.bands(tuple(range(1, info.count + 1)), info.count)
    width, height = thumbnail_size(info.width, info.height, STATS_SIZE)
    check_read(read_cost(info, info.width, info.height, width, height), max_read_bytes)
    if info.overviews:
        img = rio_read(dataset, width=width, height=height, indexes=bands, **rendering.read_options())
    else:  # each strip fetched once (see decimated); nodata applied below
        img = read_whole(dataset, width, height, bands, info.block_shape[0])
    if rendering.expression is None:
        return band_statistics(img.array, [f"b{b}" for b in bands], rendering.nodata)
    read = img.array
    read = np.ma.MaskedArray(
        read.data, mask=np.broadcast_to(invalid_pixels(read, rendering.nodata), read.shape)
    )
    outputs = rendering.expression.apply(read)
    return band_statistics(outputs, rendering.expression.blocks, None)


def read_thumbnail(
    dataset: Any,
    info: ImageInfo,
    max_size: int,
    rendering: Rendering,
    resampling: Literal["nearest", "average"] = "average",
) -> Pixels:
    """The whole image, longest side ``max_size``, from the overviews GDAL picks."""
    width, height = thumbnail_size(info.width, info.height, max_size)
    if info.mode == "palette":  # averaging palette indexes makes colours that aren't there
        resampling = "nearest"
    bands = rendering.bands(info.bands, info.count)
    img = rio_read(
        dataset, width=width, height=height, indexes=bands, resampling_method=resampling,
        **rendering.read_options(),
    )  # fmt: skip
    return to_pixels(img, info, rendering)


def read_without_overviews(
    dataset: Any, info: ImageInfo, max_size: int, sidecars: bool, rendering: Rendering, max_read_bytes: float
) -> Pixels:
    """The thumbnail of a file without internal overviews: from its ``.ovr`` sidecar when it has
    one (``dataset`` opened with sidecars), else a decimated read of the full resolution (each
    strip fetched once; nodata applied by :func:`to_pixels`: the strips are read as stored)."""
    width, height = thumbnail_size(info.width, info.height, max_size)
    bands = rendering.bands(info.bands, info.count)
    if not sidecars:
        img = read_whole(dataset, width, height, bands, info.block_shape[0])
        return to_pixels(img, info, rendering)
    with_ovr = replace(info, overviews=tuple(dataset.overviews(info.bands[0])))
    check_read(read_cost(with_ovr, info.width, info.height, width, height), max_read_bytes)
    return read_thumbnail(dataset, info, max_size, rendering)
