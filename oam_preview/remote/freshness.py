"""Whether an upstream file changed under the same URL: one ``HEAD`` and what a worker knew of it.

Also the file's *version token*, the ``v=`` of the URLs the server emits
(:func:`version_token`): a short hash of the ETag, Last-Modified and length
that a worker last saw, so a CDN can keep ``?v=<token>`` URLs for ever and a
changed file gets new URLs.
"""

from __future__ import annotations

import email.utils
import hashlib
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import UpstreamError, UpstreamTimeout
from .diagnosis import classify
from .gdal_safety import file_headers
from .policy import upstream_kind


@dataclass
class Freshness:
    """What a worker knows of one upstream file's version."""

    generation: int = 0
    opened_at: float = field(default_factory=time.time)  # Unix time this version was first used
    checked_at: float = field(default_factory=time.monotonic)
    etag: str | None = None
    length: str | None = None
    modified_at: float | None = None  # Last-Modified of the last HEAD, Unix time
    token: str | None = None  # the version token of this version; None until a HEAD answered
    #: Set once the first HEAD is over (answered or not): concurrent first uses wait for it.
    first_head: threading.Event = field(default_factory=threading.Event, repr=False)


@dataclass(frozen=True)
class Version:
    """A worker's version of one file at one moment: ``generation`` keys what it keeps of it
    (0, 1, … as it changes), ``token`` goes into URLs (``None``: not known yet)."""

    generation: int = 0
    token: str | None = None


def version_token(url: str, etag: str | None, length: str | None, modified_at: float | None) -> str | None:
    """12 hex digits naming the version of ``url``'s content that a HEAD described (its ETag,
    Content-Length and Last-Modified as Unix time); ``None`` when the HEAD told none of them."""
    if etag is None and length is None and modified_at is None:
        return None
    seen = f"{url}\n{etag}\n{length}\n{modified_at!r}".encode()
    return hashlib.blake2b(seen, digest_size=6).hexdigest()


def head(
    url: str, timeout: float, urlopen: Callable[..., Any] = urllib.request.urlopen
) -> tuple[str | None, str | None, float | None] | None:
    """``(ETag, Content-Length, Last-Modified as Unix time)`` of ``url`` by one HEAD request
    sent with ``urlopen`` (the upstream policy's); ``None`` for a local path. A failure raises
    the API error it amounts to."""
    if upstream_kind(url) != "http":  # what GDAL reads over HTTP, as the policy decides
        return None
    request = urllib.request.Request(url, method="HEAD", headers={"User-Agent": "oam-preview"})
    try:
        with urlopen(request, timeout=timeout) as response:  # a catalog URL, never a client's
            headers = response.headers
    except urllib.error.HTTPError as exc:
        raise UpstreamError.http(exc.code) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        if isinstance(exc, TimeoutError) or isinstance(getattr(exc, "reason", None), TimeoutError):
            raise UpstreamTimeout.no_answer() from None
        raise UpstreamError.unreachable_host() from None
    modified = headers.get("Last-Modified")
    try:
        modified_at = email.utils.parsedate_to_datetime(modified).timestamp() if modified else None
    except (TypeError, ValueError):
        modified_at = None
    return headers.get("ETag"), headers.get("Content-Length"), modified_at


def cloud_head(gdal_path: str) -> tuple[str | None, str | None, float | None]:
    """:func:`head` of a cloud object, asked through GDAL (``/vsis3/…``: signed with its profile's
    credentials): its ETag, whole length (a ranged answer's ``Content-Range`` total) and
    Last-Modified. A failure raises the API error GDAL's message amounts to."""
    headers, failure = file_headers(gdal_path)
    if headers is None:
        raise classify(failure or "HTTP response code: 404")
    total = headers.get("content-range", "").rpartition("/")[2]
    length = total if total.isdigit() else headers.get("content-length")
    modified = headers.get("last-modified")
    try:
        modified_at = email.utils.parsedate_to_datetime(modified).timestamp() if modified else None
    except (TypeError, ValueError):
        modified_at = None
    return headers.get("etag"), length, modified_at


def changed(known: Freshness, etag: str | None, length: str | None, modified_at: float | None) -> bool:
    """Whether a HEAD's answer shows a new version of a file known as ``known``: a new ETag or
    length, or a Last-Modified later than the last one seen (than its first use when none was)."""
    if known.etag is not None and etag is not None and etag != known.etag:
        return True
    if known.length is not None and length is not None and length != known.length:
        return True
    if modified_at is None:
        return False
    return modified_at > (known.modified_at if known.modified_at is not None else known.opened_at)
