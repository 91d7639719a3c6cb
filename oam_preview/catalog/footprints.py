"""Footprints of catalog images that came without one, read from their GeoTIFF headers in the
background after a load.

A record without geometry never matches a ``bbox`` search and is invisible on
the page's map. :class:`FootprintFiller` reads the headers of such images a
few at a time (:data:`CONCURRENCY`) through the service's opener (its
deadline, breaker and bulkhead), and publishes catalogs with the footprints
filled in, a batch at a time, as long as the catalog it started from is
still the current one. Results are kept by GeoTIFF URL: a refresh that
lists the same files again gets their footprints at once; a failed read is
forgotten with its catalog version, so the next version tries again.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from ..geo.geometry import footprint_bbox
from .headers import DatasetOpener, Header, HeaderError, read_header
from .model import Image
from .search import Catalog

log = logging.getLogger(__name__)

#: Headers read at once in the background: fewer than the bulkhead admits per host
#: (``OAM_PREVIEW_UPSTREAM_HOST_READS``, 4), so tiles of the same host keep slots.
CONCURRENCY = 2
#: Footprints gathered before a new catalog is published with them, and the longest wait (s).
PUBLISH_EVERY = 64
PUBLISH_SECONDS = 1.0

#: ``publish(old, new)``: make ``new`` current if ``old`` still is; whether it did.
Publish = Callable[[Catalog, Catalog], bool]


def with_header(image: Image, header: Header) -> Image:
    """``image`` with the footprint (and, when it had none, the GSD) of its header."""
    assert header.footprint is not None
    return dataclasses.replace(
        image,
        footprint=header.footprint,
        bbox=footprint_bbox(header.footprint),
        gsd=image.gsd if image.gsd is not None else header.gsd,
    )


class FootprintFiller:
    """Fills in missing footprints of each new catalog version, in a background thread."""

    def __init__(self, opener: DatasetOpener, publish: Publish) -> None:
        self._opener = opener
        self._publish = publish
        self._known: dict[str, Header] = {}  # by GeoTIFF URL, across versions
        self._pending = 0
        self._generation = 0
        self._lock = threading.Lock()

    @property
    def pending(self) -> int:
        """Images of the current version whose header is still to be read."""
        return self._pending

    def schedule(self, catalog: Catalog) -> Catalog:
        """``catalog`` with the footprints already known; the others are read in the background
        and published. A later call abandons the reads of an earlier one."""
        missing = [image for image in catalog.images if image.footprint is None]
        with self._lock:
            self._generation += 1
            generation = self._generation
            known = {
                image.id: with_header(image, self._known[image.source_url])
                for image in missing
                if image.source_url in self._known
            }
            todo = [image for image in missing if image.id not in known]
            self._pending = len(todo)
        if known:
            catalog = catalog.with_images(known)
        if todo:
            threading.Thread(
                target=self._fill,
                args=(generation, catalog, todo),
                name="oam-preview-footprints",
                daemon=True,
            ).start()
        return catalog

    def _current(self, generation: int) -> bool:
        return self._generation == generation

    def _read(self, generation: int, image: Image) -> Header | None:
        if not self._current(generation):
            return None  # a newer version is being filled: don't spend reads on this one
        try:
            header = read_header(self._opener, image.source_url)
        except HeaderError as exc:
            log.info("catalog: no footprint for %s: %s", image.id, exc)
            return None
        return header if header.footprint is not None else None

    def _fill(self, generation: int, catalog: Catalog, todo: Sequence[Image]) -> None:
        batch: dict[str, Image] = {}
        published_at = time.monotonic()
        with ThreadPoolExecutor(max_workers=CONCURRENCY, thread_name_prefix="oam-preview-footprint") as pool:
            for image, header in zip(todo, pool.map(lambda i: self._read(generation, i), todo), strict=True):
                with self._lock:
                    if not self._current(generation):
                        return  # the pool's remaining reads return at once
                    if header is not None:
                        self._known[image.source_url] = header
                        batch[image.id] = with_header(image, header)
                    self._pending -= 1
                    done = self._pending == 0
                if batch and (
                    done or len(batch) >= PUBLISH_EVERY or time.monotonic() - published_at > PUBLISH_SECONDS
                ):
                    updated = catalog.with_images(batch)
                    if not self._publish(catalog, updated):
                        return  # the store moved on (a reload): its own schedule takes over
                    catalog, batch, published_at = updated, {}, time.monotonic()
