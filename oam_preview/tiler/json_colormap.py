"""``colormap=``: a colormap written as JSON in the URL, as TiTiler takes it.

Two shapes (rio-tiler's ``ColorMapType``): a **mapping** ``{"value": [r, g, b(, a)]}`` that colours
the pixels of exactly that value (keys are whole numbers, as TiTiler parses them), or
**intervals** ``[[[min, max], [r, g, b, a]], …]`` that colour ``min <= value < max``, a later
interval winning where two overlap (rio-tiler's order). A colour is 3 or 4 whole numbers 0-255
(alpha 255 when left out) or a hex string ``#rgb``, ``#rgba``, ``#rrggbb``, ``#rrggbbaa``.
Pixels of no entry are transparent.

A :class:`JsonColormap` is parsed with its size bounded (:data:`MAX_LENGTH` characters,
:data:`MAX_ENTRIES` entries: a 400 naming ``colormap`` past them); its canonical text
(:attr:`JsonColormap.text`: keys sorted by value, colours as four numbers, no spaces) goes into
cache keys and emitted URLs. Applying it is one ``searchsorted`` per pixel whatever its size.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import BadRequest

#: Longest ``colormap`` accepted, characters (256 entries of RGBA fit in well under half).
MAX_LENGTH = 16_384
#: Most entries (values or intervals) of one colormap: one per value of an 8-bit band.
MAX_ENTRIES = 256
#: Largest magnitude of a mapping's value or an interval's bound (beyond: no raster value).
MAX_VALUE = 1e15
KEY = re.compile(r"^-?[0-9]{1,15}$")
HEX = re.compile(r"^#(?:[0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$")

Rgba = tuple[int, int, int, int]


def _bad(what: str) -> BadRequest:
    return BadRequest(
        f'colormap {what}: give JSON, a mapping {{"1": [r, g, b, a], …}} or intervals '
        "[[[min, max], [r, g, b, a]], …], with colours of 0-255 or #rrggbb"
    )


def parse_colour(value: Any) -> Rgba:
    """An RGBA colour from ``[r, g, b]``, ``[r, g, b, a]`` (whole numbers 0-255) or a hex string
    (``#rgb``, ``#rgba``, ``#rrggbb``, ``#rrggbbaa``); alpha 255 when not given."""
    if isinstance(value, str):
        if not HEX.match(value):
            raise _bad(f"colour {value[:20]!r} is no #rgb, #rgba, #rrggbb or #rrggbbaa")
        digits = value[1:]
        if len(digits) <= 4:
            digits = "".join(d * 2 for d in digits)
        channels = [int(digits[i : i + 2], 16) for i in range(0, len(digits), 2)]
    elif isinstance(value, list) and len(value) in (3, 4):
        if not all(_is_number(c) and float(c).is_integer() and 0 <= c <= 255 for c in value):
            raise _bad(f"colour {json.dumps(value)[:40]} has a channel that is no whole number 0-255")
        channels = [int(c) for c in value]
    else:
        raise _bad(f"colour {json.dumps(value)[:40]} is neither [r, g, b(, a)] nor a hex string")
    r, g, b, a = (*channels, 255) if len(channels) == 3 else channels
    return (r, g, b, a)


def _is_number(value: Any) -> bool:
    """A JSON number (not a boolean, which Python counts as one), finite."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _plain(value: float) -> int | float:
    """``value`` as JSON writes it shortest: a whole number without ``.0``."""
    return int(value) if float(value).is_integer() and abs(value) < 2**53 else float(value)


@dataclass(frozen=True)
class JsonColormap:
    """A mapping (``values``: value -> colour, sorted by value) or intervals (``intervals``:
    ``((min, max), colour)`` in the order given); exactly one of them is non-empty."""

    values: tuple[tuple[int, Rgba], ...] = ()
    intervals: tuple[tuple[tuple[float, float], Rgba], ...] = ()

    @classmethod
    def parse(cls, text: str) -> JsonColormap:
        """The colormap of a ``colormap`` query value; :class:`BadRequest` naming ``colormap``
        for malformed JSON, a bad entry or a colormap past :data:`MAX_LENGTH` or
        :data:`MAX_ENTRIES`."""
        if len(text) > MAX_LENGTH:
            raise BadRequest(f"colormap is {len(text)} characters: at most {MAX_LENGTH}")
        try:
            doc = json.loads(text)
        except (ValueError, RecursionError):
            raise _bad("is not valid JSON") from None
        if isinstance(doc, dict):
            if not doc or len(doc) > MAX_ENTRIES:
                raise _bad(f"has {len(doc)} entries: give 1 to {MAX_ENTRIES}")
            values = {}
            for key, colour in doc.items():
                if not KEY.match(key):
                    raise _bad(f"key {key[:20]!r} is no whole number")
                values[int(key)] = parse_colour(colour)
            return cls(values=tuple(sorted(values.items())))
        if isinstance(doc, list):
            if not doc or len(doc) > MAX_ENTRIES:
                raise _bad(f"has {len(doc)} intervals: give 1 to {MAX_ENTRIES}")
            intervals = []
            for entry in doc:
                if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], list)):
                    raise _bad(f"interval {json.dumps(entry)[:40]} is not [[min, max], colour]")
                bounds, colour = entry
                if not (len(bounds) == 2 and all(_is_number(v) and abs(v) <= MAX_VALUE for v in bounds)):
                    raise _bad(f"interval {json.dumps(bounds)[:40]} is not [min, max] of finite numbers")
                low, high = float(bounds[0]), float(bounds[1])
                if not low < high:
                    raise _bad(f"interval {json.dumps(bounds)[:40]} needs min < max")
                intervals.append(((low, high), parse_colour(colour)))
            return cls(intervals=tuple(intervals))
        raise _bad("is neither a mapping nor a list of intervals")

    @property
    def text(self) -> str:
        """The canonical JSON: keys by value, four channels, bounds without ``.0``, no spaces."""
        doc: Any
        if self.values:
            doc = {str(value): list(colour) for value, colour in self.values}
        else:
            doc = [[[_plain(low), _plain(high)], list(colour)] for (low, high), colour in self.intervals]
        return json.dumps(doc, separators=(",", ":"))

    def apply(self, values: np.ndarray) -> np.ndarray:
        """The (rows, cols, 4) uint8 RGBA of ``values`` (rows, cols; any number type): the colour
        of a pixel's entry, (0, 0, 0, 0) where it has none (NaN has none)."""
        rgba, index = self._segments(np.asarray(values, dtype=np.float64))
        return rgba[index]

    def _segments(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The colours of the segments between consecutive breakpoints (the last one: no colour)
        and each pixel's segment. A mapping's breakpoints are its values (a pixel is in a value's
        segment when equal to it); intervals' are their bounds, each segment taking the colour of
        the last interval that covers it."""
        if self.values:
            keys = np.array([v for v, _ in self.values], dtype=np.float64)
            rgba = np.zeros((len(keys) + 1, 4), dtype=np.uint8)
            rgba[:-1] = [c for _, c in self.values]
            at = np.minimum(np.searchsorted(keys, values), len(keys) - 1)
            with np.errstate(invalid="ignore"):
                return rgba, np.where(keys[at] == values, at, len(keys))
        breaks = np.unique([b for bounds, _ in self.intervals for b in bounds])
        rgba = np.zeros((len(breaks), 4), dtype=np.uint8)  # segment i: breaks[i] <= v < breaks[i + 1]
        for (low, high), colour in self.intervals:
            rgba[np.searchsorted(breaks, low) : np.searchsorted(breaks, high)] = colour
        index = np.searchsorted(breaks, values, side="right") - 1
        return rgba, np.where(index < 0, len(breaks) - 1, index)  # below the first: no colour

    def legend(self) -> dict[str, Any]:
        """A legend: ``colormap`` (the canonical text) and ``stops`` ``[value, [r, g, b, a]]``
        for a mapping, or ``intervals`` ``[[min, max], [r, g, b, a]]`` in the order given."""
        if self.values:
            return {"colormap": self.text, "stops": [[v, list(c)] for v, c in self.values]}
        return {
            "colormap": self.text,
            "intervals": [[[_plain(lo), _plain(hi)], list(c)] for (lo, hi), c in self.intervals],
        }
