"""Which catalog images a request selects, and in what order: one value the listing and the
mosaic both read.

:meth:`ImageQuery.from_args` parses API.md's query parameters (``bbox``, ``q``,
``acquired_after``/``_before``, ``ids``, ``gsd_min``/``gsd_max``, ``platform``,
``order``) and raises :class:`~oam_preview.errors.BadRequest` with a message
for a person; :meth:`Catalog.select <oam_preview.catalog.search.Catalog.select>`
applies it. :func:`page_from_args` parses ``limit``/``offset`` of a listing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from ..errors import BadRequest
from ..geo.geometry import BBox
from .model import ID_PATTERN
from .records import parse_datetime

#: Orders API.md names; ``catalog`` keeps the catalog's order (or that of ``ids``).
ORDERS = ("catalog", "newest", "oldest", "best")
MAX_IDS = 1000
MAX_Q = 500
MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
MAX_OFFSET = 10**9
_INT = re.compile(r"^\d{1,10}$")


@dataclass(frozen=True)
class ImageQuery:
    """A selection of catalog images and their order.

    ``bbox`` is (west, south, east, north) in EPSG:4326 degrees (west > east
    crosses the antimeridian); dates are aware UTC and match by overlap;
    ``gsd_min``/``gsd_max`` are metres, inclusive; ``platform`` is lower case.
    ``ids`` is ``None`` for "any id", else the ids in the order given.
    """

    bbox: BBox | None = None
    q: str | None = None
    acquired_after: datetime | None = None
    acquired_before: datetime | None = None
    ids: tuple[str, ...] | None = None
    gsd_min: float | None = None
    gsd_max: float | None = None
    platform: str | None = None
    order: str = "catalog"

    def __post_init__(self) -> None:
        if self.order not in ORDERS:
            raise ValueError(f"order {self.order!r} is not one of {ORDERS}")

    @classmethod
    def from_args(cls, args: Mapping[str, str], default_order: str = "catalog") -> ImageQuery:
        """The query of a request's arguments; ``BadRequest`` naming the bad value.

        ``default_order`` is the order when none is asked (the mosaic's is ``newest``).
        """
        after = parse_date(args, "acquired_after", end_of_day=False)
        before = parse_date(args, "acquired_before", end_of_day=True)
        if after and before and after > before:
            raise BadRequest("acquired_after is later than acquired_before")
        q = args.get("q") or None
        if q is not None and len(q) > MAX_Q:
            raise BadRequest(f"q is longer than {MAX_Q} characters")
        gsd_min = parse_gsd(args, "gsd_min")
        gsd_max = parse_gsd(args, "gsd_max")
        if gsd_min is not None and gsd_max is not None and gsd_min > gsd_max:
            raise BadRequest("gsd_min is larger than gsd_max")
        platform = (args.get("platform") or "").strip().lower() or None
        if platform is not None and len(platform) > 100:
            raise BadRequest("platform is longer than 100 characters")
        order = args.get("order") or default_order
        if order not in ORDERS:
            raise BadRequest(f"order must be one of {', '.join(ORDERS)}, not {order[:40]!r}")
        return cls(
            bbox=parse_bbox(args),
            q=q,
            acquired_after=after,
            acquired_before=before,
            ids=parse_ids(args),
            gsd_min=gsd_min,
            gsd_max=gsd_max,
            platform=platform,
            order=order,
        )

    @classmethod
    def from_values(
        cls, values: Mapping[str, str | int | float], default_order: str = "catalog"
    ) -> ImageQuery:
        """The query of plain values, a JSON object's strings and numbers (``{"gsd_max": 1}``), as
        :meth:`from_args` reads their text."""
        return cls.from_args({str(k): str(v) for k, v in values.items()}, default_order)

    def to_args(self) -> dict[str, str]:
        """The query as request arguments, in a canonical form: what is set, ``order`` always,
        dates in UTC, sorted by name. ``ImageQuery.from_args(q.to_args()) == q``."""
        args: dict[str, str] = {"order": self.order}
        if self.bbox is not None:
            args["bbox"] = ",".join(repr(v) for v in self.bbox)
        if self.q is not None:
            args["q"] = self.q
        for name in ("acquired_after", "acquired_before"):
            value: datetime | None = getattr(self, name)
            if value is not None:
                args[name] = value.astimezone(UTC).isoformat().replace("+00:00", "Z")
        if self.ids is not None:
            args["ids"] = ",".join(self.ids)
        for name in ("gsd_min", "gsd_max"):
            if getattr(self, name) is not None:
                args[name] = repr(getattr(self, name))
        if self.platform is not None:
            args["platform"] = self.platform
        return dict(sorted(args.items()))


#: The query that selects every image in catalog order.
EVERYTHING = ImageQuery()


def page_from_args(args: Mapping[str, str]) -> tuple[int, int]:
    """``(limit, offset)`` of a listing request; ``limit`` > 1000 is a 400, not capped (API.md)."""
    return (
        parse_int(args, "limit", DEFAULT_LIMIT, 0, MAX_LIMIT),
        parse_int(args, "offset", 0, 0, MAX_OFFSET),
    )


def parse_int(args: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    """A whole number from ``low`` to ``high``; ``default`` when absent or empty."""
    raw = args.get(name)
    if raw is None or raw == "":
        return default
    if not _INT.match(raw):
        raise BadRequest(f"{name} must be a whole number from {low} to {high}, not {raw[:40]!r}")
    value = int(raw)
    if not low <= value <= high:
        raise BadRequest(f"{name} must be from {low} to {high}, not {value}")
    return value


def parse_bbox(args: Mapping[str, str]) -> BBox | None:
    """``bbox=west,south,east,north`` in degrees (EPSG:4326)."""
    raw = args.get("bbox")
    if raw is None or raw == "":
        return None
    try:
        values = [float(p) for p in raw.split(",")]
    except ValueError:
        values = []
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise BadRequest("bbox must be west,south,east,north in degrees (EPSG:4326)")
    w, s, e, n = values
    if not (-180 <= w <= 180 and -180 <= e <= 180 and -90 <= s <= n <= 90):
        raise BadRequest("bbox must have -180 <= west, east <= 180 and -90 <= south <= north <= 90")
    return (w, s, e, n)


def parse_date(args: Mapping[str, str], name: str, end_of_day: bool) -> datetime | None:
    """An ISO 8601 date or datetime (UTC if naive); a bare date covers its whole day."""
    raw = args.get(name)
    if raw is None or raw == "":
        return None
    text = raw.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime.combine(day, time.max if end_of_day else time.min, tzinfo=UTC)
        return parse_datetime(text)
    except ValueError:
        raise BadRequest(f"{name} must be an ISO 8601 date or datetime, not {raw[:40]!r}") from None


def parse_ids(args: Mapping[str, str]) -> tuple[str, ...] | None:
    """``ids=a,b,c``: at most 1000 ids of API.md's alphabet, repeats dropped, order kept."""
    raw = args.get("ids")
    if raw is None or raw.strip() == "":
        return None
    ids = [part.strip() for part in raw.split(",") if part.strip()]
    if len(ids) > MAX_IDS:
        raise BadRequest(f"ids names {len(ids)} images; at most {MAX_IDS} are allowed")
    for image_id in ids:
        if not ID_PATTERN.match(image_id):
            raise BadRequest(f"ids: {image_id[:40]!r} is not an image id")
    return tuple(dict.fromkeys(ids))


def parse_gsd(args: Mapping[str, str], name: str) -> float | None:
    """A ground sample distance bound: a finite number of metres >= 0."""
    raw = args.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise BadRequest(f"{name} must be a number of metres >= 0, not {raw[:40]!r}")
    return value
