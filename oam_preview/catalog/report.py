"""``oam-preview catalog SRC``: what a catalog source yields, for an operator."""

from __future__ import annotations

import time
from typing import TextIO

from .model import Image
from .sources import load


def print_report(src: str, out: TextIO, first: int = 5) -> int:
    """Load ``src`` and print its count, skipped records with reasons, and the first records.

    Returns the number of usable images. ``CatalogError`` when the source as a
    whole cannot be read.
    """
    started = time.perf_counter()
    catalog = load(src)
    seconds = time.perf_counter() - started
    print(
        f"{src}: {len(catalog)} images, {len(catalog.skipped)} skipped ({seconds:.2f} s)",
        file=out,
    )
    for name, reason in catalog.skipped:
        print(f"  skipped {name}: {reason}", file=out)
    for image in catalog.images[:first]:
        print(describe(image), file=out)
    if len(catalog) > first:
        print(f"  … and {len(catalog) - first} more", file=out)
    return len(catalog)


def describe(image: Image) -> str:
    """A few lines about one image: id, title, GeoTIFF URL, bbox (degrees), GSD (m), dates."""
    bbox = "none" if image.bbox is None else ", ".join(f"{v:.5f}" for v in image.bbox)
    gsd = "unknown" if image.gsd is None else f"{image.gsd:.3g} m"
    start = image.acquisition_start.isoformat() if image.acquisition_start else "?"
    end = image.acquisition_end.isoformat() if image.acquisition_end else "?"
    shape = image.footprint.geom_type if image.footprint is not None else "no footprint"
    return (
        f"  {image.id}  {image.title!r}\n"
        f"    url: {image.source_url}\n"
        f"    bbox: [{bbox}] ({shape})  gsd: {gsd}  acquired: {start} .. {end}\n"
        f"    provider: {image.provider or '?'}  license: {image.license or '?'}"
    )
