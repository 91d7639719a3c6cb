"""How a client asks an image's pixels to be shown: ``nodata``, ``bidx``, ``expression``,
``algorithm`` and ``algorithm_params``, ``rescale``, ``colormap_name`` or ``colormap``.

TiTiler's parameter names. A :class:`Rendering` is an immutable value parsed
from a query (a bad value is a 400 ``bad_request`` naming the parameter); its
canonical form (:meth:`Rendering.to_args`) goes into cache keys, ETags and the
URLs the server emits, so two spellings of one rendering share one entry.
What only the image can tell (its bands, data type and bands shown) is checked
against its description by :meth:`Rendering.check`, which every route applies
before it reads pixels; :func:`nodata_fits` is the one rule for a ``nodata``
value, the request's and the catalog's hint alike.
"""

from __future__ import annotations

import functools
import math
import urllib.parse
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np

from ..errors import BadRequest
from .algorithms import Algorithm
from .band_math import Expression
from .collar import Collar
from .info import ImageInfo
from .json_colormap import JsonColormap

#: Most bands one request may name (grey: one, RGB: three).
BAND_COUNTS = (1, 3)


class Args(Protocol):
    def getlist(self, key: str) -> list[str]: ...


def nodata_fits(value: float, dtype: str) -> bool:
    """Whether ``value`` is a value of ``dtype`` (a numpy/rasterio name, e.g. ``uint8``): NaN only
    for floats, a whole number within range for integers, within range for floats."""
    kind = np.dtype(dtype)
    if kind.kind == "f":
        return math.isnan(value) or abs(value) <= float(np.finfo(kind).max)
    if kind.kind in "iu":
        limits = np.iinfo(kind)
        return float(value).is_integer() and limits.min <= value <= limits.max
    return not math.isnan(value)


def _number(text: str) -> str:
    """The canonical spelling of a number: ``0``, ``0.0`` and ``0e0`` are all ``0``."""
    return format(float(text), "g")


