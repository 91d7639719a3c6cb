"""``algorithm=`` with ``algorithm_params=``: TiTiler's post-processing of the pixels read, by name.

``hillshade`` and ``slope`` of a terrain model, ``terrainrgb`` and ``terrarium`` (heights
encoded as RGB for 3D clients), ``normalizedIndex`` of two bands. Parameter names, defaults
and ranges are TiTiler's (``titiler.core.algorithm``); an :class:`Algorithm` is parsed from
the query (a 400 naming ``algorithm`` or ``algorithm_params`` for an unknown name, bad JSON,
an unknown parameter or a value out of its range) and is canonical: its parameters that differ
from their defaults, sorted (:attr:`Algorithm.params_text`).

Each algorithm computes on (bands, rows, cols) values and the pixels that are invalid (rows,
cols) and answers its outputs and their invalid pixels. Those that look at a pixel's neighbours
(``hillshade``, ``slope``: numpy's central differences, as TiTiler) declare a ``buffer``: a
tile reads that many pixels more on each side and the algorithm crops them, so a pixel at a
tile's edge is computed from the same neighbours as anywhere else and tiles have no seams. The
buffer is fixed per algorithm (TiTiler's ``buffer`` parameter is accepted and ignored), so the
work per tile is bounded.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import BadRequest

#: Longest ``algorithm_params`` accepted, characters.
MAX_PARAMS_LENGTH = 1024

#: Values by parameter name (``None``: a nullable parameter left unset).
Params = Mapping[str, float | None]
#: (values (bands, rows, cols) float64, invalid (rows, cols) bool, parameters, pixel size
#: (x, y) in the read's CRS units) -> (outputs (n, rows, cols), invalid (rows, cols)).
Compute = Callable[[np.ndarray, np.ndarray, Params, tuple[float, float]], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Param:
    """One parameter: ``whole`` numbers only or any; accepted from ``low`` to ``high``."""

    name: str
    default: float | None
    low: float
    high: float
    whole: bool = False
    #: Values the parameter may not take within its range (``interval`` 0: a division by zero).
    excluded: tuple[float, ...] = ()

    def parse(self, value: Any) -> float | None:
        if value is None and self.default is None:
            return None
        if not (isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)):
            raise BadRequest(f"algorithm_params {self.name} must be a number, not {json.dumps(value)[:40]}")
        if self.whole and not float(value).is_integer():
            raise BadRequest(f"algorithm_params {self.name} must be a whole number, not {value}")
        if not self.low <= value <= self.high or value in self.excluded:
            excluded = "".join(f" (not {v:g})" for v in self.excluded)
            raise BadRequest(
                f"algorithm_params {self.name} must be from {self.low:g} to {self.high:g}{excluded}: {value} is not"
            )
        return int(value) if self.whole else float(value)


@dataclass(frozen=True)
class Spec:
    """What an algorithm takes and gives: ``inputs`` and ``outputs`` band counts; ``buffer``
    pixels read around a tile; ``display``: the range shown as 0-255 without ``rescale`` (None:
    its outputs are 8-bit, shown as they are); ``encoded``: its outputs encode values (heights),
    so they are shown as computed, in lossless PNG only."""

    name: str
    inputs: int
    outputs: int
    compute: Compute
    params: tuple[Param, ...] = ()
    buffer: int = 0
    display: tuple[float, float] | None = None
    encoded: bool = False


def _gradients(
    values: np.ndarray, invalid: np.ndarray, z: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The central differences of band 1 times ``z`` along rows and along columns (per pixel,
    numpy's :func:`numpy.gradient`), and where they are invalid: at an invalid pixel or next to
    one (the differences read the four neighbours), or where a value is not finite."""
    heights = values[0] * z
    bad = invalid | ~np.isfinite(heights)
    heights = np.where(bad, 0.0, heights)
    near = bad.copy()
    near[1:] |= bad[:-1]
    near[:-1] |= bad[1:]
    near[:, 1:] |= bad[:, :-1]
    near[:, :-1] |= bad[:, 1:]
    if min(heights.shape) < 2:  # numpy needs two pixels a side: a sliver is left flat
        return np.zeros_like(heights), np.zeros_like(heights), near
    along_rows, along_cols = np.gradient(heights)
    return along_rows, along_cols, near


