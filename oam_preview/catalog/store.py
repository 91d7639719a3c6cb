"""Holds the current catalog of a running service and reloads it from its source.

A catalog given by URL is refreshed in the background every ``ttl`` seconds
by a daemon thread (:meth:`CatalogStore.start`). Requests only ever read
the current reference, so they never wait on a refresh; a refresh that
fails keeps the last good catalog and shows up in :meth:`CatalogStore.status`.
"""

from __future__ import annotations

import logging
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .footprints import FootprintFiller
from .headers import DatasetOpener, LazyOpener
from .privacy import Marks
from .search import Catalog
from .sources import DEFAULT_MAX_RECORDS, load

log = logging.getLogger(__name__)

#: Skipped records listed in ``/healthz`` (the count is always complete).
STATUS_SKIPPED_SHOWN = 20


@dataclass(frozen=True)
class CatalogStatus:
    """What ``/healthz`` reports of the catalog. Times are Unix seconds."""

    source: str
    images: int
    skipped: int
    last_success: float | None  # Unix time
    last_error: str | None
    last_error_at: float | None
    ttl: float = 0.0  # seconds between background refreshes; 0: none
    refreshing: bool = False  # whether the background refresh thread runs
    last_attempt: float | None = None
    last_duration: float | None = None  # seconds the last load took, failed or not
    consecutive_failures: int = 0
    skipped_records: tuple[tuple[str, str], ...] = ()  # the first (name, reason) pairs
    footprints_pending: int = 0  # images whose footprint is still to be read from their header

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "images": self.images,
            "skipped": self.skipped,
            "last_success": self.last_success,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
            "ttl": self.ttl,
            "refreshing": self.refreshing,
            "last_attempt": self.last_attempt,
            "last_duration": self.last_duration,
            "consecutive_failures": self.consecutive_failures,
            "skipped_records": [{"name": name, "reason": reason} for name, reason in self.skipped_records],
            "footprints_pending": self.footprints_pending,
        }


def redact(source: str) -> str:
    """``source`` without credentials or query string, fit for ``/healthz`` (signed URLs and
    ``user:password@`` must not leak)."""
    parts = urllib.parse.urlsplit(source)
    if parts.scheme.lower() not in ("http", "https"):
        return source
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    query = "?…" if parts.query else ""
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", "")) + query


def is_remote_source(source: str) -> bool:
    """Whether a catalog source is an http(s) URL (the ones that are refreshed)."""
    return urllib.parse.urlsplit(source).scheme.lower() in ("http", "https")


