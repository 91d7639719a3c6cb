"""Private and embargoed images: the record's ``private`` and ``embargo_until`` properties.

An image is *private* while its record says ``"private": true``, or while its ``embargo_until``
(an ISO 8601 date or datetime, UTC when no offset is given) is in the future: then it is left out
of every selection (the listing, footprints, feeds, the mosaic, exports) and only a request the
operator's access rules allow reaches it (:mod:`oam_preview.web.access`). The embargo's end makes
it public with no restart: the question is asked at :func:`now`, the one clock of the rule.

The operator's credential profile covering an image's href may mark it too (``OAM_PREVIEW_SOURCES``,
:meth:`oam_preview.remote.profiles.Sources.marks_for`): :func:`marked` folds such marks into the
image's properties when its catalog is made current, the stricter of the two winning, so the rule
here reads one place whichever said it; the record's own values are kept beside them
(``Image.record_privacy``), so marking again with a profile whose mark was removed takes it off.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any

from ..remote.profiles import MARK_KEYS  # the properties a record or a profile marks with
from .model import Image

#: ``marks(href)``: the privacy marks (``private``, ``embargo_until``) given from outside the record
#: to the image whose pixels are at ``href`` (an operator's profile's); ``{}``: none.
Marks = Callable[[str], Mapping[str, Any]]


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


def unmarked(image: Image) -> Image:
    """``image`` as its record said it, without the marks an operator's profile gave it."""
    if image.record_privacy is None:
        return image
    properties = {k: v for k, v in image.properties.items() if k not in MARK_KEYS}
    properties.update(image.record_privacy)
    return dataclasses.replace(image, properties=properties, record_privacy=None)


def marked(image: Image, marks: Mapping[str, Any]) -> Image:
    """``image`` as if its record also said ``marks`` (and no earlier marks: a mark taken off the
    operator's profile is gone): private when either says so, embargoed until the later of the
    two embargoes (a value that is no date counts as the latest: it keeps the image private).
    ``image`` itself when that changes nothing (so marking twice is marking once)."""
    record = unmarked(image)
    properties = dict(record.properties)
    if marks.get("private") is True:
        properties["private"] = True
    given = marks.get("embargo_until")
    given_end = embargo_end(given)
    if given_end is not None:
        own_end = embargo_end(properties.get("embargo_until"))
        if own_end is None or given_end > own_end:
            properties["embargo_until"] = given
    if properties == record.properties:
        result = record
    else:
        own = {k: record.properties[k] for k in MARK_KEYS if k in record.properties}
        result = dataclasses.replace(record, properties=properties, record_privacy=own)
    if result.properties == image.properties and result.record_privacy == image.record_privacy:
        return image
    return result


def group_of(image: Image) -> str | None:
    """The record's ``group`` (a partner, a project): what an API token may be scoped to."""
    group = image.properties.get("group")
    return group if isinstance(group, str) and group else None
