"""Reading a GeoTIFF's header for the catalog: footprint, GSD and a few facts, through an opener.

Every read goes through an opener with the interface of
:class:`oam_preview.remote.opener.Opener` (``with opener.open(url) as dataset``,
failures raised as :mod:`oam_preview.errors`), so catalog loads and the
background footprints share the service's deadline, circuit breaker and
bulkhead. :class:`LazyOpener` builds ``Opener(Settings.from_env())`` at its first use
when none is given (not at import: GDAL is heavy and a host app configures it).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from shapely.geometry.base import BaseGeometry

from ..errors import OamPreviewError


class DatasetOpener(Protocol):
    """What the catalog needs of :class:`oam_preview.remote.opener.Opener`."""

    def open(self, url: str) -> contextlib.AbstractContextManager[Any]: ...


class LazyOpener:
    """An :class:`~oam_preview.remote.opener.Opener` of default settings, built at first use."""

    def __init__(self) -> None:
        self._opener: Any = None
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def open(self, url: str) -> Iterator[Any]:
        with self._lock:
            if self._opener is None:
                from ..config import Settings
                from ..remote.opener import Opener

                self._opener = Opener(Settings.from_env())  # the operator's OAM_PREVIEW_* (upstream policy)
        with self._opener.open(url) as dataset:
            yield dataset


@dataclass(frozen=True)
class Header:
    """What a GeoTIFF's header says: footprint (EPSG:4326, split at the antimeridian), GSD
    (metres) and ``info`` (width, height, bands, dtype, crs) for the Feature's properties."""

    footprint: BaseGeometry | None
    gsd: float | None
    info: dict[str, Any] = field(default_factory=dict)


class HeaderError(Exception):
    """A header that could not be read, with the reason."""


def read_header(opener: DatasetOpener, location: str) -> Header:
    """The header of the GeoTIFF at ``location`` (URL or path); :class:`HeaderError` if unreadable."""
    from rasterio.errors import RasterioError  # heavy; only header reads need it

    from ..geo.georeference import geographic_footprint

    try:
        with opener.open(location) as ds:
            footprint, gsd = geographic_footprint(ds)
            info: dict[str, Any] = {
                "width": ds.width,
                "height": ds.height,
                "bands": ds.count,
                "dtype": ds.dtypes[0] if ds.dtypes else None,
            }
            if ds.crs is not None:
                info["crs"] = ds.crs.to_string()
    except (OamPreviewError, RasterioError, OSError, ValueError) as exc:
        raise HeaderError(f"cannot read the GeoTIFF header: {exc}") from None
    return Header(footprint, gsd, info)
