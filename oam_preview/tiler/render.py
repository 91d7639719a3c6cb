"""Read data -> display-ready 8-bit pixels and a validity mask -> PNG, JPEG or WebP bytes."""

from __future__ import annotations

import functools
import io
import math
import struct
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image as PILImage

from ..errors import BadRequest
from .info import ImageInfo
from .rendering import DEFAULT, Rendering, colormap_lut, colormap_planes

if TYPE_CHECKING:
    from rio_tiler.models import ImageData


#: Output formats of API.md and their media types; ``auto`` is decided per image.
MEDIA_TYPES = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "auto": "",
}

# Chosen for speed at a small size cost, measured on 256 px RGB tiles of an
# aerial JPEG COG (Pillow 13 with zlib-ng; benchmarks/tiles.py):
#   PNG level 6 (default) 14.6 ms, 83.6 kB; level 3 5.0 ms, 85.0 kB;
#   level 2 3.7 ms, 88.7 kB; level 1 3.6 ms, 89.7 kB.
#   WebP q80 method 4 (default) ~5 ms; method 2 3.0 ms, 12.6 kB; method 0 1.7 ms, 13.7 kB.
#   JPEG q85 0.2 ms, 18.8 kB (what ``auto`` gives an opaque tile).
# PNG level 2 is 4x faster than the default for 6 % more bytes; WebP method 0
# is 1.8x faster than method 2 for 9 % more bytes, at the same quality setting.
# PNG is written by :func:`png` with every row "Up"-filtered: Pillow tries all five
# filters on every row, which took 4.3 ms of a 256 px aerial tile's 13 ms in-process;
# one numpy filter and zlib take 2.3 ms for 85.0 kB (Pillow: 84.1 kB). With Python's
# own zlib (1.2.13), on the 16 256 px tiles of tests' real aerial (cogeo.tif), level 1
# takes 2.24 ms for 89.5 kB, level 2 2.99 ms for 88.6 kB, level 3 3.78 ms for 85.0 kB:
# level 1, a quarter of the CPU for 1 % more bytes.
PNG_COMPRESS_LEVEL = 1
# A colormapped tile is a palette PNG of its 0-255 indexes: a stretched height or index,
# "Up"-filtered, is long runs of a few small values, and zlib's run-length strategy finds
# them faster and smaller than its general match search (an OAM-style float32 DSM's tiles
# with terrain: 0.34 ms for 7.9 kB against level 2's 0.45 ms for 9.8 kB; dem.tif's: 0.50 ms,
# 12.5 kB against 0.74 ms, 15.1 kB). On photographs it is faster but up to 15 % larger.
PNG_PALETTE_STRATEGY = zlib.Z_RLE
#: PNG colour types by number of channels: grey, grey + alpha, RGB, RGBA.
PNG_COLOUR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}
PNG_PALETTE = 3
JPEG_QUALITY = 85
WEBP_QUALITY = 80
WEBP_METHOD = 0


@dataclass(frozen=True)
class Pixels:
    """Display-ready pixels: ``data`` is uint8 (bands, rows, cols) with 1 (grey) or
    3 (RGB) bands; ``mask`` is uint8 (rows, cols), 255 where valid, 0 where transparent."""

    data: np.ndarray
    mask: np.ndarray
    #: A colormapped band: its 0-255 values (rows, cols) and the colormap's (256, 3) RGB, which
    #: ``data`` expands; an opaque PNG of them is a palette PNG (one byte a pixel, not three).
    indexes: np.ndarray | None = None
    palette: np.ndarray | None = None

    @property
    def opaque(self) -> bool:
        return bool(self.mask.min() == 255) if self.mask.size else True


