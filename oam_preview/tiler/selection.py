"""The images a mosaic query selects, placed for tiles: :class:`Selection`.

A query (the listing's filters and an order) selects and orders images; a
:class:`Selection` holds them with their footprints in EPSG:3857 metres and a
spatial index, built once per catalog and query (:class:`~oam_preview.tiler.mosaic.Mosaic`
keeps them), and says what the mosaic's TileJSON and WMTS say of it. The footprint
tiles select the same way.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from shapely import STRtree
from shapely.geometry import box
from shapely.geometry.base import BaseGeometry

from ..catalog import Catalog, Image, privacy
from ..catalog.query import ImageQuery
from ..errors import NotFound
from ..geo.geometry import crosses_antimeridian
from ..geo.mercator import MAX_LATITUDE, RADIUS, WORLD
from ..geo.tiles import xy_bounds, zoom_for_resolution
from .ogc import TiledLayer

#: The maxzoom of a mosaic whose images have no known resolution.
UNKNOWN_MAXZOOM = 22
#: The title of the mosaic layer in its documents (TileJSON, WMTS, packages).
LAYER_TITLE = "oam-preview: all imagery"


def _to_mercator(coords: np.ndarray) -> np.ndarray:
    lon = np.radians(coords[:, 0])
    lat = np.radians(np.clip(coords[:, 1], -MAX_LATITUDE, MAX_LATITUDE))
    return np.column_stack([lon * RADIUS, RADIUS * np.log(np.tan(np.pi / 4 + lat / 2))])


def mercator(geoms: Sequence[BaseGeometry]) -> np.ndarray:
    """``geoms`` from EPSG:4326 degrees to EPSG:3857 metres (latitudes clamped to Web
    Mercator's), all in one vectorised pass; an array of geometries."""
    return shapely.transform(np.array(geoms, dtype=object), _to_mercator)


def estimated_native_zoom(image: Image) -> int | None:
    """The native zoom an image's catalog GSD implies (the header's may differ by one); ``None``
    when the catalog does not say."""
    if not image.gsd or image.bbox is None:
        return None
    lat = min(abs(image.bbox[1] + image.bbox[3]) / 2, MAX_LATITUDE)
    return zoom_for_resolution(image.gsd / math.cos(math.radians(lat)))


@dataclass(frozen=True, eq=False)
class Selection:
    """The images a query selects, in its order, with what tiles need to find them fast.

    ``footprints`` are EPSG:3857 metres, ``extents`` their (minx, miny, maxx,
    maxy) as an (n, 4) array, ``native`` the native zoom of each (NaN where
    the catalog gives no GSD). Images without a footprint are left out: a
    mosaic cannot place them (the catalog fills footprints in from headers).
    Private images are in it only as ``allowed`` (an API token's scope) admitted them;
    ``marked`` are its images that may be private (:mod:`~oam_preview.catalog.privacy`), and
    ``digest`` names the images by id, so a selection with a private image never shares a
    cache key with one an anonymous request makes.
    """

    catalog: Catalog
    query: ImageQuery
    images: tuple[Image, ...]
    footprints: tuple[BaseGeometry, ...]
    extents: np.ndarray
    native: np.ndarray
    tree: STRtree
    digest: str  # names the selection's content in cache keys
    marked: tuple[Image, ...] = ()  # its images marked private or embargoed (at any time)

    @classmethod
    def build(
        cls, catalog: Catalog, query: ImageQuery, allowed: Callable[[Image], bool] | None = None
    ) -> Selection:
        images = tuple(i for i in catalog.select(query, allowed) if i.footprint is not None)
        footprints = tuple(mercator([i.footprint for i in images if i.footprint is not None]))
        extents = shapely.bounds(np.array(footprints, dtype=object)).reshape(-1, 4)
        native = np.array(
            [np.nan if (z := estimated_native_zoom(i)) is None else z for i in images], dtype=np.float64
        )
        digest = hashlib.blake2b(digest_size=12)
        for image in images:
            # The nodata hint and render hints change the pixels a tile shows, as the file does.
            digest.update(
                f"{image.id}\0{image.source_url}\0{image.nodata_hint()}\0{image.renders!r}\0".encode()
            )
        marked = tuple(i for i in images if privacy.may_be_private(i))
        return cls(
            catalog,
            query,
            images,
            footprints,
            extents,
            native,
            STRtree(footprints),
            digest.hexdigest(),
            marked,
        )

    def candidates(self, z: int, x: int, y: int) -> np.ndarray:
        """Indexes (in the selection's order) of the images whose footprints meet tile ``z/x/y``."""
        return np.sort(self.tree.query(box(*xy_bounds(z, x, y)), predicate="intersects"))

    def layer(self, name: str) -> TiledLayer:
        """What the mosaic's TileJSON and WMTS say: the union of the images' bounds, zooms 0 to
        the finest native zoom among them."""
        if not self.images:
            raise NotFound("the query selects no image")
        bounds = [i.bbox for i in self.images if i.bbox is not None]
        if any(crosses_antimeridian(b) for b in bounds):
            w, e = WORLD[0], WORLD[2]  # one image across the antimeridian: the whole width
        else:
            w, e = min(b[0] for b in bounds), max(b[2] for b in bounds)
        s = max(WORLD[1], min(b[1] for b in bounds))
        n = min(WORLD[3], max(b[3] for b in bounds))
        known = self.native[~np.isnan(self.native)]
        providers = sorted({p for i in self.images for p in (i.provider, i.license) if p})
        attribution = ", ".join(providers[:10]) + (", …" if len(providers) > 10 else "")
        return TiledLayer(
            id="mosaic",
            title=name,
            attribution=attribution or None,
            bounds=(w, s, e, n),
            minzoom=0,
            maxzoom=int(known.max()) if known.size else UNKNOWN_MAXZOOM,
        )
