"""What an export packages: one image, an ids group or a mosaic, as one value parsed once.

:meth:`ExportRequest.from_json` reads ``POST /api/exports``' body (API.md "Exports"), the
CLI builds the same value (:meth:`ExportRequest.build`). The rendering options are the tile
routes' (:meth:`Rendering.from_values`), the mosaic filters the listing's
(:meth:`ImageQuery.from_values`); both are kept parsed, never as a query string.
"""

from __future__ import annotations

import hashlib
import json
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..catalog.model import ID_PATTERN
from ..catalog.query import ImageQuery
from ..catalog.render_hints import MAX_NAME as MAX_RENDER_NAME
from ..errors import BadRequest, NotFound
from ..geo.geometry import BBox
from ..geo.tiles import MAX_ZOOM
from ..tiler.rendering import DEFAULT, Rendering
from ..tiler.renders import Asked

#: Tile formats a package may hold (the tile routes' names).
TILE_FORMATS = ("png", "jpg", "webp")
#: Containers, by file name extension.
CONTAINERS = ("mbtiles", "pmtiles")


class ExportError(Exception):
    """An export that cannot be done as asked (a message for a person)."""


def rendering_from_json(doc: Mapping[str, Any]) -> Rendering:
    """The tile API's rendering options from JSON: ``bidx`` (a number, a list or ``"3,2,1"``),
    ``nodata`` (a number or ``"nan"``), ``rescale`` (``"min,max"``, ``[min, max]`` or a list of
    them), ``colormap_name``, ``expression``, ``algorithm``, ``colormap`` and
    ``algorithm_params`` (JSON: as a value or as its text), ``collar`` and ``collar_tolerance``;
    :class:`BadRequest` as the tile routes answer."""
    values: dict[str, list[str]] = {}
    bidx = doc.get("bidx")
    if bidx is not None:
        values["bidx"] = [",".join(str(b) for b in bidx)] if isinstance(bidx, list) else [str(bidx)]
    rescale = doc.get("rescale")
    if rescale is not None:
        if isinstance(rescale, str) or (
            isinstance(rescale, list) and rescale and not isinstance(rescale[0], list | str)
        ):
            rescale = [rescale]
        if not isinstance(rescale, list):
            raise BadRequest("rescale must be 'min,max', [min, max] or a list of them")
        values["rescale"] = [r if isinstance(r, str) else ",".join(str(v) for v in r) for r in rescale]
    for name in ("nodata", "colormap_name", "expression", "algorithm"):
        if doc.get(name) is not None:
            values[name] = [str(doc[name])]
    for name in ("colormap", "algorithm_params"):
        value = doc.get(name)
        if value is not None:
            values[name] = [value if isinstance(value, str) else json.dumps(value)]
    for name in ("collar", "collar_tolerance"):
        if doc.get(name) is not None:
            values[name] = [json.dumps(doc[name]).strip('"')]  # a bool is no tolerance: its 400
    return Rendering.from_values(values)


def _render_name(value: Any) -> str | None:
    """An export's ``render``: a render name (as the tile routes' ``render=``), or absent."""
    if value is None:
        return None
    if (
        not isinstance(value, str)
        or not value.strip()
        or len(value) > MAX_RENDER_NAME
        or not value.isprintable()
    ):
        raise BadRequest('render must be the name of a render of the images, e.g. "browse"')
    return value.strip()


