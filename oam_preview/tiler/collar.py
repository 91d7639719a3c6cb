"""Collars made transparent as GDAL's ``nearblack`` finds them: ``collar`` and ``collar_tolerance``.

A scanned or warped image often sits in a black (or white) frame, its *collar*.
Saved lossily (JPEG, most uploads), the collar is *near* black, not 0, so
``nodata=0`` leaves a ragged fringe. ``nearblack`` (GDAL's apps/nearblack_lib.cpp)
instead scans every row from both sides and every column from the top and the
bottom, marking pixels whose every band is within ``-near`` (15) of the colour,
and stops at the first pixel that is not: what it marks is what the edges reach,
so the image's own dark pixels stay.

That reach is a property of the whole image, and a tile sees a piece of it. So
the scan is made once per image version and rendering on a whole-image read of
at most :data:`GRID_SIZE` px a side (its overviews: :class:`CollarGrid`), with
``nearblack -nb 0`` (a pixel of that grid averages many, so JPEG's noise is
already smoothed), and sorted into three *zones*: the collar shrunk by one grid
pixel (surely collar: transparent), the collar grown by one grid pixel less that
(where the edge lies: a pixel there is transparent when it is near the colour
at the tile's own resolution) and the image (shown). Each pixel's answer depends
on its own value and on the whole-image grid only, never on its tile, so
adjacent tiles agree on their shared border and no buffer is read.

Pure numpy, and rasterio's warp for the zones in a tile's grid; the rendering's
option is parsed by :meth:`Collar.from_args`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

import numpy as np
from affine import Affine

from ..errors import BadRequest

if TYPE_CHECKING:
    from dataclasses import Field


class Shown(Protocol):
    """Display pixels (:class:`~oam_preview.tiler.render.Pixels`, named by shape, not imported:
    it imports the rendering, which imports this)."""

    __dataclass_fields__: ClassVar[dict[str, Field[Any]]]

    @property
    def data(self) -> np.ndarray: ...
    @property
    def mask(self) -> np.ndarray: ...
    @property
    def indexes(self) -> np.ndarray | None: ...


Pixels = TypeVar("Pixels", bound=Shown)

#: The colours a collar may have; ``both``: black or white (``nearblack -color 0,0,0 -color 255,...``).
COLOURS = {"black": (0,), "white": (255,), "both": (0, 255)}
#: ``nearblack -near``'s default: how far (0-255, in every band) from the colour a collar pixel may be.
DEFAULT_TOLERANCE = 15
#: The longest side, px, of the whole-image read the collar is found on (once per image version).
GRID_SIZE = 1024
#: Collar grids a worker keeps, bytes (a byte a pixel: 1 MB for a 1024 px square image).
GRIDS_KEPT_BYTES = 32 * 1024 * 1024
#: ``nearblack -nb``'s default: pixels past the collar's near ones a scan still marks, along a row
#: or column (the mixed pixels of its edge, which JPEG and resampling leave neither collar nor
#: image). A tile reads this many pixels around itself so its edge pixels see as far.
REACH = 2

#: Zones of a :class:`CollarGrid`: shown, decided per pixel by its value, transparent.
IMAGE, EDGE, COLLAR = 0, 1, 2


class Args(Protocol):
    def getlist(self, key: str) -> list[str]: ...


@dataclass(frozen=True)
class Collar:
    """A collar to make transparent: its ``colour`` (a key of :data:`COLOURS`) and ``tolerance``
    (0-255: a pixel is near the colour when each shown 8-bit band is within it)."""

    colour: str
    tolerance: int = DEFAULT_TOLERANCE

    @classmethod
    def from_args(cls, args: Args) -> Collar | None:
        """``collar`` (black, white or both) and ``collar_tolerance`` (a whole number 0-255) of a
        query; :class:`BadRequest` naming the parameter for a bad one."""
        colours = [c for c in args.getlist("collar") if c.strip()]
        tolerances = [t for t in args.getlist("collar_tolerance") if t.strip()]
        if not colours:
            if tolerances:
                raise BadRequest("collar_tolerance needs collar (e.g. collar=black)")
            return None
        colour = colours[-1].strip().lower()
        if colour not in COLOURS:
            raise BadRequest(f"collar must be black, white or both, not {colours[-1][:40]!r}")
        tolerance = DEFAULT_TOLERANCE
        if tolerances:
            text = tolerances[-1].strip()
            if not text.isdigit() or int(text) > 255:
                raise BadRequest(f"collar_tolerance must be a whole number from 0 to 255, not {text[:40]!r}")
            tolerance = int(text)
        return cls(colour, tolerance)

    def to_args(self) -> list[tuple[str, str]]:
        """The canonical query pairs (the tolerance only when not the default)."""
        pairs = [("collar", self.colour)]
        if self.tolerance != DEFAULT_TOLERANCE:
            pairs.append(("collar_tolerance", str(self.tolerance)))
        return pairs

    def near(self, data: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Where (rows, cols) display pixels ``data`` (uint8 bands, rows, cols) are near the
        collar's colour in every band (``nearblack``'s test); a transparent pixel (``mask`` 0)
        counts as collar: a file's own nodata frame carries the scan on."""
        found = np.zeros(mask.shape, dtype=bool)
        for target in COLOURS[self.colour]:
            low, high = max(target - self.tolerance, 0), min(target + self.tolerance, 255)
            found |= ((data >= low) & (data <= high)).all(axis=0)
        return found | (mask == 0)