class CatalogStore:
    """The live catalog: a reference swapped atomically on reload.

    ``loader`` builds a fresh :class:`Catalog` from the source (it may raise);
    requests read :attr:`catalog` and never wait on a reload. A failed reload
    keeps the last good catalog and records the error. With ``ttl`` > 0,
    :meth:`start` reloads every ``ttl`` seconds in a daemon thread until
    :meth:`stop`. A loader that returns the current catalog itself (an
    unchanged source) counts as a success that changes nothing.

    With ``footprints``, images of each new catalog that have no footprint get
    one from their GeoTIFF's header in the background (:mod:`.footprints`),
    read through ``opener`` (the interface of :class:`oam_preview.remote.opener.Opener`;
    default: ``Opener(Settings.from_env())``, built at its first use).
    """

    def __init__(
        self,
        source: str,
        loader: Callable[[], Catalog],
        ttl: float = 0.0,
        *,
        opener: DatasetOpener | None = None,
        footprints: bool = False,
    ) -> None:
        self.source = source
        self.ttl = ttl
        self.opener: DatasetOpener = opener if opener is not None else LazyOpener()
        self._loader = loader
        self._catalog = Catalog(())
        self._lock = threading.Lock()
        self._swap = threading.Lock()  # the reference only; never held during a load
        self._filler = FootprintFiller(self.opener, self._publish) if footprints else None
        self._last_success: float | None = None
        self._last_error: str | None = None
        self._last_error_at: float | None = None
        self._last_attempt: float | None = None
        self._last_duration: float | None = None
        self._consecutive_failures = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._subscribers: list[Callable[[Catalog], None]] = []
        self._marks: Marks | None = None

    @classmethod
    def fixed(cls, catalog: Catalog, source: str = "memory") -> CatalogStore:
        """A store around an already-built catalog that never reloads."""
        store = cls(source, lambda: catalog)
        store.reload()
        return store

    @classmethod
    def for_source(
        cls,
        source: str,
        ttl: float,
        loader: Callable[[str], Catalog] | None = None,
        *,
        opener: DatasetOpener | None = None,
        max_records: int = DEFAULT_MAX_RECORDS,
        footprints: bool = True,
    ) -> CatalogStore:
        """A store reading ``source`` with ``loader`` (default :func:`sources.load`).

        ``ttl`` (seconds) applies to http(s) sources only: a local file or
        directory does not change under a running service often enough to
        poll it. The default loader refreshes conditionally (an unchanged
        document costs one ``304``), keeps at most ``max_records`` images and
        reads GeoTIFF headers through ``opener``. Nothing is loaded yet: call
        :meth:`reload`, then :meth:`start`.
        """
        store = cls(
            source,
            lambda: load_source(),
            ttl if is_remote_source(source) else 0.0,
            opener=opener,
            footprints=footprints,
        )
        if loader is not None:
            given = loader

            def load_source() -> Catalog:
                return given(source)

        else:

            def load_source() -> Catalog:
                previous = store.catalog if store._last_success is not None else None
                return load(source, previous=previous, max_records=max_records, opener=store.opener)

        return store

    @property
    def catalog(self) -> Catalog:
        return self._catalog

    def reload(self) -> bool:
        """Load the source again; return whether it succeeded."""
        with self._lock:
            started = time.time()
            self._last_attempt = started
            try:
                catalog = self._loader()
            except Exception as exc:  # noqa: BLE001 - any failure keeps the last good catalog
                log.warning("catalog %s: reload failed: %s", self.source, exc)
                self._last_error = str(exc) or type(exc).__name__
                self._last_error_at = time.time()
                self._last_duration = self._last_error_at - started
                self._consecutive_failures += 1
                return False
            if catalog is not self._catalog:
                if self._marks is not None:
                    catalog = catalog.with_marks(self._marks)
                if self._filler is not None:
                    catalog = self._filler.schedule(catalog)
                with self._swap:
                    self._catalog = catalog
                self._notify(catalog)
            self._last_success = time.time()
            self._last_duration = self._last_success - started
            self._consecutive_failures = 0
            return True

    def mark_with(self, marks: Marks) -> None:
        """Mark the images of every catalog made current from now on, and of the current one now,
        as ``marks(source_url)`` says (the operator's profiles: :mod:`.privacy`). The footprints
        filled in later keep the marks: they replace images of a marked catalog."""
        with self._lock:
            self._marks = marks
            with self._swap:  # a footprint batch of the unmarked catalog is then not published
                catalog = self._catalog.with_marks(marks)
                if catalog is self._catalog:
                    return
                if self._filler is not None:  # fill the marked one instead (headers read are kept)
                    catalog = self._filler.schedule(catalog)
                self._catalog = catalog
            self._notify(catalog)

    def _publish(self, old: Catalog, new: Catalog) -> bool:
        """Make ``new`` current if ``old`` still is (background footprints); whether it did."""
        with self._swap:
            if self._catalog is not old:
                return False
            self._catalog = new
        self._notify(new)
        return True

    def subscribe(self, callback: Callable[[Catalog], None]) -> None:
        """Call ``callback`` with each catalog made current from now on, and with the current one
        now when one has loaded (the feeds' "added" log observes them). Its failures are logged."""
        self._subscribers.append(callback)
        if self._last_success is not None:
            self._call(callback, self._catalog)

    def _notify(self, catalog: Catalog) -> None:
        for callback in list(self._subscribers):
            self._call(callback, catalog)

    def _call(self, callback: Callable[[Catalog], None], catalog: Catalog) -> None:
        try:
            callback(catalog)
        except Exception:  # noqa: BLE001 - a subscriber never fails a reload
            log.exception("catalog %s: a subscriber failed", self.source)

    def start(self) -> bool:
        """Start refreshing every ``ttl`` seconds in a daemon thread; whether one runs now.

        Call it in each worker process after forking (a thread does not survive
        a fork). Does nothing when ``ttl`` <= 0 or the thread already runs.
        """
        if self.ttl <= 0:
            return False
        if self._thread is not None and self._thread.is_alive():
            return True
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._refresh_forever, name="oam-preview-catalog-refresh", daemon=True
        )
        self._thread.start()
        return True

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the refresh thread; a load in progress finishes first (up to ``timeout`` s)."""
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        self._thread = None

    def _refresh_forever(self) -> None:
        while not self._stop.wait(self.ttl):
            try:
                self.reload()
            except BaseException:  # reload catches Exception; never let the thread die silently
                log.exception("catalog %s: refresh thread failed", self.source)
                raise

    def status(self) -> CatalogStatus:
        catalog = self._catalog
        thread = self._thread
        return CatalogStatus(
            source=redact(self.source),
            images=len(catalog),
            skipped=len(catalog.skipped),
            last_success=self._last_success,
            last_error=self._last_error,
            last_error_at=self._last_error_at,
            ttl=self.ttl,
            refreshing=thread is not None and thread.is_alive(),
            last_attempt=self._last_attempt,
            last_duration=self._last_duration,
            consecutive_failures=self._consecutive_failures,
            skipped_records=tuple(catalog.skipped[:STATUS_SKIPPED_SHOWN]),
            footprints_pending=self._filler.pending if self._filler is not None else 0,
        )
