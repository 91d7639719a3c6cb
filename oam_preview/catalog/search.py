"""An immutable, searchable set of catalog images (API.md's ``/api/images`` filters)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from shapely import STRtree

from ..geometry import bbox_geometry
from .model import BBox, Image


@dataclass(frozen=True)
class SearchResult:
    images: Sequence[Image]
    matched: int


@dataclass
class Catalog:
    """Images by id in catalog order, with a spatial index over their footprints.

    Built once per load and never mutated, so request threads share it freely;
    a refresh builds a new one and swaps the reference.
    """

    images: tuple[Image, ...]
    skipped: tuple[tuple[str, str], ...] = ()  # (record name, reason)
    _by_id: dict[str, Image] = field(init=False, repr=False)
    _tree: STRtree = field(init=False, repr=False)
    _tree_index: list[int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._by_id = {image.id: image for image in self.images}
        geoms, index = [], []
        for i, image in enumerate(self.images):
            if image.footprint is not None:
                geoms.append(image.footprint)
                index.append(i)
        self._tree = STRtree(geoms)
        self._tree_index = index

    @classmethod
    def from_images(cls, images: Iterable[Image], skipped: Iterable[tuple[str, str]] = ()) -> Catalog:
        """Keep the first image of each id; later duplicates become skipped records."""
        seen: set[str] = set()
        kept: list[Image] = []
        skips = list(skipped)
        for image in images:
            if image.id in seen:
                skips.append((image.id, "duplicate id; the first record wins"))
                continue
            seen.add(image.id)
            kept.append(image)
        return cls(tuple(kept), tuple(skips))

    def __len__(self) -> int:
        return len(self.images)

    def get(self, image_id: str) -> Image | None:
        return self._by_id.get(image_id)

    def search(
        self,
        bbox: BBox | None = None,
        q: str | None = None,
        acquired_after: datetime | None = None,
        acquired_before: datetime | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> SearchResult:
        """Filter as API.md says; results keep catalog order.

        ``bbox`` (degrees, EPSG:4326; west > east crosses the antimeridian) matches
        footprints that intersect it. Dates match by overlap, bounds inclusive:
        an image matches ``acquired_after`` when it ends on or after it.
        """
        if bbox is not None:
            hits = self._tree.query(bbox_geometry(bbox), predicate="intersects")
            candidates: Iterable[Image] = (
                self.images[self._tree_index[i]] for i in sorted({int(h) for h in hits})
            )
        else:
            candidates = self.images
        needle = q.casefold() if q else None
        matched = [
            image
            for image in candidates
            if (needle is None or _text_matches(image, needle))
            and _date_matches(image, acquired_after, acquired_before)
        ]
        return SearchResult(tuple(matched[offset : offset + limit]), len(matched))


def _text_matches(image: Image, needle: str) -> bool:
    return needle in image.title.casefold() or needle in (image.provider or "").casefold()


def _date_matches(image: Image, after: datetime | None, before: datetime | None) -> bool:
    if after is None and before is None:
        return True
    start = image.acquisition_start or image.acquisition_end
    end = image.acquisition_end or image.acquisition_start
    if start is None or end is None:
        return False  # undated images can't overlap a date range
    if after is not None and end < after:
        return False
    return not (before is not None and start > before)