def display_ranges(info: ImageInfo, rendering: Rendering) -> tuple[tuple[float, float], ...] | None:
    """The (min, max) stretched to 0-255 per shown band: the request's ``rescale``, else the
    image's automatic 2-98 % ranges (8-bit data: none, shown as stored). An expression's outputs
    without ``rescale`` are shown as ``rescale=0,255`` would, on 8-bit images only: on others
    their range is unknown, so ``rescale`` is required. An algorithm's outputs without
    ``rescale``: its own range (``slope`` 0-90 degrees), or as computed when they are 8-bit.
    None either with a JSON ``colormap`` and no ``rescale``: it colours values as computed."""
    if rendering.colormap is not None and rendering.rescale is None:
        return None  # a JSON colormap colours the values as computed
    if rendering.algorithm is not None:
        spec = rendering.algorithm.spec
        asked = rendering.ranges(spec.outputs)
        return asked or (None if spec.display is None else (spec.display,) * spec.outputs)
    if rendering.expression is not None:
        outputs = len(rendering.expression.blocks)
        asked = rendering.ranges(outputs)
        if asked is None and info.dtype != "uint8":
            raise BadRequest(
                f"rescale=min,max is needed with expression on this {info.dtype} image "
                "(e.g. rescale=-1,1 for a normalised difference)"
            )
        return asked or ((0.0, 255.0),) * outputs
    bands = rendering.bands(info.bands, info.count)
    asked = rendering.ranges(len(bands))
    if asked is not None or info.rescale is None:
        return asked
    stretched = info.rescale_bands or info.bands
    auto = dict(zip(stretched, info.rescale, strict=True))
    missing = [b for b in bands if b not in auto]
    if missing:
        raise BadRequest(
            f"rescale=min,max is needed to show band {missing[0]} of this {info.dtype} image "
            f"(its automatic stretch covers bands {', '.join(map(str, stretched))})"
        )
    return tuple(auto[b] for b in bands)


def invalid_pixels(array: np.ma.MaskedArray, nodata: float | None) -> np.ndarray:
    """Where (rows, cols) a read (bands, rows, cols) has no valid pixel: masked in any band; with
    ``nodata``, masked or ``nodata`` in every band, as rio-tiler does (a collar is black in all
    three; a dark pixel inside the image is not). Checked here because a decimated read of strips
    does not apply ``nodata``."""
    if nodata is None:
        return np.asarray(np.ma.getmaskarray(array).any(axis=0))
    with np.errstate(invalid="ignore"):
        hit = np.isnan(array.data) if math.isnan(nodata) else array.data == nodata
    return np.asarray((np.ma.getmaskarray(array) | hit).all(axis=0))


def pixel_size(img: ImageData, info: ImageInfo) -> tuple[float, float]:
    """A pixel's (x, y) size of a read, in its CRS units: Web Mercator metres for a tile, the
    file's units for a thumbnail (a decimated read has no bounds: the file's pixel scaled)."""
    if img.bounds is not None:
        return abs(img.transform.a), abs(img.transform.e)
    if info.transform is None:
        return 1.0, 1.0
    return abs(info.transform.a) * info.width / img.width, abs(info.transform.e) * info.height / img.height


