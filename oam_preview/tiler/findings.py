"""The findings of a health report: what a GeoTIFF's facts mean for the person who published it.

Each rule here is a small pure function of measured facts (a
:class:`~oam_preview.tiler.structure.Structure`, the probe's answers, thumbnail pixels)
returning :class:`Finding` values: a stable ``code``, a ``severity`` (``ok``: a note,
``warning``: served, but worse than it could be, ``error``: not servable), one plain
sentence, the evidence, and whether the file's fix command (:mod:`~oam_preview.tiler.fixes`)
mends it. :func:`grade` sums them up. Sizes are pixels, offsets and lengths bytes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
from rasterio.crs import CRS

from .structure import COG_SIZE, Structure

Severity = Literal["ok", "warning", "error"]
#: A report's grade: ``ok`` (ready), ``warning`` (served, with warnings), ``not_servable``.
Grade = Literal["ok", "warning", "not_servable"]
SEVERITY_RANK = {"ok": 0, "warning": 1, "error": 2}

#: A smallest level longer than this (pixels) makes every thumbnail a large read.
SMALLEST_LEVEL = 1024
#: A collar: at least this fraction of an overview's edge pixels black (or white), none transparent.
COLLAR_FRACTION = 0.5
#: Display values counted as black (at most) and white (at least) on a collar's edge.
BLACK, WHITE = 3, 252
#: What the server does with each sidecar (one home for the sentence).
SIDECAR_USE = {
    ".ovr": "read for thumbnails of files without internal overviews, never for tiles",
    ".tfw": "not read: the server places the image by the file's own georeference only",
    ".prj": "not read: the server places the image by the file's own georeference only",
    ".aux.xml": "not read: the server ignores GDAL's .aux.xml files",
}


@dataclass(frozen=True)
class Finding:
    """One thing the report says: ``code`` (stable), ``severity``, ``message`` (one sentence
    for a non-specialist), ``evidence`` (what was measured), ``fixable``: the file's fix
    command mends it (``fix`` is that command, set by the report)."""

    code: str
    severity: Severity
    message: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    fixable: bool = False
    fix: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "evidence": dict(self.evidence),
            "fix": self.fix,
        }

    def with_fix(self, command: str | None) -> Finding:
        return replace(self, fix=command if self.fixable else None)


def grade(findings: Iterable[Finding]) -> Grade:
    """``not_servable`` with any error, ``warning`` with any warning, else ``ok``."""
    worst = max((SEVERITY_RANK[f.severity] for f in findings), default=0)
    return ("ok", "warning", "not_servable")[worst]  # type: ignore[return-value]


def problems(findings: Iterable[Finding]) -> list[str]:
    """The codes of the findings that are not notes (warnings and errors)."""
    return [f.code for f in findings if f.severity != "ok"]


# -- pixels --------------------------------------------------------------------------------


def product_type(s: Structure) -> str:
    """``pseudocolor`` (one band with a palette), ``elevation`` (one floating-point band),
    ``visual`` (3 uint8 bands, or 4 with alpha) or ``multispectral`` (anything else)."""
    if s.count == 1 and s.palette:
        return "pseudocolor"
    if s.count == 1 and s.dtypes[0].startswith("float"):
        return "elevation"
    if all(t == "uint8" for t in s.dtypes) and (s.count == 3 or (s.count == 4 and s.alpha)):
        return "visual"
    return "multispectral"


def transparency(s: Structure) -> str:
    """How the file says which pixels are empty: ``alpha``, ``mask`` (internal), ``nodata`` or ``none``."""
    if s.alpha:
        return "alpha"
    if s.internal_mask:
        return "mask"
    return "nodata" if s.nodata is not None else "none"


def pixel_findings(s: Structure, collar: Mapping[str, Any] | None) -> list[Finding]:
    """The note on the pixels, lossy compression of data, no compression, a collar."""
    kind = product_type(s)
    found = [
        Finding(
            "pixels",
            "ok",
            f"{s.count} band(s) of {s.dtypes[0]}: shown as {kind} imagery.",
            {
                "bands": s.count,
                "dtype": s.dtypes[0],
                "colorinterp": list(s.colorinterp),
                "product_type": kind,
                "transparency": transparency(s),
                "nodata": _number(s.nodata),
            },
        )
    ]
    if s.lossy and kind != "visual":
        found.append(
            Finding(
                "lossy_non_visual",
                "warning",
                f"The file stores {kind} values with {s.compression} compression, which alters "
                "values: measurements read from it are not the original ones.",
                {"compression": s.compression, "product_type": kind},
                fixable=True,
            )
        )
    if s.compression == "NONE":
        found.append(
            Finding(
                "uncompressed",
                "warning",
                "The file is not compressed: every view of it downloads several times more data "
                "than it would compressed.",
                {"compression": s.compression},
                fixable=True,
            )
        )
    if collar is not None:
        found.append(
            Finding(
                "collar_without_nodata",
                "warning",
                f"The image has a {collar['colour']} border that is not marked as empty, so maps "
                f"show a {collar['colour']} frame around it and over the images beneath.",
                collar,
                fixable=True,
            )
        )
    return found


def collar_of(data: np.ndarray, mask: np.ndarray) -> dict[str, Any] | None:
    """A black or white collar on display pixels ``data`` (bands, rows, cols; uint8) of an
    overview whose ``mask`` (rows, cols; 255 valid) marks nothing empty: ``{colour, value,
    edge_fraction}`` when at least :data:`COLLAR_FRACTION` of the edge pixels are all black
    (or all white), else ``None``."""
    if mask.size == 0 or mask.min() < 255 or data.shape[1] < 3 or data.shape[2] < 3:
        return None
    edge = np.concatenate([data[:, 0, :], data[:, -1, :], data[:, 1:-1, 0], data[:, 1:-1, -1]], axis=1)
    for colour, value, hits in (
        ("black", 0, (edge <= BLACK).all(axis=0)),
        ("white", 255, (edge >= WHITE).all(axis=0)),
    ):
        fraction = float(hits.mean())
        if fraction >= COLLAR_FRACTION:
            return {"colour": colour, "value": value, "edge_fraction": round(fraction, 3)}
    return None


# -- layout and overviews ------------------------------------------------------------------


def layout_findings(s: Structure, cog: Sequence[str], external_ovr: bool) -> list[Finding]:
    """The note on the layout, and one finding per broken COG rule (codes of
    :data:`~oam_preview.tiler.structure.COG_RULES`) and a missing ghost area."""
    big = s.width > COG_SIZE or s.height > COG_SIZE
    evidence = {
        "tiled": s.tiled,
        "block": [s.block[1], s.block[0]],
        "compression": s.compression,
        "predictor": s.predictor,
        "interleave": s.interleave,
        "bigtiff": s.bigtiff,
        "ifd_offsets": [level.ifd_offset for level in s.levels],
        "first_block_offsets": [level.data_offset for level in s.levels],
        "header_bytes": s.header_span,
        "cog": not cog,
    }
    found = [
        Finding(
            "layout",
            "ok",
            "The file is a cloud-optimized GeoTIFF."
            if not cog
            else "The file is not a cloud-optimized GeoTIFF.",
            evidence,
        )
    ]
    sentences = {
        "external_overviews": "The reduced-size copies (overviews) are in a separate .ovr file: map "
        "tiles cannot use them, so zoomed-out views read the full image.",
        "stripped": f"The file is stored in rows across the whole image ({s.block[1]}×{s.block[0]} "
        "px strips), not in tiles: showing any small area downloads whole rows.",
        "header_not_first": f"The file's table of contents is not at its start: a reader must fetch "
        f"{s.header_span:,} bytes into the file before it can show any pixel.",
        "edited_after_creation": "The file was changed after it was written as a cloud-optimized "
        "GeoTIFF, and its layout may no longer be what readers expect.",
        "parts_out_of_order": "The file's levels are not stored in the order readers expect "
        "(smallest overview first, full resolution last), so reads fetch more and jump further.",
    }
    for code in cog:
        if code == "external_overviews" and not external_ovr:
            continue
        found.append(Finding(code, "warning", sentences[code], evidence, fixable=True))
    if s.ghost is None and not cog and big:
        found.append(
            Finding(
                "ghost_area_missing",
                "ok",
                "The file is laid out as a cloud-optimized GeoTIFF but does not say so (no GDAL "
                "structural metadata); readers read it well all the same.",
                {},
            )
        )
    return found


def overview_findings(
    s: Structure, external_ovr: bool, thumbnail_bytes: int, max_read_bytes: float
) -> list[Finding]:
    """The note on the overviews; none where needed, too few, or a thumbnail over the read budget."""
    sizes = [[level.width, level.height] for level in s.levels]
    smallest = sizes[-1]
    evidence = {
        "count": len(s.overviews),
        "factors": list(s.overviews),
        "smallest": smallest,
        "thumbnail_read_bytes": thumbnail_bytes,
    }
    found = [
        Finding(
            "overviews",
            "ok",
            f"{len(s.overviews)} internal overview(s), the smallest {smallest[0]}×{smallest[1]} px.",
            evidence,
        )
    ]
    big = s.width > COG_SIZE or s.height > COG_SIZE
    if thumbnail_bytes > max_read_bytes:
        found.append(
            Finding(
                "too_large",
                "error",
                f"A thumbnail needs about {thumbnail_bytes / 1e6:.0f} MB read at full resolution, more "
                f"than this server reads for one request ({max_read_bytes / 1e6:.0f} MB): it shows no "
                "thumbnail and no zoomed-out tiles.",
                evidence,
                fixable=True,
            )
        )
    if big and not s.overviews and not external_ovr:
        found.append(
            Finding(
                "no_overviews",
                "warning",
                "The file has no reduced-size copies (overviews): every thumbnail and zoomed-out "
                f"view reads the full {s.width}×{s.height} px image.",
                evidence,
                fixable=True,
            )
        )
    elif s.overviews and max(smallest) > SMALLEST_LEVEL:
        found.append(
            Finding(
                "few_overviews",
                "warning",
                f"The smallest overview is still {smallest[0]}×{smallest[1]} px: a thumbnail reads "
                "far more than it shows.",
                evidence,
                fixable=True,
            )
        )
    return found


# -- georeference --------------------------------------------------------------------------


def sidecar_georeference(found: Mapping[str, bytes | None]) -> dict[str, Any]:
    """What the sidecars ``found`` (suffix -> first bytes, ``None`` absent) would tell GDAL of
    where the image lies: ``{"transform": suffix, "crs": name}`` for those that give one."""
    told: dict[str, Any] = {}
    tfw = found.get(".tfw")
    if tfw is not None and _world_file(tfw):
        told["transform"] = ".tfw"
    aux = (found.get(".aux.xml") or b"").decode("utf-8", "replace")
    if re.search(r"<GeoTransform>[^<]+</GeoTransform>", aux):
        told.setdefault("transform", ".aux.xml")
    srs = re.search(r"<SRS[^>]*>([^<]+)</SRS>", aux)
    for source, text in (
        (".aux.xml", srs.group(1) if srs else ""),
        (".prj", (found.get(".prj") or b"").decode("utf-8", "replace")),
    ):
        name = _crs_name(text)
        if name is not None and "crs" not in told:
            told["crs"], told["crs_from"] = name, source
    return told


def _world_file(data: bytes) -> bool:
    lines = data.decode("ascii", "replace").split()
    try:
        return len(lines) >= 6 and all(math.isfinite(float(v)) for v in lines[:6])
    except ValueError:
        return False


def _crs_name(text: str) -> str | None:
    import html

    text = html.unescape(text).strip()
    if not text:
        return None
    try:
        crs = CRS.from_user_input(text)
    except Exception:  # not a CRS GDAL knows: no answer
        return None
    return crs.to_string()


def georeference_findings(s: Structure, found: Mapping[str, bytes | None]) -> list[Finding]:
    """The note on the georeference and sidecars; none, sidecar-only, GCPs only."""
    present = sorted(k for k, v in found.items() if v is not None)
    from_sidecars = sidecar_georeference(found)
    evidence = {
        "crs": s.crs,
        "georeference": s.georeference,
        "sidecars": {k: SIDECAR_USE[k] for k in present},
    }
    if s.georeference is None:
        if "transform" in from_sidecars:
            return [
                Finding(
                    "georeference_in_sidecar",
                    "error",
                    f"Where the image lies is written only in the {from_sidecars['transform']} file "
                    "beside it: desktop GIS reads it, but this server (like most web servers) reads the "
                    "GeoTIFF alone, so the image has no place on the map.",
                    {**evidence, "from_sidecars": from_sidecars},
                    fixable=True,
                )
            ]
        return [
            Finding(
                "not_georeferenced",
                "error",
                "The file does not say where on Earth it lies (no coordinate system, no position): "
                "it can have a thumbnail but no place on the map.",
                evidence,
            )
        ]
    found_list = [Finding("georeference", "ok", f"Placed on the map in {s.crs}.", evidence)]
    if s.georeference == "gcps":
        found_list.append(
            Finding(
                "gcps_only",
                "warning",
                "The image is placed by ground control points only: this server fits a straight grid "
                "to them, which may put it metres away from where a GIS warps it.",
                evidence,
                fixable=True,
            )
        )
    return found_list


def _number(value: float | None) -> float | str | None:
    """A JSON-safe number (NaN and infinities as strings)."""
    if value is None:
        return None
    return value if math.isfinite(value) else str(value)
