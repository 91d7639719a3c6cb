"""An image's renders: the looks its catalog gives it (STAC render hints) or its product type implies,
and how a request picks one (``render=NAME``) and overrides its fields.

Every render is TiTiler query parameters (:class:`~oam_preview.catalog.render_hints.RenderHint`'s
``params``) read by the one rendering parser, :meth:`Rendering.from_args`: a
catalog render whose values it refuses is skipped (a warning naming the
record and render, counted in ``/healthz``: :class:`RenderReport`), and so is
one with a parameter it does not take (``colormap``, ``algorithm`` while this
server draws neither): such a render becomes usable the day the parser takes
the parameter, with no change here. ``resampling`` is the one parameter a
render keeps its other fields without (the server's own resampling is used).

An image without catalog renders (or whose catalog has neither ``browse`` nor
``default``) is drawn by its **product type**: the record's
``oam:product_type``/``product_type`` (declared), else what OpenAerialMap's
upload pipeline would tag its file (detected, :func:`detect_product_type`).
Product renders are built from parameters too (:func:`product_params`), so an
``algorithm`` render (an elevation's ``hillshade``) is offered once the parser
takes ``algorithm``.

A request's own rendering parameters override the render's field of the same
name; ``bidx``/``expression`` (the bands shown) and ``colormap_name``/``colormap``
(the colours) and ``algorithm``/``algorithm_params`` each count as one field, and
a request's ``algorithm`` replaces the render's stretch and colours as well. The result is one :class:`Rendering`,
whose canonical form names the render's resolved fields in cache keys, ETags
and emitted URLs: two renders with equal fields share an entry, and a render
changed by a catalog refresh gets new URLs.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..catalog.model import Image
from ..catalog.render_hints import MAX_NAME, RenderHint
from ..errors import BadRequest
from .info import ImageInfo
from .rendering import DEFAULT, Args, Rendering

log = logging.getLogger(__name__)

#: Parameters a render is still drawn without when the parser does not take them.
SOFT_PARAMETERS = frozenset({"resampling"})
#: Parameters that override each other: asking one replaces the render's other.
OVERRIDE_GROUPS = (
    frozenset({"bidx", "expression"}),
    frozenset({"colormap_name", "colormap"}),
    frozenset({"algorithm", "algorithm_params"}),
    frozenset({"collar", "collar_tolerance"}),
)
#: Asking an algorithm replaces the render's stretch and colours too: they were chosen for the
#: render's own output values (an elevation's ``terrain`` over its heights is no colouring of a
#: hillshade's 0-255 light).
OUTPUT_FIELDS = frozenset({"algorithm", "rescale", "colormap_name", "colormap"})
#: The render an image is drawn with when a request names none, in order of preference.
DEFAULT_NAMES = ("browse", "default")
#: Skipped renders listed in ``/healthz`` (the count is always complete).
REPORT_SHOWN = 20
#: The names of the bands an RGB multispectral render shows, in order.
RGB_NAMES = ("red", "green", "blue")
#: Common names of a near-infrared band (STAC ``eo:common_name``), in order of preference.
NIR_NAMES = ("nir", "nir08", "nir09")
#: Diverging colormap of a normalised difference, from -1 (red) to 1 (green).
NDVI_COLORMAP = "rdylgn"


class _Params:
    """Query pairs as the parser reads them (:class:`~oam_preview.tiler.rendering.Args`)."""

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        self.pairs = tuple(pairs)

    def getlist(self, key: str) -> list[str]:
        return [value for name, value in self.pairs if name == key]


@dataclass(frozen=True)
class Render:
    """One look of an image: its ``name``, ``title``, TiTiler query ``params`` as given (a
    render's own, before a request overrides them), their parse ``rendering``, the zooms it
    is meant for (``minmax_zoom``), and where it came from: ``"catalog"`` or ``"product"``."""

    name: str
    title: str
    params: tuple[tuple[str, str], ...]
    rendering: Rendering
    minmax_zoom: tuple[int, int] | None = None
    origin: str = "catalog"


def parse_render(
    name: str, title: str | None, params: tuple[tuple[str, str], ...], origin: str, zooms: Any = None
) -> Render | str:
    """``params`` read by the rendering parser as a :class:`Render`, or why they cannot be: the
    parser's refusal, or a parameter it does not take (a soft one is dropped instead)."""
    try:
        rendering = Rendering.from_args(_Params(params))
    except BadRequest as exc:
        return exc.message
    taken = {key for key, _ in rendering.to_args()}
    given = [key for key, value in params if value.strip()]
    refused = [key for key in dict.fromkeys(given) if key not in taken and key not in SOFT_PARAMETERS]
    if refused:
        return f"this server does not take the rendering parameter {refused[0]}"
    kept = tuple((key, value) for key, value in params if key in taken)
    return Render(name, title or name.replace("_", " ").capitalize(), kept, rendering, zooms, origin)


@functools.lru_cache(maxsize=4096)
def catalog_renders(hints: tuple[RenderHint, ...]) -> tuple[dict[str, Render], tuple[tuple[str, str], ...]]:
    """The usable renders of a record's ``hints`` by name, in the catalog's order, and the
    skipped ones as (name, why). Kept by hints: a catalog refresh re-reads only what changed."""
    usable: dict[str, Render] = {}
    skipped: list[tuple[str, str]] = []
    for hint in hints:
        if hint.problem is not None:
            skipped.append((hint.name, hint.problem))
            continue
        parsed = parse_render(hint.name, hint.title, hint.params, "catalog", hint.minmax_zoom)
        if isinstance(parsed, str):
            skipped.append((hint.name, parsed))
        else:
            usable[hint.name] = parsed
    return usable, tuple(skipped)


# -- product types ----------------------------------------------------------------------


def detect_product_type(info: ImageInfo) -> str:
    """The product type OpenAerialMap's upload pipeline tags a file with: one band with a palette,
    ``pseudocolor``; one floating-point band, ``elevation``; three 8-bit bands (a fourth when it
    is alpha), ``visual``; anything else ``multispectral``."""
    data_bands = info.count - (1 if info.alpha else 0)
    if info.mode == "palette" and info.count == 1:
        return "pseudocolor"
    if data_bands == 1 and np.dtype(info.dtype).kind == "f":
        return "elevation"
    if info.dtype == "uint8" and (info.count == 3 or (info.count == 4 and info.alpha)):
        return "visual"
    return "multispectral"


def product_type(image: Image, info: ImageInfo) -> tuple[str, str]:
    """``(type, "declared")`` from the record, else ``(type, "detected")`` from its file."""
    declared = image.declared_product_type()
    if declared is not None:
        return declared, "declared"
    return detect_product_type(info), "detected"


def band_names(image: Image, info: ImageInfo) -> tuple[str, ...]:
    """Each band's common name (``""`` unknown): the catalog's when it names as many bands as the
    file has, else the file's band descriptions (lower case)."""
    if len(image.band_names) == info.count:
        return image.band_names
    return tuple(d.strip().lower() for d in info.descriptions) if info.descriptions else ()


def product_params(
    kind: str, names: tuple[str, ...], info: ImageInfo
) -> dict[str, tuple[tuple[str, str], ...]]:
    """The renders of product type ``kind`` as TiTiler parameters, ``browse`` first. An
    elevation: ``terrain`` over its automatic 2-98 % stretch, and ``hillshade``; a
    multispectral image: RGB by common name (else the file's bands), and ``ndvi`` when red
    and near-infrared are known; SAR: its first band, grey; visual and pseudocolor (its own
    palette) as the file is."""
    if kind == "elevation" and len(info.bands) == 1:  # no bidx to clash with a request's
        return {
            "browse": (("colormap_name", "terrain"),),
            "hillshade": (("algorithm", "hillshade"),),
        }
    if kind == "sar":
        return {"browse": (("bidx", str(info.bands[0])),) if len(info.bands) > 1 else ()}
    if kind != "multispectral":  # visual, pseudocolor, an elevation of several bands
        return {"browse": ()}
    renders: dict[str, tuple[tuple[str, str], ...]] = {"browse": ()}
    index = {name: i + 1 for i, name in reversed(list(enumerate(names))) if name}
    if all(n in index for n in RGB_NAMES):
        renders["browse"] = (("bidx", ",".join(str(index[n]) for n in RGB_NAMES)),)
    nir = next((index[n] for n in NIR_NAMES if n in index), None)
    if nir is not None and "red" in index:
        red = index["red"]
        renders["ndvi"] = (
            ("expression", f"(b{nir}-b{red})/(b{nir}+b{red})"),
            ("rescale", "-1,1"),
            ("colormap_name", NDVI_COLORMAP),
        )
    return renders


@functools.lru_cache(maxsize=1024)
def _product_renders(
    kind: str, params: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]
) -> dict[str, Render]:
    titles = {"browse": kind.capitalize(), "hillshade": "Hillshade", "ndvi": "NDVI"}
    renders: dict[str, Render] = {}
    for name, pairs in params:
        parsed = parse_render(name, titles.get(name), pairs, "product")
        if isinstance(parsed, Render):
            renders[name] = parsed
    return renders


