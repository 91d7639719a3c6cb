"""``oam-preview catalog SRC``: what a catalog source yields, for an operator."""

from __future__ import annotations

from typing import TextIO

from .sources import load


def print_report(src: str, out: TextIO, first: int = 5) -> int:
    """Load ``src`` and print its count, skipped records with reasons, and the first records.

    Returns the number of usable images.
    """
    catalog = load(src)
    print(f"{src}: {len(catalog)} images, {len(catalog.skipped)} skipped", file=out)
    for name, reason in catalog.skipped:
        print(f"  skipped {name}: {reason}", file=out)
    for image in catalog.images[:first]:
        print(f"  {image.id}  {image.title!r}  {image.source_url}  bbox={image.bbox} gsd={image.gsd}", file=out)
    return len(catalog)
