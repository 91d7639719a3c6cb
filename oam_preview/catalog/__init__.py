"""The catalog: image records, their sources and their search."""

from .model import Image
from .search import Catalog, SearchResult
from .sources import CatalogError, load, load_document

__all__ = ["Catalog", "CatalogError", "Image", "SearchResult", "load", "load_document"]