def product_renders(kind: str, names: tuple[str, ...], info: ImageInfo) -> dict[str, Render]:
    """The usable renders of product type ``kind`` (those the parser takes)."""
    return _product_renders(kind, tuple(product_params(kind, names, info).items()))


# -- an image's renders, and a request's pick --------------------------------------------


@dataclass(frozen=True)
class ImageRenders:
    """An image's renders by name (the catalog's, and its product type's where the catalog has
    none of that name), the name of its default one, and its product type and its source."""

    renders: Mapping[str, Render]
    default: str
    product_type: str
    product_type_source: str
    #: Catalog renders the file cannot show, as (name, why).
    unfit: tuple[tuple[str, str], ...] = ()


def image_renders(image: Image, info: ImageInfo) -> ImageRenders:
    """``image``'s renders, its file described by ``info``: a catalog render the file cannot show
    (a band it does not have…) is left out (the catalog's mistake, warned by the caller's
    :class:`RenderReport`)."""
    kind, source = product_type(image, info)
    renders: dict[str, Render] = dict(product_renders(kind, band_names(image, info), info))
    catalog, _ = catalog_renders(image.renders)
    unfit: list[tuple[str, str]] = []
    for name, render in catalog.items():
        why = fits(render, info)
        if why is None:
            renders[name] = render
        else:
            unfit.append((name, f"its file cannot show it: {why}"))
    drawn = {n for n in catalog if n not in dict(unfit)}
    default = next((n for n in DEFAULT_NAMES if n in drawn), "browse")
    return ImageRenders(renders, default, kind, source, tuple(unfit))


