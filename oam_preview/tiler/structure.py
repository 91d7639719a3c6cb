"""How a GeoTIFF is laid out, from its header: :class:`Structure` (a value), and the COG rules.

:func:`read_structure` reads what GDAL knows of an open dataset (blocks, compression,
overviews, where each IFD and each level's first block sit) and the first bytes of the
file (the TIFF header and GDAL's *ghost area*, the structural metadata a COG writer puts
after it). :func:`cog_errors` applies rio-cogeo's ``cog_validate`` rules to it, each
named by a stable code. Offsets and sizes are bytes from the start of the file; widths
and heights are pixels.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from rasterio.enums import ColorInterp, MaskFlags

from ..geo.georeference import georeference

#: rio-cogeo's limits: a file larger than this (either side, pixels) must be tiled and should
#: have overviews; the main IFD must start before this byte.
COG_SIZE = 512
MAIN_IFD_LIMIT = 300
#: What GDAL writes first in its ghost area.
GHOST_MARK = b"GDAL_STRUCTURAL_METADATA_SIZE="
#: Compressions that lose information.
LOSSY = ("JPEG", "WEBP", "JXL")


@dataclass(frozen=True)
class Level:
    """The full resolution (``index`` -1) or one overview: its size, where its IFD starts and
    where its first stored block starts (0: none stored)."""

    index: int
    width: int
    height: int
    ifd_offset: int
    data_offset: int


@dataclass(frozen=True)
class Structure:
    """What a GeoTIFF's header says of its layout and pixels.

    ``block`` is (rows, cols) of the full resolution's blocks (a strip: cols = width);
    ``compression`` GDAL's name in capitals (``NONE`` when uncompressed); ``ghost`` the
    text of GDAL's ghost area, ``None`` when the file has none; ``bigtiff`` from the
    header's version number; ``georeference`` ``"transform"``, ``"gcps"`` or ``None``.
    """

    width: int
    height: int
    count: int
    dtypes: tuple[str, ...]
    colorinterp: tuple[str, ...]
    palette: bool
    nodata: float | None
    alpha: bool
    internal_mask: bool
    block: tuple[int, int]
    compression: str
    predictor: str | None
    interleave: str
    photometric: str | None
    max_z_error: float
    bigtiff: bool
    ghost: str | None
    levels: tuple[Level, ...]
    overviews: tuple[int, ...]
    crs: str | None
    georeference: str | None

    @property
    def tiled(self) -> bool:
        return self.block[1] < self.width or self.width <= self.block[1] == self.block[0]

    @property
    def lossy(self) -> bool:
        """Whether the compression alters values: JPEG, WebP, JPEG XL, or LERC with an error allowed."""
        return any(name in self.compression for name in LOSSY) or (
            "LERC" in self.compression and self.max_z_error > 0
        )

    @property
    def header_span(self) -> int:
        """Bytes from the file's start to its last IFD: how far a reader goes to learn the layout."""
        return max(level.ifd_offset for level in self.levels)

    @property
    def first_data(self) -> int:
        """Where the first stored pixel block starts (0: none stored)."""
        stored = [level.data_offset for level in self.levels if level.data_offset]
        return min(stored) if stored else 0

    def ghost_value(self, key: str) -> str | None:
        """One ``KEY=VALUE`` of the ghost area."""
        for line in (self.ghost or "").splitlines():
            name, _, value = line.partition("=")
            if name.strip() == key:
                return value.strip()
        return None


def ghost_area(head: bytes) -> str | None:
    """GDAL's ghost area in the file's first bytes ``head``, or ``None``: it follows the 8-byte
    (16 for BigTIFF) header and starts with :data:`GHOST_MARK` and its size."""
    start = 16 if head[2:4] in (b"+\x00", b"\x00+") else 8
    if head[start : start + len(GHOST_MARK)] != GHOST_MARK:
        return None
    digits = head[start + len(GHOST_MARK) : start + len(GHOST_MARK) + 6]
    if not digits.isdigit():
        return None
    text_start = start + len(GHOST_MARK) + len(b"000140 bytes\n")
    return head[text_start : text_start + int(digits)].decode("ascii", "replace")


def is_bigtiff(head: bytes) -> bool:
    return len(head) >= 4 and struct.unpack("<H" if head[:2] == b"II" else ">H", head[2:4])[0] == 43


def _offset(dataset: Any, name: str, ovr: int | None) -> int:
    value = dataset.get_tag_item(name, "TIFF", bidx=1, ovr=ovr)
    return int(value) if value else 0


