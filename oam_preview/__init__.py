"""oam-preview: thumbnails, XYZ tiles, TileJSON and WMTS of remote GeoTIFFs listed in a catalog.

The names below load on first use (PEP 562), so importing a light part of the
package (``oam_preview.catalog.model``) does not load Flask or GDAL.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["__version__", "create_app", "create_blueprint", "init_app"]

if TYPE_CHECKING:
    from .web.app import create_app
    from .web.blueprint import create_blueprint, init_app

_LAZY = {"create_app": "web.app", "create_blueprint": "web.blueprint", "init_app": "web.blueprint"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