def fits(render: Render, info: ImageInfo) -> str | None:
    """Why ``render`` cannot be drawn from the file ``info`` describes; ``None`` when it can."""
    try:
        render.rendering.check(info)
    except BadRequest as exc:
        return exc.message
    return None


@dataclass(frozen=True)
class Asked:
    """What a request asks of an image's look: a render by name (``None``: the default one) and
    its own rendering parameters (TiTiler query pairs, checked by the parser: :meth:`from_args`)."""

    render: str | None = None
    params: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_args(cls, args: Args) -> Asked:
        """``render`` and the rendering parameters of a query; :class:`BadRequest` for a bad one."""
        # The request's own values: their 400s before anything is read, and their canonical form.
        params = tuple(Rendering.from_args(args).to_args())
        names = args.getlist("render")
        name = names[-1].strip() if names else None
        if name is not None and (not name or len(name) > MAX_NAME or not name.isprintable()):
            raise BadRequest(f"render must be the name of one of the image's renders, not {name[:40]!r}")
        return cls(name or None, params)

    @classmethod
    def of(cls, rendering: Rendering) -> Asked:
        """The default render with ``rendering``'s fields given by the request."""
        return cls(None, tuple(rendering.to_args()))

    def key(self) -> str:
        """A cache-key part for what was asked (a mosaic's: each image resolves it its own way)."""
        return "&".join(f"{k}={v}" for k, v in (("render", self.render or ""), *self.params))


