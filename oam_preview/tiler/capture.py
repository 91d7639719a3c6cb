"""What a tile's pixels are of, as HTTP headers: capture dates (JOSM's) and providers.

JOSM shows a tile's ``X-VE-TILEMETA-CaptureDatesRange`` (Bing's header, which
marblecutter also sent for OpenAerialMap) so a mapper can judge how old the
imagery under their edits is: ``M/D/YYYY-M/D/YYYY``, the earliest acquisition
start and the latest acquisition end of the images that gave pixels (UTC
calendar dates). ``X-OIN-Provider`` names their providers, as OAM's tilers did.
Header values are ASCII: accents are dropped, other characters left out.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from datetime import datetime

from ..catalog.model import Image

CAPTURE_DATES = "X-VE-TILEMETA-CaptureDatesRange"
PROVIDER = "X-OIN-Provider"
#: Most providers named in one header (a z0 mosaic tile may be made of many surveys).
MAX_PROVIDERS = 10


def _date(d: datetime) -> str:
    return f"{d.month}/{d.day}/{d.year}"


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().replace("\n", " ").strip()


def capture_headers(images: Iterable[Image]) -> tuple[tuple[str, str], ...]:
    """The headers for a tile made of ``images`` (in the order they gave pixels); none unknown."""
    images = list(images)
    starts = [i.acquisition_start or i.acquisition_end for i in images]
    ends = [i.acquisition_end or i.acquisition_start for i in images]
    headers: list[tuple[str, str]] = []
    known_starts = [d for d in starts if d is not None]
    known_ends = [d for d in ends if d is not None]
    if known_starts and known_ends:
        headers.append((CAPTURE_DATES, f"{_date(min(known_starts))}-{_date(max(known_ends))}"))
    providers: list[str] = []
    for image in images:
        name = _ascii(image.provider or "")
        if name and name not in providers:
            providers.append(name)
    if providers:
        more = ", ..." if len(providers) > MAX_PROVIDERS else ""
        headers.append((PROVIDER, ", ".join(providers[:MAX_PROVIDERS]) + more))
    return tuple(headers)