def _first_block(dataset: Any, ovr: int | None, cols: int, rows: int) -> int:
    """The offset of the first stored block of a level (rio-cogeo's rule: the first in row
    order whose offset is not 0), looking at most at the first 64 blocks (sparse files)."""
    for y in range(rows):
        for x in range(cols):
            if y * cols + x >= 64:
                return 0
            found = _offset(dataset, f"BLOCK_OFFSET_{x}_{y}", ovr)
            if found:
                return found
    return 0


def _float(text: str | None) -> float:
    try:
        return float(text) if text else 0.0
    except ValueError:
        return 0.0


def read_structure(dataset: Any, head: bytes) -> Structure:
    """The :class:`Structure` of an open dataset whose file starts with the bytes ``head``."""
    rows, cols = (int(v) for v in dataset.block_shapes[0])
    overviews = tuple(dataset.overviews(1))
    levels = []
    for index, factor in [(-1, 1), *enumerate(overviews)]:
        ovr = None if index < 0 else index
        width, height = -(-dataset.width // factor), -(-dataset.height // factor)
        n_cols, n_rows = -(-width // cols), -(-height // rows)
        levels.append(
            Level(
                index,
                width,
                height,
                _offset(dataset, "IFD_OFFSET", ovr),
                _first_block(dataset, ovr, n_cols, n_rows),
            )
        )
    image_structure = dataset.tags(ns="IMAGE_STRUCTURE")
    colorinterp = tuple(ci.name for ci in dataset.colorinterp)
    _, _, kind = georeference(dataset)
    crs = dataset.crs if dataset.crs is not None else dataset.gcps[1]
    return Structure(
        width=dataset.width,
        height=dataset.height,
        count=dataset.count,
        dtypes=tuple(dataset.dtypes),
        colorinterp=colorinterp,
        palette=dataset.colorinterp[0] == ColorInterp.palette,
        nodata=dataset.nodata,
        alpha=ColorInterp.alpha in dataset.colorinterp,
        internal_mask=any(MaskFlags.per_dataset in flags for flags in dataset.mask_flag_enums)
        and ColorInterp.alpha not in dataset.colorinterp,
        block=(rows, cols),
        compression=str(image_structure.get("COMPRESSION", "NONE")).upper(),
        predictor=image_structure.get("PREDICTOR"),
        interleave=str(image_structure.get("INTERLEAVE", "PIXEL")).upper(),
        max_z_error=_float(image_structure.get("MAX_Z_ERROR")),
        photometric=dataset.photometric.name if dataset.photometric is not None else None,
        bigtiff=is_bigtiff(head),
        ghost=ghost_area(head),
        levels=tuple(levels),
        overviews=overviews,
        crs=crs.to_string() if crs is not None else None,
        georeference=kind,
    )


#: The codes of :func:`cog_errors`, each the rule of rio-cogeo's ``cog_validate`` it stands for.
COG_RULES = {
    "external_overviews": "Overviews found in external .ovr file. They should be internal",
    "stripped": "The file is greater than 512xH or 512xW, but is not tiled",
    "header_not_first": "The offset of the main IFD should be < 300 / a level's first block before its IFD "
    "(and, beyond rio-cogeo: an IFD after pixel data)",
    "edited_after_creation": "Optimizations ... invalidated by later changes (KNOWN_INCOMPATIBLE_EDITION=YES)",
    "parts_out_of_order": "Overviews / IFDs / first blocks not sorted as a COG's",
}


def cog_errors(structure: Structure, external_ovr: bool) -> list[str]:
    """The codes of :data:`COG_RULES` that ``structure`` breaks (each once), in rio-cogeo's order;
    none: a valid COG as ``cog_validate`` has it. ``external_ovr``: a ``.ovr`` sits beside it."""
    found: list[str] = []

    def add(code: str) -> None:
        if code not in found:
            found.append(code)

    s = structure
    if external_ovr:
        add("external_overviews")
    if (s.width > COG_SIZE or s.height > COG_SIZE) and s.block[1] == s.width:
        add("stripped")
    main = s.levels[0]
    if main.ifd_offset > MAIN_IFD_LIMIT:
        add("header_not_first")
    if s.ghost_value("KNOWN_INCOMPATIBLE_EDITION") == "YES":
        add("edited_after_creation")
    if list(s.overviews) != sorted(s.overviews) or any(f <= 1 for f in s.overviews):
        add("parts_out_of_order")
    ifds = [level.ifd_offset for level in s.levels]
    if any(later < earlier for earlier, later in zip(ifds, ifds[1:], strict=False)):
        add("parts_out_of_order")
    data = [level.data_offset for level in s.levels if level.data_offset]
    if data and (data[-1] < ifds[-1] or s.header_span > s.first_data):
        add("header_not_first")
    if any(data[i] < data[i + 1] for i in range(1, len(data) - 1)) or (len(data) >= 2 and data[0] < data[1]):
        add("parts_out_of_order")
    return found