#: A request that asks for nothing: the image's default render as it is.
AS_CATALOG_SAYS = Asked()


def pick(renders: ImageRenders, asked: Asked) -> Render | None:
    """The render ``asked`` names (else the default); :class:`BadRequest` naming the image's
    renders when it has none of that name."""
    name = asked.render or renders.default
    found = renders.renders.get(name)
    if found is None and asked.render is not None:
        known = ", ".join(renders.renders) or "none"
        raise BadRequest(f"render {asked.render[:40]!r} is not one of this image's renders: {known}")
    return found


def compose(render: Render | None, asked: Asked) -> Rendering:
    """``render``'s parameters with the request's overriding theirs (field by field, each of
    :data:`OVERRIDE_GROUPS` as one), read by the parser; :class:`BadRequest` when the result is
    not a rendering (the request's parameters clash with the render's)."""
    return _composed(
        render.params if render is not None else (), render.name if render else None, asked.params
    )


@functools.lru_cache(maxsize=4096)
def _composed(
    base: tuple[tuple[str, str], ...], name: str | None, asked: tuple[tuple[str, str], ...]
) -> Rendering:
    """:func:`compose`, kept by its parameters (a listing composes every image's renders)."""
    overridden = {key for key, _ in asked}
    for group in OVERRIDE_GROUPS:
        if overridden & group:
            overridden |= group
    if "algorithm" in overridden:
        overridden |= OUTPUT_FIELDS
    merged = [*((k, v) for k, v in base if k not in overridden), *asked]
    if not merged:
        return DEFAULT
    try:
        return Rendering.from_args(_Params(merged))
    except BadRequest as exc:
        named = f" with render {name!r}" if name is not None else ""
        raise BadRequest(f"{exc.message} (the request's parameters{named})") from None


# -- what /healthz says ------------------------------------------------------------------


@dataclass
class RenderReport:
    """The catalog's render hints, as the last catalog made current has them: how many are used,
    which are skipped and why (each warned once per worker, naming the record and render)."""

    resolved: int = 0
    skipped: list[tuple[str, str, str]] = field(default_factory=list)
    _warned: set[tuple[str, str, str]] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def observe(self, images: Iterable[Image]) -> None:
        """Read every image's render hints (a store subscriber: each catalog made current)."""
        resolved = 0
        skipped: list[tuple[str, str, str]] = []
        for image in images:
            if not image.renders:
                continue
            usable, bad = catalog_renders(image.renders)
            resolved += len(usable)
            skipped.extend((image.id, name, why) for name, why in bad)
        with self._lock:
            self.resolved, self.skipped = resolved, skipped
        for entry in skipped:
            self.warn(*entry)

    def warn(self, image_id: str, name: str, why: str) -> None:
        """Log, once per worker, that record ``image_id``'s render ``name`` is not used, and why."""
        with self._lock:
            if (image_id, name, why) in self._warned:
                return
            self._warned.add((image_id, name, why))
        log.warning("catalog record %s: render %r skipped: %s", image_id, name, why)

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {
                "resolved": self.resolved,
                "skipped": len(self.skipped),
                "skipped_renders": [
                    {"id": i, "render": n, "reason": r} for i, n, r in self.skipped[:REPORT_SHOWN]
                ],
            }
