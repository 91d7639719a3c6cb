"""Where an image's alignment offset comes from (API.md "Alignment offsets").

Two sources, the operator's first:

- the operator's offsets file, ``OAM_PREVIEW_OFFSETS``: JSON ``{"<image id>":
  {"dx": metres east, "dy": metres north}, ...}``, read again when it changes
  (its modification time or size, looked at most once a second); a file that
  cannot be read or parsed keeps the last good offsets, and says so in the log;
- the catalog record's property :data:`RECORD_PROPERTY`, the same ``{"dx", "dy"}``.

A malformed offset (not numbers, not finite, over 1 km) is ignored, logged once.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Mapping
from typing import Any

from ..geo.alignment import Offset
from .model import Image

log = logging.getLogger(__name__)

#: The catalog record's property that holds an image's offset: ``{"dx": m east, "dy": m north}``.
RECORD_PROPERTY = "alignment_offset"
#: Seconds between looks at the offsets file's modification time.
RECHECK_SECONDS = 1.0


def parse_offset(value: Any, source: str) -> Offset:
    """``{"dx": number, "dy": number}`` (metres) as an :class:`Offset`; ``ValueError`` otherwise."""
    if not isinstance(value, Mapping):
        raise ValueError("an offset is an object {dx, dy}")
    numbers = []
    for name in ("dx", "dy"):
        raw = value.get(name, 0)
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise ValueError(f"offset {name} is not a number of metres")
        numbers.append(float(raw))
    return Offset(numbers[0], numbers[1], source)


def record_offset(image: Image) -> Offset | None:
    """The offset the catalog record gives, if any and valid."""
    value = image.properties.get(RECORD_PROPERTY)
    if value is None:
        return None
    try:
        return parse_offset(value, "catalog")
    except ValueError as exc:
        log.debug("image %s: %s %r ignored: %s", image.id, RECORD_PROPERTY, value, exc)
        return None


class OperatorOffsets:
    """The offsets file at ``path`` (``""``: none), read again when it changes."""

    def __init__(self, path: str, recheck: float = RECHECK_SECONDS) -> None:
        self.path = path
        self.recheck = recheck  # seconds between looks at the file's modification time
        self._offsets: dict[str, Offset] = {}
        self._stamp: tuple[int, int] | None = None
        self._checked = -float("inf")
        self._lock = threading.Lock()

    def get(self, image_id: str) -> Offset | None:
        if not self.path:
            return None
        self._refresh()
        return self._offsets.get(image_id)

    def _refresh(self) -> None:
        now = time.monotonic()
        if now - self._checked < self.recheck:
            return
        with self._lock:
            if now - self._checked < self.recheck:
                return
            first = self._checked == -float("inf")
            self._checked = now
            try:
                stat = os.stat(self.path)
            except OSError as exc:
                if first or self._stamp is not None:  # once, not every second
                    log.warning("offsets file %s: %s", self.path, exc)
                self._stamp, self._offsets = None, {}
                return
            stamp = (stat.st_mtime_ns, stat.st_size)
            if stamp == self._stamp:
                return
            try:
                self._offsets = read_offsets(self.path)
            except (OSError, ValueError) as exc:
                log.warning("offsets file %s: %s; the last good offsets are kept", self.path, exc)
            self._stamp = stamp


def read_offsets(path: str) -> dict[str, Offset]:
    """The offsets of the file at ``path``; entries that are not offsets are logged and left out."""
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    if not isinstance(doc, dict):
        raise ValueError("the offsets file is not a JSON object {image id: {dx, dy}}")
    offsets = {}
    for image_id, value in doc.items():
        try:
            offsets[str(image_id)] = parse_offset(value, "operator")
        except ValueError as exc:
            log.warning("offsets file %s: %r: %s", path, image_id, exc)
    return offsets


def offset_of(image: Image, operator: OperatorOffsets) -> Offset | None:
    """The offset of ``image``: the operator's, else its record's, else ``None``. A zero offset
    is ``None``: nothing moves."""
    found = operator.get(image.id) or record_offset(image)
    return found if found is not None and (found.dx or found.dy) else None