@dataclass(frozen=True)
class Rendering:
    """``nodata``: a value that becomes transparent (NaN allowed), in the image's units.
    ``bidx``: 1-based band indexes shown (one: grey, three: RGB). ``rescale``: per shown band,
    the (min, max) stretched linearly to 0-255, instead of the automatic 2nd-98th percentiles."""

    nodata: float | None = None
    bidx: tuple[int, ...] | None = None
    rescale: tuple[tuple[float, float], ...] | None = None
    #: One of rio-tiler's colormaps, for one shown band (its 0-255 values after the stretch).
    colormap_name: str | None = None
    #: Band math (:mod:`oam_preview.tiler.band_math`) whose 1 or 3 outputs are shown instead of bands.
    expression: Expression | None = None
    #: A colormap given as JSON (:mod:`~oam_preview.tiler.json_colormap`), for one shown band: its
    #: values after ``rescale`` when given, else as computed (not ``colormap_name``'s stretch).
    colormap: JsonColormap | None = None
    #: TiTiler's post-processing (:mod:`~oam_preview.tiler.algorithms`) of the bands or the
    #: expression's outputs read; its outputs are shown.
    algorithm: Algorithm | None = None
    #: A black or white frame made transparent where the image's edges reach it
    #: (:mod:`~oam_preview.tiler.collar`, GDAL's ``nearblack``): on the pixels as shown.
    collar: Collar | None = None

    @classmethod
    def from_args(cls, args: Args) -> Rendering:  # noqa: C901 (one parameter after another)
        """Parse ``nodata``, ``bidx`` (repeated or comma separated), ``rescale`` (once, or once
        per band), ``expression``, ``algorithm`` and ``algorithm_params``, ``colormap_name`` or
        ``colormap``, ``collar`` and ``collar_tolerance``; :class:`BadRequest` naming the parameter and what it accepts."""
        nodata = None
        values = args.getlist("nodata")
        if values:
            try:
                nodata = float(values[-1])
            except ValueError:
                raise BadRequest(f"nodata must be a number or nan, not {values[-1][:40]!r}") from None
            if math.isinf(nodata):
                raise BadRequest("nodata must be a finite number or nan")
        algorithm = None
        names = args.getlist("algorithm")
        params = args.getlist("algorithm_params")
        if names and names[-1].strip():
            algorithm = Algorithm.parse(names[-1].strip(), params[-1] if params else None)
        elif params and params[-1].strip():
            raise BadRequest("algorithm_params needs algorithm (e.g. algorithm=hillshade)")
        spec = algorithm.spec if algorithm is not None else None
        bidx = None
        parts = [p for value in args.getlist("bidx") for p in value.split(",") if p.strip()]
        if parts:
            try:
                bidx = tuple(int(p) for p in parts)
            except ValueError:
                raise BadRequest("bidx must be band numbers from 1, e.g. bidx=1 or bidx=3,2,1") from None
            if spec is not None and (any(b < 1 for b in bidx) or len(bidx) != spec.inputs):
                raise BadRequest(
                    f"bidx must name {_bands(spec.inputs)} for algorithm {spec.name}, numbered from 1"
                )
            if any(b < 1 for b in bidx) or (spec is None and len(bidx) not in BAND_COUNTS):
                raise BadRequest("bidx must name 1 band (grey) or 3 bands (RGB), numbered from 1")
        rescale = None
        ranges = args.getlist("rescale")
        if ranges:
            parsed = []
            for text in ranges:
                try:
                    low, high = (float(v) for v in text.split(","))
                except ValueError:
                    raise BadRequest(f"rescale must be min,max (numbers), not {text[:40]!r}") from None
                if not (math.isfinite(low) and math.isfinite(high) and low < high):
                    raise BadRequest(f"rescale must be min,max with min < max, not {text[:40]!r}")
                parsed.append((low, high))
            rescale = tuple(parsed)
            if spec is not None and spec.encoded:
                raise BadRequest(
                    f"rescale does not apply to algorithm {spec.name}: its outputs encode heights"
                )
            if spec is not None and len(rescale) not in (1, spec.outputs):
                raise BadRequest(f"rescale must be given once, or once per output of algorithm {spec.name}")
            if spec is None and bidx is not None and len(rescale) not in (1, len(bidx)):
                raise BadRequest("rescale must be given once, or once per band of bidx")
            if len(rescale) not in BAND_COUNTS:  # the image decides between 1 and 3 (check)
                raise BadRequest("rescale must be given once, or once per band shown (1 or 3)")
        expression = None
        texts = args.getlist("expression")
        if texts and texts[-1].strip():
            if bidx is not None:
                raise BadRequest("expression names its own bands: use it without bidx")
            expression = Expression.parse(texts[-1])
            outputs = len(expression.blocks)
            if spec is not None and outputs != spec.inputs:
                raise BadRequest(f"expression must have {spec.inputs} output(s) for algorithm {spec.name}")
            if spec is None and rescale is not None and len(rescale) not in (1, outputs):
                raise BadRequest("rescale must be given once, or once per output of expression")
        # How many bands are shown, when the request says (else the image decides: check).
        shown = (
            spec.outputs if spec is not None
            else len(expression.blocks) if expression is not None
            else len(bidx) if bidx is not None
            else None
        )  # fmt: skip
        colormap_name = None
        names = args.getlist("colormap_name")
        if names:
            colormap_name = names[-1].lower()
            if colormap_name not in colormap_names():
                raise BadRequest(
                    f"colormap_name {names[-1][:40]!r} is not a colormap: see /api/colormaps for the names"
                )
            if spec is not None and shown != 1:
                raise BadRequest(f"colormap_name colours one band: algorithm {spec.name} gives {shown}")
            if bidx is not None and shown != 1:
                raise BadRequest("colormap_name colours one band: use it with one bidx")
            if expression is not None and shown != 1:
                raise BadRequest("colormap_name colours one band: use it with a one-output expression")
        colormap = None
        texts = args.getlist("colormap")
        if texts and texts[-1].strip():
            if colormap_name is not None:
                raise BadRequest("colormap and colormap_name are two colormaps: give one of them")
            colormap = JsonColormap.parse(texts[-1])
            if shown is not None and shown != 1:
                raise BadRequest(f"colormap colours one band: this rendering shows {shown}")
        return cls(
            nodata, bidx, rescale, colormap_name, expression, colormap, algorithm, Collar.from_args(args)
        )

    @property
    def is_default(self) -> bool:
        return self == DEFAULT

    def to_args(self) -> list[tuple[str, str]]:
        """The canonical query pairs of this rendering (none for the default one)."""
        pairs: list[tuple[str, str]] = []
        if self.bidx is not None:
            pairs.append(("bidx", ",".join(str(b) for b in self.bidx)))
        if self.expression is not None:
            pairs.append(("expression", self.expression.text))
        if self.algorithm is not None:
            pairs.append(("algorithm", self.algorithm.name))
            if self.algorithm.params:
                pairs.append(("algorithm_params", self.algorithm.params_text))
        if self.nodata is not None:
            pairs.append(("nodata", _number(str(self.nodata))))
        for low, high in self.rescale or ():
            pairs.append(("rescale", f"{_number(str(low))},{_number(str(high))}"))
        if self.colormap_name is not None:
            pairs.append(("colormap_name", self.colormap_name))
        if self.colormap is not None:
            pairs.append(("colormap", self.colormap.text))
        if self.collar is not None:
            pairs.extend(self.collar.to_args())
        return pairs

    def key(self) -> str:
        """The canonical form as a cache-key part (``""`` for the default rendering)."""
        return urllib.parse.urlencode(self.to_args(), safe=",")

    def bands(self, default: tuple[int, ...], count: int) -> tuple[int, ...]:
        """The bands to read: ``bidx`` or the expression's (checked against the image's ``count``),
        else ``default``."""
        asked = self.expression.bands if self.expression is not None else self.bidx
        if asked is None:
            return default
        for band in asked:
            if band > count:
                named = f"expression's b{band}" if self.expression is not None else f"bidx {band}"
                raise BadRequest(f"{named}: this image has {count} band{'s' if count > 1 else ''}")
        return asked

    def check(self, info: ImageInfo) -> None:
        """:class:`BadRequest` for what this image cannot show as asked: a band past its count,
        an algorithm given another number of bands than it takes, ``rescale`` neither once nor
        once per band shown, a colormap for three bands, a ``nodata`` that is no value of its data
        type (:func:`nodata_fits`)."""
        shown = self.bands(info.bands, info.count)
        if self.algorithm is not None:
            spec = self.algorithm.spec
            if self.expression is None and len(shown) != spec.inputs:
                raise BadRequest(
                    f"algorithm {spec.name} takes {_bands(spec.inputs)}: this image shows {len(shown)}, "
                    f"so give bidx ({'bidx=1' if spec.inputs == 1 else 'bidx=RED,NIR for an NDVI'})"
                )
            outputs = spec.outputs
        else:
            outputs = len(self.expression.blocks) if self.expression is not None else len(shown)
        self.ranges(outputs)
        if outputs != 1 and (self.colormap is not None or self.colormap_name is not None):
            named = "colormap" if self.colormap is not None else "colormap_name"
            raise BadRequest(f"{named} colours one band: this image shows {outputs} (use bidx=N)")
        if self.nodata is not None and not nodata_fits(self.nodata, info.dtype):
            kind = np.dtype(info.dtype)
            accepted = (
                f"a whole number from {np.iinfo(kind).min} to {np.iinfo(kind).max}"
                if kind.kind in "iu"
                else f"a number within ±{float(np.finfo(kind).max):g}, or nan"
                if kind.kind == "f"
                else "another value"
            )
            raise BadRequest(
                f"nodata {_number(str(self.nodata))} is no value of this {info.dtype} image: give {accepted}"
            )

    def with_nodata_hint(self, hint: float | None) -> Rendering:
        """This rendering, with a catalog record's ``nodata`` hint when the request gave none
        (the caller decides whether the hint fits the image: :func:`nodata_fits`)."""
        if hint is None or self.nodata is not None:
            return self
        return replace(self, nodata=hint)

    def ranges(self, n: int) -> tuple[tuple[float, float], ...] | None:
        """``rescale`` for ``n`` shown bands (one range given: for every band); :class:`BadRequest`
        when it was given neither once nor ``n`` times."""
        if self.rescale is None:
            return None
        if len(self.rescale) not in (1, n):
            raise BadRequest(
                f"rescale must be given once, or once per band shown: this image shows {n}, "
                f"not {len(self.rescale)}"
            )
        return self.rescale * n if len(self.rescale) == 1 else self.rescale

    def read_options(self) -> dict[str, Any]:
        """rio-tiler read options: ``nodata`` overrides the file's own."""
        return {} if self.nodata is None else {"nodata": self.nodata}

    @property
    def buffer(self) -> int:
        """Pixels a tile reads on each side beyond itself: its algorithm's (0 without one)."""
        return self.algorithm.spec.buffer if self.algorithm is not None else 0

    def output_format(self, fmt: str) -> str:
        """``fmt`` (a key of :data:`~oam_preview.tiler.render.MEDIA_TYPES`) as this rendering is
        encoded: an algorithm that encodes values (``terrainrgb``, ``terrarium``) needs lossless
        PNG, so ``auto`` is ``png`` and a lossy format a :class:`BadRequest`."""
        if self.algorithm is None or not self.algorithm.spec.encoded:
            return fmt
        if fmt in ("png", "auto"):
            return "png"
        raise BadRequest(
            f"algorithm {self.algorithm.name} encodes heights in the colours: ask for .png (lossless), not .{fmt}"
        )


DEFAULT = Rendering()


def _bands(n: int) -> str:
    return f"{n} band{'s' if n > 1 else ''}"


@functools.cache
def colormap_names() -> frozenset[str]:
    """rio-tiler's colormap names (loaded once: importing its colormaps reads their files)."""
    from rio_tiler.colormap import cmap

    return frozenset(cmap.list())


@functools.cache
def colormap_lut(name: str) -> np.ndarray:
    """The (256, 4) uint8 RGBA lookup table of colormap ``name``."""
    from rio_tiler.colormap import cmap

    colours = cmap.get(name)
    assert isinstance(colours, dict)  # rio-tiler's own colormaps are 256 entries, not intervals
    lut = np.zeros((256, 4), dtype=np.uint8)
    for value, rgba in colours.items():
        if 0 <= int(value) < 256:
            lut[int(value)] = tuple(int(c) for c in rgba)
    return lut
