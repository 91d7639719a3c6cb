"""A STAC Item's render hints (the render extension, v1 and v2) as TiTiler query parameters.

A render object says how its publisher means an image to be drawn: bands,
stretch, nodata, colormap, band math, algorithm. Each one that applies to the
served asset (its ``assets`` absent, or naming that asset alone) becomes a
:class:`RenderHint`: its fields as the query pairs a client would send
TiTiler (``bidx``, ``rescale``, ``nodata``, ``colormap_name``, ``colormap``,
``expression``, ``algorithm``, ``algorithm_params``, ``resampling``,
``color_formula``), whatever their values. Whether the server can honour them
is the tile server's rendering parser's to say (``oam_preview.tiler.renders``),
one home for every rule of a value; here only the shape of the catalog's JSON
is read. A render that cannot even be put into parameters (an expression that
is not band math text, a v2 band name the asset does not declare) keeps its
``problem``, so that it is reported with the others.

An Item names renders of its Collection with ``render:`` keys among its
properties (each a render name or a list of them); its own ``renders`` win
over its Collection's of the same name. Band metadata (STAC 1.1 ``bands``,
``eo:bands``) gives :func:`band_names`: each band's ``eo:common_name``
(``red``, ``nir``…), which the product type defaults draw by.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: Render fields that are TiTiler query parameters of the same name, in canonical order.
PARAMETER_FIELDS = (
    "bidx",
    "expression",
    "nodata",
    "rescale",
    "colormap_name",
    "colormap",
    "algorithm",
    "algorithm_params",
    "resampling",
    "color_formula",
)
#: The longest render name kept (it is a query value, ``render=NAME``).
MAX_NAME = 64
#: Most renders read of one item (a catalog is someone else's input).
MAX_RENDERS = 32


@dataclass(frozen=True)
class RenderHint:
    """One render of a catalog record: ``name`` (its key in ``renders``), ``title``, its fields as
    TiTiler query ``params`` (name, value) in :data:`PARAMETER_FIELDS` order, ``minmax_zoom``
    (the zooms it is meant for), and ``problem``: why it cannot be used, when reading the
    catalog already showed it (``params`` is then empty)."""

    name: str
    title: str | None = None
    params: tuple[tuple[str, str], ...] = ()
    minmax_zoom: tuple[int, int] | None = None
    problem: str | None = None


def band_names(asset: Mapping[str, Any]) -> tuple[str, ...]:
    """Each band's common name (lower case; ``""`` when unknown) from an asset's STAC 1.1
    ``bands`` (``eo:common_name``), else its ``eo:bands`` (``common_name``); ``()`` when it
    declares no bands."""
    for field, key in (("bands", "eo:common_name"), ("eo:bands", "common_name")):
        bands = asset.get(field)
        if isinstance(bands, list) and bands and all(isinstance(b, dict) for b in bands):
            names = tuple(_common_name(b, key) for b in bands)
            if any(names):
                return names
    return ()


def _common_name(band: Mapping[str, Any], key: str) -> str:
    value = band.get(key, band.get("common_name"))
    return value.strip().lower() if isinstance(value, str) else ""


def _band_ids(asset: Mapping[str, Any]) -> list[str]:
    """The ``name`` of each band an asset declares (what render v2's ``bands`` refers to)."""
    for field in ("bands", "eo:bands", "raster:bands"):
        bands = asset.get(field)
        if isinstance(bands, list) and bands and all(isinstance(b, dict) for b in bands):
            return [str(b.get("name") or "") for b in bands]
    return []


def item_renders(
    properties: Mapping[str, Any],
    asset_key: str,
    asset: Mapping[str, Any],
    collection_renders: Mapping[str, Any] | None = None,
) -> tuple[RenderHint, ...]:
    """The renders of an Item (``properties``) that apply to its served asset ``asset_key``: its
    own ``renders``, and those of ``collection_renders`` (its Collection's ``renders``) that its
    ``render:`` properties name. A render for other assets is left out, with a ``problem``."""
    chosen: dict[str, Any] = {}
    named = _collection_names(properties)
    if isinstance(collection_renders, Mapping):
        for name in named:
            if name in collection_renders:
                chosen[name] = collection_renders[name]
    own = properties.get("renders")
    if isinstance(own, Mapping):
        chosen.update(own)
    hints: list[RenderHint] = []
    for name, doc in list(chosen.items())[:MAX_RENDERS]:
        hints.append(render_hint(str(name), doc, asset_key, asset))
    return tuple(hints)


def _collection_names(properties: Mapping[str, Any]) -> list[str]:
    """The render names an Item's ``render:`` properties give (a name or a list of names)."""
    names: list[str] = []
    for key, value in properties.items():
        if not (isinstance(key, str) and key.startswith("render:")):
            continue
        for name in value if isinstance(value, list) else [value]:
            if isinstance(name, str) and name not in names:
                names.append(name)
    return names


def render_hint(name: str, doc: Any, asset_key: str, asset: Mapping[str, Any]) -> RenderHint:
    """One render object as a :class:`RenderHint` for the served asset ``asset_key``."""
    if not name or len(name) > MAX_NAME or not name.isprintable():
        return RenderHint(name[:MAX_NAME] or "?", problem="its name is empty, too long or unprintable")
    if not isinstance(doc, Mapping):
        return RenderHint(name, problem="it is not a JSON object")
    title = doc.get("title") if isinstance(doc.get("title"), str) else None
    assets = doc.get("assets")
    if assets is not None and assets != [asset_key]:
        return RenderHint(
            name, title, problem=f"it draws the assets {assets!r}, not the served asset {asset_key!r} alone"
        )
    try:
        params = _params(doc, asset)
        zooms = _minmax_zoom(doc.get("minmax_zoom"))
    except ValueError as exc:
        return RenderHint(name, title, problem=str(exc))
    return RenderHint(name, title, params, zooms)


def _params(doc: Mapping[str, Any], asset: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """The render's fields as TiTiler query pairs; ``ValueError`` for a field that has no such
    spelling. Values are passed on as given, to be judged by the rendering parser."""
    fields = dict(doc)
    if fields.get("bidx") is None and fields.get("bands") is not None:
        fields["bidx"] = _bands_to_bidx(fields["bands"], asset)
    pairs: list[tuple[str, str]] = []
    for field in PARAMETER_FIELDS:
        value = fields.get(field)
        if value is None:
            continue
        if field == "bidx":
            items = value if isinstance(value, list) else [value]
            pairs.append((field, ",".join(_scalar(v) for v in items)))
        elif field == "rescale":
            ranges = value if isinstance(value, list) and all(isinstance(r, list) for r in value) else None
            if ranges is None:
                raise ValueError("its rescale is not [[min, max], …]")
            pairs.extend((field, ",".join(_scalar(v) for v in r)) for r in ranges)
        elif field in ("colormap", "algorithm_params"):
            pairs.append(
                (field, value if isinstance(value, str) else json.dumps(value, separators=(",", ":")))
            )
        elif field == "expression" and not isinstance(value, str):
            raise ValueError("its expression is not band math text (a style expression?)")
        else:
            pairs.append((field, _scalar(value)))
    return tuple(pairs)


def _scalar(value: Any) -> str:
    """A JSON value as query text: numbers as Python spells them, text as it is, anything else
    as JSON (which the parser then refuses, naming the parameter)."""
    if isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    if isinstance(value, int | float | str):
        return str(value)
    return json.dumps(value)


def _bands_to_bidx(bands: Any, asset: Mapping[str, Any]) -> list[int]:
    """Render v2's ``bands`` (``[[name, …]]``, one list for the one asset) as 1-based indexes
    into the asset's declared bands."""
    if not (isinstance(bands, list) and len(bands) == 1 and isinstance(bands[0], list) and bands[0]):
        raise ValueError("its bands is not [[band name, …]] for the one served asset")
    declared = _band_ids(asset)
    indexes = []
    for name in bands[0]:
        if not isinstance(name, str) or name not in declared:
            raise ValueError(f"its band {name!r} is not among the asset's bands {declared!r}")
        indexes.append(declared.index(name) + 1)
    return indexes


def _minmax_zoom(value: Any) -> tuple[int, int] | None:
    if value is None:
        return None
    if (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 30 for v in value)
        and value[0] <= value[1]
    ):
        return (value[0], value[1])
    raise ValueError("its minmax_zoom is not [min, max] zooms from 0 to 30")