def _runs(near: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """Where a left-to-right scan of each row marks: the ``near`` pixels reached from a seed (or
    the row's first pixel) through ``near`` pixels only (``nearblack``'s horizontal check, ``-nb
    0``, restarted where the vertical scan is still open)."""
    cols = np.arange(near.shape[1])
    starts = seeds.copy()
    starts[:, 0] = True
    last_break = np.maximum.accumulate(np.where(near, -1, cols), axis=1)
    last_seed = np.maximum.accumulate(np.where(starts & near, cols, -1), axis=1)
    return near & (last_seed > last_break)


def _scan(near: np.ndarray) -> np.ndarray:
    """One vertical direction of ``nearblack`` (top down) with its two horizontal scans: the
    columns open from the top (every pixel above near), and the rows' runs from either side."""
    open_columns = np.logical_and.accumulate(near, axis=0)
    left = _runs(near, open_columns)
    right = _runs(near[:, ::-1], open_columns[:, ::-1])[:, ::-1]
    return open_columns | left | right


def edge_connected(near: np.ndarray) -> np.ndarray:
    """What ``nearblack -nb 0`` marks, given where (rows, cols) pixels are ``near`` the collar's
    colour: the pixels reached from the image's edges along rows and columns through near
    pixels only, top down then bottom up."""
    return _scan(near) | _scan(near[::-1])[::-1]


def _spread(marked: np.ndarray, grow: bool) -> np.ndarray:
    """``marked`` grown (or shrunk) by one pixel, its 8 neighbours; outside the grid counts as
    marked when shrinking (the image's edge does not shrink a collar reaching it)."""
    padded = np.pad(marked, 1, constant_values=not grow)
    rows, cols = marked.shape
    out = marked.copy()
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            window = padded[dy : dy + rows, dx : dx + cols]
            out = (out | window) if grow else (out & window)
    return out


def zones(collar: np.ndarray) -> np.ndarray:
    """The uint8 zones (rows, cols) of a grid whose ``collar`` pixels were found: :data:`COLLAR`
    where the collar shrunk by a pixel is, :data:`EDGE` around its border (a pixel wide each
    side), :data:`IMAGE` elsewhere."""
    out = np.where(_spread(collar, grow=True), EDGE, IMAGE).astype(np.uint8)
    out[_spread(collar, grow=False)] = COLLAR
    return out


@dataclass(frozen=True)
class CollarGrid:
    """An image's collar zones (:func:`zones`) on a whole-image grid: ``transform`` from grid
    pixels to the file's ``crs`` (the file's own georeference, before any alignment offset)."""

    zones: np.ndarray
    transform: Affine
    crs: Any

    @classmethod
    def found(
        cls, whole: Pixels, collar: Collar, transform: Affine, crs: Any, size: tuple[int, int]
    ) -> CollarGrid:
        """The grid of ``whole``, the display pixels of a whole image of ``size`` (cols, rows)
        pixels, whose pixel grid ``transform`` places in ``crs`` (the file's georeference)."""
        rows, cols = whole.mask.shape
        scaled = transform * Affine.scale(size[0] / cols, size[1] / rows)
        return cls(zones(edge_connected(collar.near(whole.data, whole.mask))), scaled, crs)

    @property
    def nbytes(self) -> int:
        return int(self.zones.nbytes)

    def resized(self, rows: int, cols: int) -> np.ndarray:
        """The zones on a grid of the same extent, ``rows`` x ``cols`` (a thumbnail): nearest."""
        height, width = self.zones.shape
        ys = np.minimum((np.arange(rows) + 0.5) * height / rows, height - 1).astype(np.intp)
        xs = np.minimum((np.arange(cols) + 0.5) * width / cols, width - 1).astype(np.intp)
        return self.zones[np.ix_(ys, xs)]

    def warped(self, transform: Affine, crs: Any, rows: int, cols: int) -> np.ndarray:
        """The zones on another north-up grid (a tile's: ``transform`` and ``crs``), nearest;
        outside the image: :data:`IMAGE` (the read masks it already). Where the tile's pixels lie
        in the grid is computed exactly on a lattice of points every :data:`WARP_STEP` pixels and
        linearly between, as GDAL's approximate transformer does (a few hundred points
        reprojected, not every pixel). The lattice is the world's (multiples of the step in
        ``crs``), not the tile's: a pixel is placed from the same points whichever tile asks, so
        neighbouring tiles place their shared surroundings alike."""
        step_x, step_y = WARP_STEP * transform.a, WARP_STEP * -transform.e  # crs units, > 0
        centres_x = transform.c + (np.arange(cols) + 0.5) * transform.a
        centres_y = transform.f + (np.arange(rows) + 0.5) * transform.e
        along_x, first_x = _on_lattice(centres_x / step_x)
        along_y, first_y = _on_lattice(centres_y / step_y)
        count_x = int(np.floor(along_x.max())) + 2
        count_y = int(np.floor(along_y.max())) + 2
        lattice_x, lattice_y = np.meshgrid(
            (first_x + np.arange(count_x)) * step_x, (first_y + np.arange(count_y)) * step_y
        )
        xs, ys = lattice_x.ravel(), lattice_y.ravel()
        if crs != self.crs:
            from rasterio.warp import transform as reproject_points

            xs, ys = (np.asarray(v) for v in reproject_points(crs, self.crs, xs, ys))
        grid_cols, grid_rows = ~self.transform * (xs, ys)
        uniform = self._uniform(np.asarray(grid_rows), np.asarray(grid_cols))
        if uniform is not None:  # most tiles: wholly image or wholly collar
            return np.full((rows, cols), uniform, dtype=np.uint8)
        shape = (count_y, count_x)
        at_cols = _interpolated(np.reshape(grid_cols, shape), along_y, along_x)
        at_rows = _interpolated(np.reshape(grid_rows, shape), along_y, along_x)
        height, width = self.zones.shape
        inside = (at_rows >= 0) & (at_rows < height) & (at_cols >= 0) & (at_cols < width)
        found = self.zones[np.clip(at_rows, 0, height - 1), np.clip(at_cols, 0, width - 1)]
        return np.where(inside, found, np.uint8(IMAGE))

    def _uniform(self, grid_rows: np.ndarray, grid_cols: np.ndarray) -> int | None:
        """The one zone of the grid's window around these positions (a pixel's margin), if it is
        one (outside the grid: :data:`IMAGE`, its pixels masked by the read anyway)."""
        height, width = self.zones.shape
        r0, r1 = int(np.floor(grid_rows.min())) - 1, int(np.floor(grid_rows.max())) + 2
        c0, c1 = int(np.floor(grid_cols.min())) - 1, int(np.floor(grid_cols.max())) + 2
        window = self.zones[max(r0, 0) : max(min(r1, height), 0), max(c0, 0) : max(min(c1, width), 0)]
        if window.size == 0:
            return IMAGE
        low, high = int(window.min()), int(window.max())
        return low if low == high else None


#: Pixels between the points of a tile whose place in a :class:`CollarGrid` is computed exactly.
WARP_STEP = 16


def _on_lattice(positions: np.ndarray) -> tuple[np.ndarray, int]:
    """``positions`` (in lattice steps from the world's origin) from the first lattice point at or
    before them, and that point's index."""
    first = int(np.floor(positions.min()))
    return positions - first, first


def _interpolated(values: np.ndarray, along_y: np.ndarray, along_x: np.ndarray) -> np.ndarray:
    """Integer grid positions (rows, cols) of pixels at ``along_y`` x ``along_x`` (lattice steps
    from its first point) from ``values`` at the lattice's points, linearly between them (two
    gathers and a blend per axis, no matrix product). A hair is added before the floor: a pixel
    centre that falls on a grid pixel's edge is placed alike whichever tile computed it."""
    before = np.minimum(np.floor(along_x).astype(np.intp), values.shape[1] - 2)
    weight = along_x - before
    across = values[:, before] * (1 - weight) + values[:, before + 1] * weight
    before = np.minimum(np.floor(along_y).astype(np.intp), values.shape[0] - 2)
    weight = (along_y - before)[:, np.newaxis]
    down = across[before] * (1 - weight) + across[before + 1] * weight
    return np.floor(down + 1e-6).astype(np.intp)


def _reached(hidden: np.ndarray, steps: int) -> np.ndarray:
    """Where (rows, cols) a ``hidden`` pixel lies at most ``steps`` px away along the row or column."""
    padded = np.pad(hidden, steps)
    rows, cols = hidden.shape
    out = hidden.copy()
    for d in range(1, steps + 1):
        out |= padded[steps + d : steps + d + rows, steps : steps + cols]
        out |= padded[steps - d : steps - d + rows, steps : steps + cols]
        out |= padded[steps : steps + rows, steps + d : steps + d + cols]
        out |= padded[steps : steps + rows, steps - d : steps - d + cols]
    return out


def collar_mask(data: np.ndarray, mask: np.ndarray, zone: np.ndarray, collar: Collar) -> np.ndarray:
    """``mask`` (uint8 rows, cols; 255 shown) with the collar transparent: every pixel of the
    :data:`COLLAR` zone, each pixel of the :data:`EDGE` zone that is near the colour, and the
    pixels of the :data:`EDGE` zone :data:`REACH` px or less from those (``nearblack -nb``)."""
    edge = zone == EDGE
    if not edge.any():
        return np.where(zone == COLLAR, np.uint8(0), mask)
    hidden = (zone == COLLAR) | (edge & collar.near(data, mask))
    hidden |= edge & _reached(hidden, REACH)
    return np.where(hidden, np.uint8(0), mask)


def decollared(pixels: Pixels, zone: np.ndarray, collar: Collar, crop: int = 0) -> Pixels:
    """``pixels`` with the collar transparent (:func:`collar_mask`; ``zone``: theirs, same shape),
    transparent pixels black as :func:`~oam_preview.tiler.render.to_pixels` leaves them; ``crop``
    px cut from each side after (a tile's buffer: its edge pixels decided as the whole image's)."""
    inner = (slice(crop, -crop), slice(crop, -crop)) if crop else (slice(None), slice(None))
    if zone.max() == IMAGE:  # no collar here: as read
        if not crop:
            return pixels
        indexes = None if pixels.indexes is None else pixels.indexes[inner]
        data = np.ascontiguousarray(pixels.data[(slice(None), *inner)])
        return replace(pixels, data=data, mask=np.ascontiguousarray(pixels.mask[inner]), indexes=indexes)
    mask = np.ascontiguousarray(collar_mask(pixels.data, pixels.mask, zone, collar)[inner])
    data = np.where(mask[np.newaxis] == 0, np.uint8(0), pixels.data[(slice(None), *inner)])
    return replace(pixels, data=data, mask=mask, indexes=None, palette=None)


def tile_zones(
    grid: CollarGrid, bounds: tuple[float, float, float, float], crs: Any, size: int
) -> tuple[np.ndarray, int]:
    """The zones of a ``size`` px tile over ``bounds`` (west, south, east, north, in ``crs``: where
    its pixels are read), and the buffer its read needs: :data:`REACH` px where the collar's edge
    crosses it (the zones then cover the buffered read), else none."""
    zone = grid.warped(tile_transform(bounds, size, REACH), crs, size + 2 * REACH, size + 2 * REACH)
    if (zone == EDGE).any():
        return zone, REACH
    return zone[REACH:-REACH, REACH:-REACH], 0


def tile_transform(bounds: tuple[float, float, float, float], size: int, buffer: int = 0) -> Affine:
    """The pixel grid of a ``size`` px square over ``bounds`` (west, south, east, north), grown by
    ``buffer`` px each side (a buffered read's)."""
    west, south, east, north = bounds
    dx, dy = (east - west) / size, (north - south) / size
    return Affine(dx, 0.0, west - buffer * dx, 0.0, -dy, north + buffer * dy)
