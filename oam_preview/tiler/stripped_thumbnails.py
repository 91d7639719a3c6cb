"""Thumbnails of files without internal overviews, kept per worker: :class:`StrippedThumbnails`.

Such a thumbnail is a decimated read of megabytes of strips (seconds), or a read of a ``.ovr``
sidecar beside the file. It is kept per worker and file version, computed by one thread at a
time, and read at the largest size that needs no more strips (see
:mod:`~oam_preview.tiler.decimated`): every format, and every size it can be shrunk to, then
costs one read. :class:`~oam_preview.tiler.imagery.Imagery` asks it for the thumbnails of
the files it found without overviews.
"""

from __future__ import annotations

import threading
from typing import Any

from cachetools import LRUCache

from ..catalog.model import Image
from ..memo import Memo
from ..remote.opener import Opener
from .budget import check_read, read_cost, thumbnail_size
from .dataset_reads import read_without_overviews
from .decimated import read_size, shrink
from .info import ImageInfo
from .render import Pixels
from .rendering import Rendering

#: Files whose read sizes (and sidecar answers) are kept per worker.
ENTRIES = 4096
#: Decoded thumbnails of files without overviews kept per worker, bytes (a 1024 px RGB one is 4 MB).
THUMBNAIL_CACHE_BYTES = 32 * 1024 * 1024


class StrippedThumbnails:
    """The kept thumbnail reads of files without internal overviews, by URL and generation."""

    def __init__(self, opener: Opener, max_read_bytes: float) -> None:
        self.opener = opener
        self.max_read_bytes = max_read_bytes
        self._sidecars: Memo[tuple[str, int], bool] = Memo(ENTRIES)
        self._thumbnails: Memo[tuple[str, int, int, str], Pixels] = Memo(
            THUMBNAIL_CACHE_BYTES, getsizeof=lambda p: p.data.nbytes + p.mask.nbytes
        )
        # The sizes read of each file: a smaller thumbnail is shrunk from one.
        self._read_sizes: LRUCache[tuple[str, int], set[int]] = LRUCache(ENTRIES)
        self._lock = threading.Lock()

    def thumbnail(
        self, image: Image, generation: int, info: ImageInfo, max_size: int, shown: Rendering
    ) -> Pixels:
        """The thumbnail of ``image``'s file of ``generation`` (described by ``info``, without
        internal overviews), longest side ``max_size``, drawn as ``shown`` (already checked
        against the file)."""
        key = (image.source_url, generation)
        width, height = thumbnail_size(info.width, info.height, max_size)
        sidecars = width < info.width and self.has_sidecar(image, generation)
        # One read per file serves every size of which it needs the same strips (see decimated).
        size = max_size if sidecars else read_size(info.width, info.height, info.block_shape[0], max_size)
        look = shown.key()
        read = self._larger_read(key, size, look) or self._thumbnails.get(
            (*key, size, look), lambda: self._read(image, info, size, sidecars, shown)
        )
        with self._lock:
            self._read_sizes.setdefault(key, set()).add(size)
        return shrink(read, width, height)

    def _larger_read(self, key: tuple[str, int], size: int, look: str) -> Pixels | None:
        """A kept thumbnail read of ``key`` rendered as ``look`` at ``size`` or larger (the
        smallest such), if any."""
        with self._lock:
            sizes = sorted(s for s in self._read_sizes.get(key, ()) if s >= size)
        for known in sizes:
            pixels = self._thumbnails.peek((*key, known, look))
            if pixels is not None:
                return pixels
        return None

    def _read(self, image: Image, info: ImageInfo, max_size: int, sidecars: bool, shown: Rendering) -> Pixels:
        """From a ``.ovr`` sidecar when there is one, else a decimated read of the full resolution."""
        width, height = thumbnail_size(info.width, info.height, max_size)
        if not sidecars:
            check_read(read_cost(info, info.width, info.height, width, height), self.max_read_bytes)

        def work(dataset: Any) -> Pixels:
            return read_without_overviews(dataset, info, max_size, sidecars, shown, self.max_read_bytes)

        return self.opener.read(image.source_url, work, sidecars=sidecars)

    def has_sidecar(self, image: Image, generation: int) -> bool:
        """Whether a ``.ovr`` overview file sits beside ``image``'s file of ``generation`` (one
        without internal overviews).

        Only a definite answer is kept: a probe that fails (a timeout, a 5xx)
        raises and is asked again next time.
        """

        def probe() -> bool:
            return self.opener.read(
                image.source_url, lambda dataset: bool(dataset.overviews(1)), sidecars=True
            )

        return self._sidecars.get((image.source_url, generation), probe)
