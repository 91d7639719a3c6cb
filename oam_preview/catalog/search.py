"""An immutable, searchable set of catalog images (API.md's ``/api/images`` filters and orders)."""

from __future__ import annotations

import difflib
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from shapely import STRtree

from ..errors import NotFound
from ..geo.geometry import BBox, bbox_geometry
from . import privacy
from .fetch import Revision
from .model import ID_PATTERN, Image
from .query import EVERYTHING, ImageQuery

#: Selections of different queries kept per catalog.
SELECTIONS_KEPT = 32
#: Ids an unknown id's error suggests at most.
SUGGESTED = 5
#: Largest catalog whose ids are compared by similarity for a suggestion (each unknown id costs a
#: pass over them all); past it, only the ids that begin with the unknown one are suggested.
SIMILARITY_SCAN_MAX = 5000


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
    #: The source document's ETag/Last-Modified when an unchanged answer means an unchanged
    #: catalog (one document, no pages or links); ``None`` otherwise.
    revision: Revision | None = None
    _by_id: dict[str, Image] = field(init=False, repr=False, compare=False)
    _position: dict[str, int] = field(init=False, repr=False, compare=False)
    _tree: STRtree = field(init=False, repr=False, compare=False)
    _tree_index: list[int] = field(init=False, repr=False, compare=False)
    _selections: OrderedDict[ImageQuery, tuple[Image, ...]] = field(init=False, repr=False, compare=False)
    _selections_lock: threading.Lock = field(init=False, repr=False, compare=False)
    _may_be_private: bool = field(init=False, repr=False, compare=False)
    _marked: tuple[Image, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Paging through a listing asks the same query again and again: the last few
        # selections are kept (the catalog never changes, so they never go stale).
        self._selections = OrderedDict()
        self._selections_lock = threading.Lock()
        self._by_id = {image.id: image for image in self.images}
        self._position = {image.id: i for i, image in enumerate(self.images)}
        geoms, index = [], []
        for i, image in enumerate(self.images):
            if image.footprint is not None:
                geoms.append(image.footprint)
                index.append(i)
        self._tree = STRtree(geoms)
        self._tree_index = index
        self._marked = tuple(image for image in self.images if privacy.may_be_private(image))
        self._may_be_private = bool(self._marked)

    @classmethod
    def from_images(
        cls,
        images: Iterable[Image],
        skipped: Iterable[tuple[str, str]] = (),
        revision: Revision | None = None,
    ) -> Catalog:
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
        return cls(tuple(kept), tuple(skips), revision)

    def with_images(self, replaced: Mapping[str, Image]) -> Catalog:
        """A new catalog with the images of ``replaced`` (by id) put in place of the old ones."""
        images = tuple(replaced.get(image.id, image) for image in self.images)
        return Catalog(images, self.skipped, self.revision)

    def with_marks(self, marks: privacy.Marks) -> Catalog:
        """This catalog with each image marked as ``marks(source_url)`` says (an operator's profile:
        :func:`~oam_preview.catalog.privacy.marked`), and only so: an earlier mark ``marks`` no
        longer gives is taken off; itself when no image changes."""
        replaced = {}
        for image in self.images:
            given = marks(image.source_url)
            if given or image.record_privacy is not None:  # a mark given, or one to take off
                changed = privacy.marked(image, given)
                if changed is not image:
                    replaced[image.id] = changed
        return self.with_images(replaced) if replaced else self

    def __len__(self) -> int:
        return len(self.images)

    def seen_marked(self, allowed: Callable[[Image], bool] | None = None) -> frozenset[str]:
        """The ids of the images marked private or embargoed (at any time) that a selection with
        ``allowed`` includes now: those public now (an embargo passed) and those ``allowed`` admits.
        With the query, it names what a selection holds (the key of what is built from one: the
        mosaic's, the footprints'), so an embargo's end or a token's scope is a new one."""
        if not self._may_be_private:
            return frozenset()
        moment = privacy.now()
        return frozenset(
            image.id
            for image in self._marked
            if not privacy.private_at(image, moment) or (allowed is not None and allowed(image))
        )

    def get(self, image_id: str) -> Image | None:
        return self._by_id.get(image_id)

    def require(self, image_id: str) -> Image:
        """The image of ``image_id``; :class:`NotFound` otherwise, naming the ids it may have meant."""
        image = self._by_id.get(image_id) if ID_PATTERN.match(image_id) else None
        if image is None:
            meant = self.suggestions(image_id)
            hint = f"; did you mean {', '.join(meant)}?" if meant else ""
            raise NotFound(f"no image with id {image_id[:128]!r} in the catalog{hint}")
        return image

    def require_public(self, image_id: str) -> Image:
        """:meth:`require`, and 404 as for an unknown id when the image is private now: what an
        anonymous client may name (the command line's seeds and exports)."""
        image = self.require(image_id)
        if privacy.private_at(image, privacy.now()):
            raise NotFound(f"no image with id {image_id[:128]!r} in the catalog")
        return image

    def suggestions(self, image_id: str) -> tuple[str, ...]:
        """Ids close to an unknown ``image_id``, at most :data:`SUGGESTED`: those that begin with it
        (``kathmandu``: each ``kathmandu-*``, in catalog order), then those spelt alike."""
        asked = image_id[:128].lower()
        if not asked:
            return ()
        found = [i for i in self._by_id if i.lower().startswith(asked)][:SUGGESTED]
        if len(found) < SUGGESTED and len(self._by_id) <= SIMILARITY_SCAN_MAX:
            lowered = {i.lower(): i for i in self._by_id}
            alike = difflib.get_close_matches(asked, lowered, n=SUGGESTED, cutoff=0.6)
            found += [lowered[i] for i in alike if lowered[i] not in found]
        if self._may_be_private:  # a private image's id is not told to whoever misspells it
            moment = privacy.now()
            found = [i for i in found if not privacy.private_at(self._by_id[i], moment)]
        return tuple(found[:SUGGESTED])

    def select(
        self, query: ImageQuery = EVERYTHING, allowed: Callable[[Image], bool] | None = None
    ) -> tuple[Image, ...]:
        """The images ``query`` selects, in its order; stable (ties keep the catalog's order).

        ``bbox`` (degrees, EPSG:4326; west > east crosses the antimeridian) matches
        footprints that intersect it, through the spatial index. Dates match by
        overlap, bounds inclusive: an image matches ``acquired_after`` when it ends
        on or after it. ``gsd_min``/``gsd_max`` (metres) are inclusive and never
        match an unknown gsd. With ``ids`` and order ``catalog`` the ids' own order
        is kept. Images private now (:mod:`~oam_preview.catalog.privacy`) are selected only when
        ``allowed(image)`` says so (an API token's scope): never without ``allowed``.
        """
        with self._selections_lock:
            selected = self._selections.get(query)
            if selected is not None:
                self._selections.move_to_end(query)
        if selected is None:
            selected = self._select(query)
            with self._selections_lock:
                self._selections[query] = selected
                while len(self._selections) > SELECTIONS_KEPT:
                    self._selections.popitem(last=False)
        if not self._may_be_private:
            return selected
        # After the kept selection: an embargo ends while it is kept.
        moment = privacy.now()
        return tuple(
            image
            for image in selected
            if not privacy.private_at(image, moment) or (allowed is not None and allowed(image))
        )

    def _select(self, query: ImageQuery) -> tuple[Image, ...]:
        positions: Iterable[int]
        if query.ids is not None:
            positions = [self._position[i] for i in query.ids if i in self._position]
        else:
            positions = range(len(self.images))
        if query.bbox is not None:
            hits = {int(self._tree_index[h]) for h in self._bbox_hits(query.bbox)}
            positions = sorted(hits) if query.ids is None else [p for p in positions if p in hits]
        needle = query.q.casefold() if query.q else None
        selected = [
            image
            for image in (self.images[p] for p in positions)
            if (needle is None or _text_matches(image, needle))
            and _date_matches(image, query.acquired_after, query.acquired_before)
            and _gsd_matches(image, query.gsd_min, query.gsd_max)
            and (query.platform is None or image.platform == query.platform)
        ]
        if query.order != "catalog":
            selected.sort(key=ORDER_KEYS[query.order])
        return tuple(selected)

    def search(
        self,
        query: ImageQuery = EVERYTHING,
        limit: int = 100,
        offset: int = 0,
        allowed: Callable[[Image], bool] | None = None,
    ) -> SearchResult:
        """One page of :meth:`select`: ``limit`` images from ``offset``, and how many matched."""
        selected = self.select(query, allowed)
        return SearchResult(selected[offset : offset + limit], len(selected))

    def _bbox_hits(self, bbox: BBox) -> Iterable[int]:
        return self._tree.query(bbox_geometry(bbox), predicate="intersects")  # type: ignore[no-any-return]


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


def _gsd_matches(image: Image, low: float | None, high: float | None) -> bool:
    if low is None and high is None:
        return True
    if image.gsd is None:
        return False
    return (low is None or image.gsd >= low) and (high is None or image.gsd <= high)


# Sort keys: unknown values sort last in every order; Python's sort is stable, so
# ties keep the order the images came in (the catalog's, or that of ``ids``).


def _end_time(image: Image) -> datetime | None:
    return image.acquisition_end or image.acquisition_start


def _start_time(image: Image) -> datetime | None:
    return image.acquisition_start or image.acquisition_end


def _gsd_key(image: Image) -> tuple[bool, float]:
    return (image.gsd is None, image.gsd or 0.0)


def _newest_key(image: Image) -> tuple[bool, float, bool, float]:
    end = _end_time(image)
    return (end is None, -end.timestamp() if end else 0.0, *_gsd_key(image))


def _oldest_key(image: Image) -> tuple[bool, float, bool, float]:
    start = _start_time(image)
    return (start is None, start.timestamp() if start else 0.0, *_gsd_key(image))


def _best_key(image: Image) -> tuple[bool, float, bool, float]:
    end = _end_time(image)
    return (*_gsd_key(image), end is None, -end.timestamp() if end else 0.0)


#: ``order`` → sort key of :meth:`Catalog.select` (API.md).
ORDER_KEYS = {"newest": _newest_key, "oldest": _oldest_key, "best": _best_key}
