"""The demo's images: what each is (:data:`DEMO_IMAGES`) and their building, once, into the
user's cache directory (:func:`build`; a minute or so on first run, with progress on stderr).

:mod:`~oam_preview.demo.catalog` lists them as a catalog, :mod:`~oam_preview.demo.switch`
serves them over HTTP ranges, :mod:`~oam_preview.demo.synthetic` writes their pixels.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ..progress_lines import ProgressLines
from .synthetic import BLOCK, DemoImage, windows, write_image

#: Bump when the generated images change, so old caches are not reused.
DEMO_VERSION = "2"  # 2: the visual images lossless ZSTD, as OpenAerialMap now writes them

DEMO_IMAGES = (
    DemoImage(
        "kathmandu-aerial",
        "Kathmandu valley, aerial mosaic (synthetic, 10240 px)",
        85.324,
        27.708,
        32645,
        0.3,
        10240,
        10240,
        "rgb_cog",
        "oam-preview demo",
        "2024-03-14",
        1,
    ),
    # Two more over Kathmandu, so the mosaic ("all imagery") has a stack to composite: an older,
    # coarser satellite scene around the aerial, and a newer drone survey inside it whose
    # nodata collar lets the aerial show through.
    DemoImage(
        "kathmandu-satellite",
        "Kathmandu valley, satellite scene (synthetic, 2 m)",
        85.326,
        27.706,
        32645,
        2.0,
        2560,
        2560,
        "rgb_cog",
        "oam-preview demo",
        "2019-11-02",
        6,
    ),
    DemoImage(
        "kathmandu-drone",
        "Kathmandu, drone survey with a nodata collar (synthetic, 12 cm)",
        85.3265,
        27.7095,
        32645,
        0.12,
        2400,
        2400,
        "rgb_collar_cog",
        "oam-preview demo",
        "2025-04-20",
        7,
    ),
    # A before/after pair over Beira (cyclone Idai's floods, 2019): one landscape, then flooded,
    # so the page's compare swipe and timeline show a change at once.
    DemoImage(
        "beira-before",
        "Beira, before the flood (synthetic, 50 cm)",
        34.853,
        -19.835,
        32736,
        0.5,
        2048,
        2048,
        "rgb_cog",
        "oam-preview demo",
        "2019-02-20",
        8,
    ),
    DemoImage(
        "beira-after",
        "Beira, after the flood (synthetic, 50 cm)",
        34.853,
        -19.835,
        32736,
        0.5,
        2048,
        2048,
        "rgb_flood_cog",
        "oam-preview demo",
        "2019-03-22",
        8,
    ),
    DemoImage(
        "freetown-collar",
        "Freetown, warped JPEG upload with a black collar (synthetic; try nodata=0)",
        -13.234,
        8.484,
        32628,
        0.5,
        2048,
        2048,
        "rgb_jpeg_collar_cog",
        "oam-preview demo",
        "2023-09-12",
        9,
    ),
    DemoImage(
        "dar-es-salaam-drone",
        "Dar es Salaam, drone survey with alpha (synthetic)",
        39.272,
        -6.792,
        32737,
        0.1,
        2400,
        1800,
        "rgba_cog",
        "oam-preview demo",
        "2023-08-02",
        2,
    ),
    DemoImage(
        "port-au-prince-stripped",
        "Port-au-Prince, stripped non-COG upload (synthetic)",
        -72.335,
        18.543,
        32618,
        0.5,
        3000,
        2400,
        "rgb_stripped",
        "oam-preview demo",
        "2022-01-20",
        3,
    ),
    DemoImage(
        "nairobi-uint16",
        "Nairobi, 4-band 16-bit satellite scene (synthetic)",
        36.82,
        -1.29,
        32737,
        10.0,
        2048,
        2048,
        "uint16_cog",
        "oam-preview demo",
        "2021-11-05",
        4,
    ),
    DemoImage(
        "dhaka-landcover",
        "Dhaka, land-cover classes with a palette (synthetic)",
        90.41,
        23.81,
        3857,
        2.0,
        2048,
        2048,
        "palette_cog",
        "oam-preview demo",
        "2020-06-30",
        5,
    ),
    # OpenAerialMap's current uploads: lossless ZSTD COGs in their native data type, each item
    # with its product type and render hints (STAC render extension v2), as its STAC API has them.
    DemoImage(
        "goma-dsm",
        "Goma, drone surface model of a volcano's flank (synthetic, float32, 50 cm)",
        29.23,
        -1.66,
        32735,
        0.5,
        2048,
        2048,
        "dsm_zstd_cog",
        "oam-preview demo",
        "2021-06-10",
        11,
    ),
    DemoImage(
        "kigali-multispectral",
        "Kigali, 4-band multispectral drone survey (synthetic, uint16 R G B NIR)",
        30.06,
        -1.95,
        32735,
        0.2,
        2048,
        2048,
        "multispectral_zstd_cog",
        "oam-preview demo",
        "2022-07-15",
        12,
    ),
    DemoImage(
        "lusaka-landcover",
        "Lusaka, land-cover classes with the catalog's colours (synthetic)",
        28.28,
        -15.42,
        32735,
        1.0,
        2048,
        2048,
        "landcover_zstd_cog",
        "oam-preview demo",
        "2023-03-01",
        13,
    ),
)


def cache_dir() -> Path:
    """Where the demo images live: ``$OAM_PREVIEW_DEMO_DIR`` or the user's cache directory."""
    explicit = os.environ.get("OAM_PREVIEW_DEMO_DIR")
    if explicit:
        return Path(explicit)
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "oam-preview" / f"demo-v{DEMO_VERSION}"


def build(directory: Path | None = None, progress: bool = True) -> Path:
    """Generate the demo images that are missing in ``directory``; return it."""
    directory = directory or cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    missing = [spec for spec in DEMO_IMAGES if not (directory / spec.filename).exists()]
    if not missing:
        return directory
    total = sum(len(windows(s.width, s.height)) for s in missing)
    label = f"building demo images in {directory}"
    lines = (
        ProgressLines(label, total, f"blocks of {BLOCK} px") if progress and not sys.stderr.isatty() else None
    )
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if lines is not None:  # a log or a pipe: a line at each tenth
            lines.update()
        elif progress and (30 * done // total != 30 * (done - 1) // total or done == total):
            bar = "#" * (30 * done // total)  # redrawn only when it grows
            sys.stderr.write(f"{label} [{bar:<30}] {done}/{total} blocks\r")
            sys.stderr.flush()

    if lines is not None:
        lines.start()
    for spec in missing:
        write_image(spec, directory / spec.filename, tick)
    if progress and lines is None:
        sys.stderr.write("\n")
    return directory
