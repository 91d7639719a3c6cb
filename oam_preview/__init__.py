"""oam-preview: thumbnails, XYZ tiles, TileJSON and WMTS of remote GeoTIFFs listed in a catalog."""

__version__ = "0.1.0"

from .app import create_app  # noqa: E402
from .blueprint import create_blueprint, init_app  # noqa: E402

__all__ = ["__version__", "create_app", "create_blueprint", "init_app"]
