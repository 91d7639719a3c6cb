"""Private and embargoed images: the record's ``private`` and ``embargo_until`` properties.

An image is *private* while its record says ``"private": true``, or while its ``embargo_until``
(an ISO 8601 date or datetime, UTC when no offset is given) is in the future: then it is left out
of every selection (the listing, footprints, feeds, the mosaic, exports) and only a request the
operator's access rules allow reaches it (:mod:`oam_preview.web.access`). The embargo's end makes
it public with no restart: the question is asked at :func:`now`, the one clock of the rule.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from typing import Any

from .model import Image


def now() -> float:
    """The clock of the rule, Unix seconds (a seam the tests replace)."""
    return time.time()


def embargo_end(value: Any) -> float | None:
    """``embargo_until`` as Unix seconds: a date means its first instant, UTC; ``None`` when
    absent. A value that is no date keeps the image private (a typo must not publish it)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    else:
        try:
            moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return float("inf")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def may_be_private(image: Image) -> bool:
    """Whether ``image``'s record marks it private or embargoed at all (at any time)."""
    return (
        image.properties.get("private") is True
        or embargo_end(image.properties.get("embargo_until")) is not None
    )


def private_at(image: Image, moment: float) -> bool:
    """Whether ``image`` is private at Unix time ``moment``."""
    if image.properties.get("private") is True:
        return True
    end = embargo_end(image.properties.get("embargo_until"))
    return end is not None and moment < end


def group_of(image: Image) -> str | None:
    """The record's ``group`` (a partner, a project): what an API token may be scoped to."""
    group = image.properties.get("group")
    return group if isinstance(group, str) and group else None