def hillshade(
    values: np.ndarray, invalid: np.ndarray, params: Params, size: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Lambertian shading 0-255 of the surface whose height per pixel is band 1 (its gradient
    per pixel, not per metre: TiTiler's), lit at ``angle_altitude`` degrees above the horizon from
    ``azimuth`` - 90 degrees clockwise from north (TiTiler's angle: its default 45 lights from the
    north-west, as shaded maps are); 127 where the light grazes it, 0 in shadow."""
    rows, cols, bad = _gradients(values, invalid, float(params["z_exaggeration"] or 1.0))
    light = np.deg2rad(360.0 - float(params["azimuth"] or 0.0))
    altitude = np.deg2rad(float(params["angle_altitude"] or 0.0))
    # TiTiler's sin(altitude)·sin(incline) + cos(altitude)·cos(incline)·cos(light - aspect), with
    # incline = π/2 - atan(g), aspect = atan2(-rows, cols), g = hypot(rows, cols), expanded:
    # sin(incline) = 1/√(1+g²), cos(incline)·cos(light - aspect) = (cos(light)·cols -
    # sin(light)·rows)/√(1+g²). The same light, without an arctan and three cosines per pixel.
    lit = cols * math.cos(light)
    lit -= rows * math.sin(light)
    lit *= math.cos(altitude)
    lit += math.sin(altitude)
    lit /= np.sqrt(1.0 + rows * rows + cols * cols)
    shade = np.clip(255 * (lit + 1) / 2, 0, 255)
    return shade.astype(np.uint8)[np.newaxis], bad


def slope(
    values: np.ndarray, invalid: np.ndarray, params: Params, size: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """The slope of band 1 in degrees (0 flat, 90 vertical), heights and pixel ``size`` in the
    same unit (metres, for a Web Mercator tile of a DEM in metres: TiTiler's)."""
    rows, cols, bad = _gradients(values, invalid, float(params["z_exaggeration"] or 1.0))
    x_size, y_size = size
    degrees = np.rad2deg(np.arctan(np.hypot(rows / y_size, cols / x_size)))
    return degrees.astype(np.float32)[np.newaxis], bad


def _rgb(encoded: np.ndarray) -> np.ndarray:
    """(3, rows, cols) uint8 of whole numbers 0 to 2^24 - 1: their base-256 digits, high first."""
    return np.stack([(encoded >> shift) & 0xFF for shift in (16, 8, 0)]).astype(np.uint8)


def terrainrgb(
    values: np.ndarray, invalid: np.ndarray, params: Params, size: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Mapbox Terrain-RGB: height = ``baseval`` + (R × 65536 + G × 256 + B) × ``interval``.
    Heights beyond what 24 bits encode are clipped to its range; with ``nodata_height``, invalid
    pixels become valid ones of that height."""
    base, step = float(params["baseval"] or 0.0), float(params["interval"] or 1.0)
    filler = params["nodata_height"]
    heights = values[0]
    if filler is not None:
        heights = np.where(invalid, filler, heights)
        invalid = np.zeros_like(invalid)
    with np.errstate(invalid="ignore"):
        steps = np.nan_to_num(np.around((heights - base) / step), nan=0.0)
    return _rgb(np.clip(steps, 0, 2**24 - 1).astype(np.int64)), invalid


def terrarium(
    values: np.ndarray, invalid: np.ndarray, params: Params, size: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Mapzen Terrarium: height = R × 256 + G + B / 256 - 32768 (clipped to that range); with
    ``nodata_height``, invalid pixels become valid ones of that height."""
    filler = params["nodata_height"]
    heights = values[0]
    if filler is not None:
        heights = np.where(invalid, filler, heights)
        invalid = np.zeros_like(invalid)
    shifted = np.clip(np.nan_to_num(heights + 32768.0, nan=0.0), 0.0, 65535.0)
    rgb = np.stack([shifted / 256, shifted % 256, (shifted * 256) % 256])
    return rgb.astype(np.uint8), invalid


def normalized_index(
    values: np.ndarray, invalid: np.ndarray, params: Params, size: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """(second - first) / (second + first) of the two bands read (e.g. ``bidx=RED,NIR``: NDVI),
    -1 to 1; invalid where their sum is 0."""
    first, second = values[0], values[1]
    total = second + first
    zero = total == 0
    with np.errstate(invalid="ignore", divide="ignore"):
        index = np.where(zero, 0.0, (second - first) / np.where(zero, 1.0, total))
    return index.astype(np.float32)[np.newaxis], invalid | zero


_Z = Param("z_exaggeration", 1.0, 1e-6, 1e6)
_BUFFER = Param("buffer", 3, 0, 99, whole=True)  # TiTiler's; accepted, not used (the module's docstring)
_NODATA_HEIGHT = Param("nodata_height", None, -99999.0, 99999.0)

#: The algorithms by their TiTiler names.
ALGORITHMS: Mapping[str, Spec] = {
    spec.name: spec
    for spec in (
        Spec(
            "hillshade", 1, 1, hillshade, buffer=1,
            params=(
                Param("azimuth", 45, 0, 360, whole=True), Param("angle_altitude", 45.0, -90.0, 90.0), _Z, _BUFFER,
            ),
        ),
        Spec("slope", 1, 1, slope, params=(_Z, _BUFFER), buffer=1, display=(0.0, 90.0)),
        Spec(
            "terrainrgb", 1, 3, terrainrgb, encoded=True,
            params=(
                Param("interval", 0.1, 0.0, 1.0, excluded=(0.0,)), Param("baseval", -10000.0, -99999.0, 99999.0),
                _NODATA_HEIGHT,
            ),
        ),
        Spec("terrarium", 1, 3, terrarium, params=(_NODATA_HEIGHT,), encoded=True),
        Spec("normalizedIndex", 2, 1, normalized_index, display=(-1.0, 1.0)),
    )
}  # fmt: skip
#: Parameters accepted and left out of the canonical form (they change nothing here).
IGNORED = frozenset({"buffer"})


@dataclass(frozen=True)
class Algorithm:
    """An algorithm by name with the parameters given that differ from their defaults, sorted."""

    name: str
    params: tuple[tuple[str, float | None], ...] = ()

    @classmethod
    def parse(cls, name: str, params_text: str | None) -> Algorithm:
        """The algorithm named ``name`` (TiTiler's names, case as written) with ``params_text``
        (a JSON object, or None/empty for the defaults); :class:`BadRequest` naming the parameter."""
        spec = ALGORITHMS.get(name)
        if spec is None:
            raise BadRequest(
                f"algorithm {name[:40]!r} is not one of {', '.join(ALGORITHMS)} (TiTiler's names)"
            )
        given: dict[str, Any] = {}
        if params_text and params_text.strip():
            if len(params_text) > MAX_PARAMS_LENGTH:
                raise BadRequest(
                    f"algorithm_params is {len(params_text)} characters: at most {MAX_PARAMS_LENGTH}"
                )
            try:
                given = json.loads(params_text)
            except (ValueError, RecursionError):
                raise BadRequest('algorithm_params must be a JSON object, e.g. {"azimuth": 315}') from None
            if not isinstance(given, dict):
                raise BadRequest('algorithm_params must be a JSON object, e.g. {"azimuth": 315}')
        accepted = {p.name: p for p in spec.params}
        params = {}
        for key, value in given.items():
            param = accepted.get(key)
            if param is None:
                known = ", ".join(accepted) or "none"
                raise BadRequest(
                    f"algorithm_params {key[:40]!r} is no parameter of {name} (it takes: {known})"
                )
            parsed = param.parse(value)
            if key not in IGNORED and parsed != param.default:
                params[key] = parsed
        return cls(name, tuple(sorted(params.items())))

    @property
    def spec(self) -> Spec:
        return ALGORITHMS[self.name]

    @property
    def params_text(self) -> str:
        """The canonical ``algorithm_params``: ``""`` when every parameter is its default."""
        if not self.params:
            return ""
        return json.dumps(dict(self.params), separators=(",", ":"))

    def values(self) -> dict[str, float | None]:
        """Every parameter's value: the given ones, else the defaults."""
        return {**{p.name: p.default for p in self.spec.params}, **dict(self.params)}

    def apply(
        self, values: np.ndarray, invalid: np.ndarray, size: tuple[float, float], buffer: int = 0
    ) -> tuple[np.ndarray, np.ndarray]:
        """The outputs (n, rows, cols) and their invalid pixels, of ``values`` (bands, rows, cols)
        whose ``invalid`` pixels (rows, cols) are known; ``buffer`` pixels cropped from each side
        (those read around a tile); ``size``: a pixel's (x, y) size in the read's CRS units."""
        outputs, bad = self.spec.compute(values.astype(np.float64), invalid, self.values(), size)
        if buffer:
            outputs, bad = outputs[:, buffer:-buffer, buffer:-buffer], bad[buffer:-buffer, buffer:-buffer]
        return np.ascontiguousarray(outputs), np.ascontiguousarray(bad)