def to_pixels(img: ImageData, info: ImageInfo, rendering: Rendering = DEFAULT, buffer: int = 0) -> Pixels:
    """Display-ready 8-bit pixels from read data (of the bands ``rendering`` reads): palette
    expanded, an expression and an algorithm computed, non-8-bit data stretched, a colormap
    applied, ``nodata`` transparent. ``buffer``: pixels read around a tile for the algorithm,
    cropped by it."""
    array = img.array
    invalid = invalid_pixels(array, rendering.nodata)
    alpha = img.alpha_mask if img.alpha_mask is not None and img.alpha_mask.dtype == np.uint8 else None
    ranges = display_ranges(info, rendering)
    if rendering.expression is not None:
        array = rendering.expression.apply(array)
    values = array.data
    if rendering.algorithm is not None:  # a transparent input pixel is no input (its alpha: used)
        invalid = invalid if alpha is None else invalid | (alpha == 0)
        values, invalid = rendering.algorithm.apply(values, invalid, pixel_size(img, info), buffer)
        alpha = None
    mask = np.where(invalid, np.uint8(0), np.uint8(255))  # uint8 at once, not int64 then a copy
    if alpha is not None:
        mask = np.minimum(mask, alpha)
    palette = (
        info.mode == "palette"
        and info.palette is not None
        and rendering.bidx in (None, info.bands)
        and rendering.expression is None
        and rendering.algorithm is None
    )
    if (
        palette
        and rendering.rescale is None
        and rendering.colormap_name is None
        and rendering.colormap is None
    ):
        assert info.palette is not None
        rgba = info.palette[np.clip(values[0], 0, 255).astype(np.uint8)]
        data = np.moveaxis(rgba[..., :3], -1, 0)
        mask = np.minimum(mask, rgba[..., 3])
    elif rendering.colormap is not None and rendering.rescale is None:
        data = values  # coloured as computed: the colormap names the values it colours
    elif ranges is not None:
        data = np.empty(values.shape, dtype=np.uint8)
        for i, (low, high) in enumerate(ranges):
            data[i] = stretch(values[i], low, high)
    else:
        data = values.astype(np.uint8, copy=False)
    indexes = palette_rgb = None
    if rendering.colormap is not None:
        if data.shape[0] != 1:
            raise BadRequest("colormap colours one band: this image shows three (use bidx=N)")
        rgba = rendering.colormap.apply(data[0])
        data = np.moveaxis(rgba[..., :3], -1, 0)
        mask = np.minimum(mask, rgba[..., 3])
    if rendering.colormap_name is not None:
        if data.shape[0] != 1:
            raise BadRequest("colormap_name colours one band: this image shows three (use bidx=N)")
        lut = colormap_lut(rendering.colormap_name)
        indexes, palette_rgb = data[0], lut[:, :3]
        # Band by band from the (3, 256) planes: (3, rows, cols) as stored, where gathering RGB
        # triplets gave (rows, cols, 3) and a transposing copy at the end.
        data = np.take(colormap_planes(rendering.colormap_name), indexes, axis=1)
        if lut[:, 3].min() < 255:
            mask = np.minimum(mask, lut[indexes, 3])
    if not mask.all():  # most tiles are opaque: no copy for them
        data = np.where(mask[np.newaxis] == 0, np.uint8(0), data)
        indexes = palette_rgb = None
    return Pixels(np.ascontiguousarray(data), mask, indexes, palette_rgb)


