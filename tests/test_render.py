"""Encoding: formats, the ``auto`` rule, transparency."""

from __future__ import annotations

import io
import zlib

import numpy as np
import pytest
from PIL import Image as PILImage

from oam_preview.tiler.render import (
    PNG_COMPRESS_LEVEL,
    PNG_PALETTE_STRATEGY,
    Pixels,
    deflate,
    encode,
    png,
    resolve_format,
)


def pixels(bands: int, transparent: bool) -> Pixels:
    data = np.arange(bands * 8 * 8, dtype=np.uint8).reshape(bands, 8, 8)
    mask = np.full((8, 8), 255, np.uint8)
    if transparent:
        mask[:2] = 0
    return Pixels(data, mask)


def decode(body: bytes) -> PILImage.Image:
    return PILImage.open(io.BytesIO(body))


@pytest.mark.parametrize(
    ("bands", "transparent", "fmt", "mode", "media_type"),
    [
        (3, False, "png", "RGB", "image/png"),
        (3, True, "png", "RGBA", "image/png"),
        (1, False, "png", "L", "image/png"),
        (1, True, "png", "LA", "image/png"),
        (3, True, "webp", "RGBA", "image/webp"),
        (1, True, "webp", "RGBA", "image/webp"),
        (3, False, "webp", "RGB", "image/webp"),
        (3, True, "jpg", "RGB", "image/jpeg"),
        (1, False, "jpeg", "L", "image/jpeg"),
        (3, False, "auto", "RGB", "image/jpeg"),
        (3, True, "auto", "RGBA", "image/png"),
    ],
)
def test_encode(bands, transparent, fmt, mode, media_type):
    body, media = encode(pixels(bands, transparent), fmt)
    assert media == media_type
    assert decode(body).mode == mode


def test_png_is_lossless_and_carries_the_mask():
    p = pixels(3, True)
    img = np.asarray(decode(encode(p, "png")[0]))
    np.testing.assert_array_equal(img[..., 3], p.mask)
    np.testing.assert_array_equal(np.moveaxis(img[..., :3], -1, 0), p.data)


def test_resolve_format():
    assert resolve_format("jpeg", pixels(3, False)) == "jpg"
    assert resolve_format("auto", pixels(3, False)) == "jpg"
    assert resolve_format("auto", pixels(1, True)) == "png"


@pytest.mark.parametrize(
    ("bands", "transparent", "mode"), [(1, False, "L"), (1, True, "LA"), (3, False, "RGB"), (3, True, "RGBA")]
)
def test_png_decodes_to_the_exact_pixels_whatever_the_rows(bands, transparent, mode):
    rng = np.random.default_rng(bands)
    data = rng.integers(0, 256, (bands, 37, 53), dtype=np.uint8)  # the Up filter wraps modulo 256
    mask = np.full((37, 53), 255, np.uint8)
    if transparent:
        mask[5:9, 3:40] = 0
        data[:, mask == 0] = 0
    img = decode(encode(Pixels(data, mask), "png")[0])
    img.load()  # checks every chunk's CRC and the zlib stream
    assert img.mode == mode
    array = np.asarray(img)
    array = array[..., np.newaxis] if array.ndim == 2 else array
    np.testing.assert_array_equal(np.moveaxis(array[..., :bands], -1, 0), data)
    if transparent:
        np.testing.assert_array_equal(array[..., -1], mask)


def test_a_palette_png_of_a_stretched_surface_is_lossless_and_run_length_coded():
    """Palette indexes of a stretched height, "Up"-filtered, are runs of a few small values:
    zlib's run-length strategy keeps them smaller than its general match search does."""
    rows, cols = np.mgrid[0:256, 0:256]
    heights = 900 + 120 * np.sin(cols / 40.0) * np.cos(rows / 55.0) + 0.02 * cols * rows
    indexes = np.clip((heights - 780) / (1060 - 780) * 255, 0, 255).astype(np.uint8)
    palette = np.stack([np.arange(256), 255 - np.arange(256), np.full(256, 90)], axis=1).astype(np.uint8)
    body = png(indexes, palette)
    img = decode(body)
    img.load()
    assert img.mode == "P" and img.getpalette()[:6] == [0, 255, 90, 1, 254, 90]
    np.testing.assert_array_equal(np.asarray(img), indexes)
    assert PNG_PALETTE_STRATEGY == zlib.Z_RLE
    filtered = np.empty((256, 257), np.uint8)
    filtered[:, 0], filtered[0, 1:] = 2, indexes[0]
    np.subtract(indexes[1:], indexes[:-1], out=filtered[1:, 1:])
    general = len(zlib.compress(filtered.tobytes(), PNG_COMPRESS_LEVEL))
    run_length = deflate(filtered, zlib.Z_RLE)
    assert len(run_length) < general
    assert run_length in body  # the IDAT is that stream
