"""Holds the current catalog of a running service and reloads it from its source."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .search import Catalog

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CatalogStatus:
    """What ``/healthz`` reports of the catalog."""

    source: str
    images: int
    skipped: int
    last_success: float | None  # Unix time
    last_error: str | None
    last_error_at: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "images": self.images,
            "skipped": self.skipped,
            "last_success": self.last_success,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
        }


class CatalogStore:
    """The live catalog: a reference swapped atomically on reload.

    ``loader`` builds a fresh :class:`Catalog` from the source (it may raise);
    requests read :attr:`catalog` and never wait on a reload. A failed reload
    keeps the last good catalog and records the error.
    """

    def __init__(self, source: str, loader: Callable[[], Catalog], ttl: float = 0.0) -> None:
        self.source = source
        self.ttl = ttl
        self._loader = loader
        self._catalog = Catalog(())
        self._lock = threading.Lock()
        self._last_success: float | None = None
        self._last_error: str | None = None
        self._last_error_at: float | None = None

    @classmethod
    def fixed(cls, catalog: Catalog, source: str = "memory") -> CatalogStore:
        """A store around an already-built catalog that never reloads."""
        store = cls(source, lambda: catalog)
        store.reload()
        return store

    @property
    def catalog(self) -> Catalog:
        return self._catalog

    def reload(self) -> bool:
        """Load the source again; return whether it succeeded."""
        with self._lock:
            try:
                catalog = self._loader()
            except Exception as exc:  # any failure keeps the last good catalog
                log.warning("catalog %s: reload failed: %s", self.source, exc)
                self._last_error = str(exc)
                self._last_error_at = time.time()
                return False
            self._catalog = catalog
            self._last_success = time.time()
            return True

    def status(self) -> CatalogStatus:
        catalog = self._catalog
        return CatalogStatus(
            source=self.source,
            images=len(catalog),
            skipped=len(catalog.skipped),
            last_success=self._last_success,
            last_error=self._last_error,
            last_error_at=self._last_error_at,
        )