def stretch(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """``values`` from [low, high] linearly to 0-255 uint8, clipped (NaN: 0). 8- and 16-bit data
    go through a lookup table of the same arithmetic: one gather instead of four passes of floats."""
    if values.dtype in (np.uint8, np.uint16):
        return _stretch_lut(values.dtype.itemsize, low, high)[values]
    return _stretched(values, low, high)


def _stretched(values: np.ndarray, low: float, high: float) -> np.ndarray:
    # In place on one float32 copy; fmax/fmin clip and take NaN to 0 in the same passes (a float
    # DSM tile: 5 temporary arrays and nan_to_num's 3 scans before).
    with np.errstate(invalid="ignore", over="ignore"):
        scaled = values.astype(np.float32)
        scaled -= low
        scaled *= 255.0 / (high - low)
        np.fmax(scaled, 0, out=scaled)
        np.fmin(scaled, 255, out=scaled)
    return scaled.astype(np.uint8)


@functools.lru_cache(maxsize=64)
def _stretch_lut(itemsize: int, low: float, high: float) -> np.ndarray:
    """The stretch of every 8-bit (256 entries) or 16-bit (65,536) value."""
    return _stretched(np.arange(256**itemsize, dtype=np.uint8 if itemsize == 1 else np.uint16), low, high)


def resolve_format(fmt: str, pixels: Pixels) -> str:
    """The concrete format for ``fmt``: ``auto`` is JPEG when fully opaque, else PNG."""
    if fmt == "auto":
        return "jpg" if pixels.opaque else "png"
    return "jpg" if fmt == "jpeg" else fmt


def encode(pixels: Pixels, fmt: str) -> tuple[bytes, str]:
    """Encode ``pixels`` as ``fmt`` (a key of :data:`MEDIA_TYPES`); return (bytes, media type).

    PNG and WebP carry the mask as alpha; JPEG has none, so invalid pixels
    keep whatever value they hold (black for nodata).
    """
    fmt = resolve_format(fmt, pixels)
    bands = pixels.data.shape[0]
    if bands == 1:
        base = pixels.data[0]
        mode = "L"
    else:
        base = np.moveaxis(pixels.data[:3], 0, -1)
        mode = "RGB"
    buffer = io.BytesIO()
    if fmt == "jpg":
        PILImage.fromarray(np.ascontiguousarray(base), mode).save(buffer, "JPEG", quality=JPEG_QUALITY)
        return buffer.getvalue(), MEDIA_TYPES[fmt]
    if fmt == "png" and pixels.indexes is not None and pixels.palette is not None and pixels.opaque:
        return png(pixels.indexes, pixels.palette), MEDIA_TYPES[fmt]
    channels = np.ascontiguousarray(base) if pixels.opaque else np.dstack([base, pixels.mask])
    if fmt == "png":
        return png(channels), MEDIA_TYPES[fmt]
    img = PILImage.fromarray(channels, mode if pixels.opaque else ("LA" if mode == "L" else "RGBA"))
    if img.mode == "LA":  # WebP has no grey: expand
        img = img.convert("RGBA")
    elif img.mode == "L":
        img = img.convert("RGB")
    img.save(buffer, "WEBP", quality=WEBP_QUALITY, method=WEBP_METHOD)
    return buffer.getvalue(), MEDIA_TYPES[fmt]


def png(channels: np.ndarray, palette: np.ndarray | None = None) -> bytes:
    """A PNG of uint8 ``channels``, (rows, cols) grey or (rows, cols, 1-4) grey/grey+alpha/RGB/RGBA;
    with ``palette`` ((256, 3) uint8 RGB), ``channels`` (rows, cols) are its indexes.

    Each row is filtered "Up" (its difference from the row above, modulo 256),
    then zlib at :data:`PNG_COMPRESS_LEVEL` (palette indexes: with
    :data:`PNG_PALETTE_STRATEGY`): one filter for the whole image, which suits
    continuous-tone imagery and costs one numpy subtraction.
    """
    if channels.ndim == 2:
        channels = channels[:, :, np.newaxis]
    rows, cols, count = channels.shape
    flat = np.ascontiguousarray(channels, dtype=np.uint8).reshape(rows, cols * count)
    filtered = np.empty((rows, cols * count + 1), dtype=np.uint8)
    filtered[:, 0] = 2  # filter type "Up"
    filtered[0, 1:] = flat[0]
    np.subtract(flat[1:], flat[:-1], out=filtered[1:, 1:])
    colour_type = PNG_PALETTE if palette is not None else PNG_COLOUR_TYPES[count]
    header = struct.pack(">IIBBBBB", cols, rows, 8, colour_type, 0, 0, 0)
    plte = (
        () if palette is None else (_chunk(b"PLTE", np.ascontiguousarray(palette, dtype=np.uint8).tobytes()),)
    )
    return b"".join(
        (
            b"\x89PNG\r\n\x1a\n",
            _chunk(b"IHDR", header),
            *plte,
            _chunk(
                b"IDAT",
                deflate(filtered, PNG_PALETTE_STRATEGY if palette is not None else zlib.Z_DEFAULT_STRATEGY),
            ),
            _chunk(b"IEND", b""),
        )
    )


def deflate(data: np.ndarray, strategy: int) -> bytes:
    """``data``'s bytes (C-contiguous) as one zlib stream, at :data:`PNG_COMPRESS_LEVEL` with
    ``strategy``."""
    stream = zlib.compressobj(PNG_COMPRESS_LEVEL, zlib.DEFLATED, zlib.MAX_WBITS, 8, strategy)
    return stream.compress(data.data) + stream.flush()


def _chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC-32 of type and data."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
