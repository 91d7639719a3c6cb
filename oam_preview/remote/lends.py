"""Datasets of a URL lent out, by the generation of the URL's content they were lent for.

GDAL keeps the bytes it downloads in one cache per process, by URL. When a file
is replaced under its URL, the :class:`~oam_preview.remote.opener.Opener` drops
them (``forget``) and opens the new version; but a read of the old version still
in flight stores its bytes in that cache when they arrive, after the drop, and a
read of the new version at the same offsets (a file rewritten with the same
layout) then takes them: the old pixels under the new version's URL, which is
cached as immutable. So a read of a newer generation waits until no read of an
older one is out, and GDAL's bytes of the URL are dropped once more, before it
starts, when an older read ended after its generation did.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable


class Lends:
    """Counts of datasets out, by URL and generation (one per :class:`Opener`)."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._out: dict[str, Counter[int]] = {}
        #: URLs whose older-generation reads ended after the drop: GDAL may hold their bytes.
        self._stale: set[str] = set()

    def begin(self, url: str, generation: int, timeout: float, forget: Callable[[], None]) -> None:
        """Count a dataset of ``url``'s ``generation`` out, once no dataset of an older
        generation is (waiting at most ``timeout`` seconds: ``TimeoutError`` past it). ``forget``
        (dropping GDAL's bytes of ``url``) runs first when an older read ended after the drop;
        under the lock, so that no read of ``url`` starts before it is done."""
        end = time.monotonic() + timeout
        with self._changed:
            while any(older < generation for older in self._out.get(url, ())):
                left = end - time.monotonic()
                if left <= 0:
                    raise TimeoutError(url)
                self._changed.wait(left)
            if url in self._stale:
                self._stale.discard(url)
                forget()
            self._out.setdefault(url, Counter())[generation] += 1

    def end(self, url: str, generation: int, current: int) -> None:
        """A dataset of ``url``'s ``generation`` is back; ``current`` is the URL's generation now."""
        with self._changed:
            out = self._out[url]
            out[generation] -= 1
            if not out[generation]:
                del out[generation]
            if not out:
                del self._out[url]
            if generation < current:
                self._stale.add(url)
            self._changed.notify_all()