@dataclass(frozen=True)
class ExportRequest:
    """What to package: one image (``ids`` of one), an ids group (several: the mosaic of
    ``ids=…&order=catalog``) or a mosaic (``mosaic``: the listing's query, ``order=newest`` by
    default). ``bbox`` (west, south, east, north, EPSG:4326 degrees, not across ±180°) and the
    zooms default to the layer's own; ``tile_format`` png, jpg or webp; ``container`` mbtiles
    or pmtiles."""

    ids: tuple[str, ...] = ()
    mosaic: ImageQuery | None = None
    tile_format: str = "png"
    container: str = "mbtiles"
    bbox: BBox | None = None
    minzoom: int | None = None
    maxzoom: int | None = None
    rendering: Rendering = field(default=DEFAULT)
    #: The render each image is drawn with, by name (its default one when ``None``).
    render: str | None = None

    def __post_init__(self) -> None:
        if bool(self.ids) == (self.mosaic is not None):
            raise BadRequest("give ids or a mosaic, one of them")
        for image_id in self.ids:  # they name catalog records
            if not ID_PATTERN.match(image_id):
                raise NotFound(f"no image with id {image_id[:128]!r} in the catalog")
        if self.tile_format not in TILE_FORMATS:
            raise BadRequest(f"tile_format must be one of {', '.join(TILE_FORMATS)}")
        self.rendering.output_format(self.tile_format)  # heights encoded: png only (a 400)
        if self.container not in CONTAINERS:
            raise BadRequest(f"format must be one of {', '.join(CONTAINERS)}")
        for name in ("minzoom", "maxzoom"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, int) and 0 <= value <= MAX_ZOOM):
                raise BadRequest(f"{name} must be a whole number from 0 to {MAX_ZOOM}")
        if self.minzoom is not None and self.maxzoom is not None and self.minzoom > self.maxzoom:
            raise BadRequest("minzoom is larger than maxzoom")
        if self.bbox is not None:
            w, s, e, n = self.bbox
            if not (-180 <= w < e <= 180 and -90 <= s < n <= 90):
                raise BadRequest("bbox must be west,south,east,north in degrees, west < east, south < north")

    @classmethod
    def build(
        cls,
        ids: Sequence[str] = (),
        mosaic: Mapping[str, str | int | float] | None = None,
        **options: Any,
    ) -> ExportRequest:
        """A request whose mosaic filters are parsed (a bad filter is a :class:`BadRequest`) and
        whose ids are each named once (the first time: as the listing's ``ids=``), so two
        spellings of one request are one request."""
        query = None if mosaic is None else ImageQuery.from_values(mosaic, default_order="newest")
        return cls(ids=tuple(dict.fromkeys(ids)), mosaic=query, **options)

    @classmethod
    def from_json(cls, doc: Any) -> ExportRequest:
        """The request of ``POST /api/exports``' JSON body (API.md "Exports")."""
        if not isinstance(doc, dict):
            raise BadRequest("the body must be a JSON object")
        known = {"ids", "mosaic", "format", "tile_format", "bbox", "minzoom", "maxzoom"}
        known |= {"bidx", "nodata", "rescale", "colormap_name", "expression", "render"}
        known |= {"colormap", "algorithm", "algorithm_params", "collar", "collar_tolerance"}
        unknown = sorted(set(doc) - known)
        if unknown:
            raise BadRequest(f"unknown field {unknown[0][:40]!r}; the fields are {', '.join(sorted(known))}")
        ids = doc.get("ids") or []
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids) or len(ids) > 1000:
            raise BadRequest("ids must be a list of at most 1000 image ids")
        mosaic = doc.get("mosaic")
        if mosaic is not None and not (
            isinstance(mosaic, dict) and all(isinstance(v, str | int | float) for v in mosaic.values())
        ):
            raise BadRequest('mosaic must be an object of listing filters, e.g. {"gsd_max": "1"}')
        bbox = doc.get("bbox")
        if bbox is not None:
            if not (isinstance(bbox, list) and len(bbox) == 4 and all(_is_number(v) for v in bbox)):
                raise BadRequest("bbox must be [west, south, east, north] in degrees (EPSG:4326)")
            bbox = tuple(float(v) for v in bbox)
        for name in ("minzoom", "maxzoom"):
            if doc.get(name) is not None and (not isinstance(doc[name], int) or isinstance(doc[name], bool)):
                raise BadRequest(f"{name} must be a whole number from 0 to {MAX_ZOOM}")
        return cls.build(
            ids,
            mosaic,
            tile_format=str(doc.get("tile_format", "png")),
            container=str(doc.get("format", "mbtiles")),
            bbox=bbox,
            minzoom=doc.get("minzoom"),
            maxzoom=doc.get("maxzoom"),
            rendering=rendering_from_json(doc),
            render=_render_name(doc.get("render")),
        )

    @property
    def single(self) -> bool:
        """One image's tiles (``/api/images/{id}/tiles``), not a mosaic's."""
        return len(self.ids) == 1 and self.mosaic is None

    @property
    def selection(self) -> ImageQuery:
        """The images of the mosaic packaged: the query, or the ids group in the order given."""
        return self.mosaic if self.mosaic is not None else ImageQuery(ids=self.ids, order="catalog")

    @property
    def asked(self) -> Asked:
        """What each image's look is asked to be: the render named and the rendering options."""
        return Asked(self.render, tuple(self.rendering.to_args()))

    def canonical(self) -> str:
        """The request as canonical JSON: the same for every spelling of one request."""
        doc = {
            "ids": list(self.ids),
            "mosaic": None if self.mosaic is None else urllib.parse.urlencode(self.mosaic.to_args()),
            "tile_format": self.tile_format,
            "format": self.container,
            "bbox": list(self.bbox) if self.bbox else None,
            "minzoom": self.minzoom,
            "maxzoom": self.maxzoom,
            "rendering": self.rendering.key(),
            "render": self.render,
        }
        return json.dumps(doc, sort_keys=True, separators=(",", ":"))

    def digest(self, private: Sequence[str] = ()) -> str:
        """The job id of this request (the same for every spelling of it); ``private``: the ids
        of the private images it holds for an API token's scope (then another id than the
        anonymous request's, which holds none)."""
        text = self.canonical() + ("".join(f"\0{i}" for i in sorted(private)) if private else "")
        return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
