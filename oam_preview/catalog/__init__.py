"""The catalog: image records, their sources and their search."""

from .model import Image
from .records import CatalogError
from .search import Catalog, SearchResult
from .sources import load, load_document

__all__ = ["Catalog", "CatalogError", "Image", "SearchResult", "load", "load_document"]
