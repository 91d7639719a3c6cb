"""Reading catalog documents, and where their hrefs lead (with the rule that keeps a remote
catalog away from local files).

``base`` is where a document came from: an http(s) URL, an absolute local
path, or ``""`` when unknown. Relative hrefs in a document are resolved
against it by :func:`resolve_href`, which also keeps a remote catalog from
pointing the server at local files.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..remote import cloud
from .records import CatalogError

log = logging.getLogger(__name__)

#: Catalog documents larger than this are refused (bytes).
MAX_DOCUMENT_BYTES = 512 * 1024 * 1024
FETCH_TIMEOUT = 30.0  # seconds, per catalog document
#: Pauses (seconds) before the retries of a page of a paged source.
RETRY_BACKOFF = (0.25, 1.0)
#: What an http(s) URL may be written with: printable ASCII (RFC 3986; anything else is
#: percent-encoded). A space, CR/LF or other control character would be a malformed request
#: line, or a header of its own, to the server holding the file.
URL_CHARACTERS = re.compile(r"^[\x21-\x7e]+$")


@dataclass(frozen=True)
class Revision:
    """What an http(s) server said of a document's version: its ``ETag`` and ``Last-Modified``."""

    etag: str | None = None
    last_modified: str | None = None

    def headers(self) -> dict[str, str]:
        """The conditional request headers that ask "only if it changed"."""
        out = {}
        if self.etag:
            out["If-None-Match"] = self.etag
        if self.last_modified:
            out["If-Modified-Since"] = self.last_modified
        return out


@dataclass(frozen=True)
class Fetched:
    """A fetched document: its text (``None`` when a conditional request got a 304) and revision."""

    text: str | None
    revision: Revision | None = None


class FetchError(CatalogError):
    """A document that could not be fetched; ``retryable`` when trying again may help
    (no answer, a 5xx, 408 or 429), not for a 404 or an expired paging token."""

    def __init__(self, message: str, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


def fetch_text(src: str) -> str:
    """Read a catalog document from a local path or an http(s) URL."""
    text = fetch(src).text
    assert text is not None  # only a conditional request is answered without a body
    return text


def fetch(
    src: str,
    *,
    method: str = "GET",
    body: Any = None,
    revision: Revision | None = None,
) -> Fetched:
    """Read a document from a local path or an http(s) URL.

    Over http(s), ``body`` (sent as JSON, for a ``POST``) and ``revision`` (asks
    for the document only if it changed: a ``304`` gives ``Fetched(None)``) apply.
    :class:`FetchError` when it cannot be read.
    """
    scheme = urllib.parse.urlsplit(src).scheme.lower()
    if scheme in ("http", "https"):
        return _fetch_http(src, method, body, revision)
    if scheme in ("", "file") or len(scheme) == 1:  # one letter: a Windows drive
        path = Path(file_url_path(src) if scheme == "file" else src)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise FetchError(f"cannot read catalog {src}: {exc}", retryable=False) from None
        return Fetched(decode_document(src, data))
    raise CatalogError(f"catalog source {src!r}: only local paths and http(s) URLs are read")


def _fetch_http(src: str, method: str, body: Any, revision: Revision | None) -> Fetched:
    headers = {"User-Agent": "oam-preview", "Accept": "application/json, */*;q=0.5"}
    data = None
    if body is not None:
        data = json.dumps(body).encode("utf-8")
        headers["Content-Type"] = "application/json"
    if revision is not None:
        headers.update(revision.headers())
    request = urllib.request.Request(src, data=data, headers=headers, method=method)
    try:
        # Redirects are followed by urllib to http(s) only (it refuses file: and others).
        with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT) as response:  # noqa: S310
            payload = response.read(MAX_DOCUMENT_BYTES + 1)
            got = Revision(response.headers.get("ETag"), response.headers.get("Last-Modified"))
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 304:
            return Fetched(None, revision)
        retryable = exc.code >= 500 or exc.code in (408, 429)
        raise FetchError(f"cannot fetch catalog {src}: {exc}", retryable) from None
    except (OSError, http.client.HTTPException) as exc:
        raise FetchError(f"cannot fetch catalog {src}: {exc}", retryable=True) from None
    return Fetched(decode_document(src, payload), got if got.etag or got.last_modified else None)


def fetch_json_retrying(
    src: str,
    what: str,
    *,
    method: str = "GET",
    body: Any = None,
    backoff: tuple[float, ...] = RETRY_BACKOFF,
) -> Any:
    """A JSON document of a paged source, tried again after each pause of ``backoff`` (seconds)
    while the failure is retryable: a long paging should survive a blip, and fail clearly
    (:class:`CatalogError` naming ``what``) when it is more than that."""
    for attempt in range(len(backoff) + 1):
        try:
            return json.loads(_required_text(fetch(src, method=method, body=body)))
        except FetchError as exc:
            if not exc.retryable or attempt == len(backoff):
                raise CatalogError(f"{what} ({src}): {exc}") from None
            log.warning("catalog: retrying %s of %s in %.2g s: %s", what, src, backoff[attempt], exc)
            time.sleep(backoff[attempt])
        except json.JSONDecodeError as exc:
            raise CatalogError(f"{what} ({src}) is not JSON: {exc}") from None
    raise AssertionError("unreachable")


def _required_text(fetched: Fetched) -> str:
    assert fetched.text is not None
    return fetched.text


def decode_document(src: str, data: bytes) -> str:
    """The text of a fetched document; ``CatalogError`` when too large or not UTF-8."""
    if len(data) > MAX_DOCUMENT_BYTES:
        raise CatalogError(f"catalog {src} is larger than {MAX_DOCUMENT_BYTES} bytes")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CatalogError(f"catalog {src} is not UTF-8 text") from None


def is_url(value: Any) -> bool:
    """Whether ``value`` is an http(s) URL."""
    return isinstance(value, str) and urllib.parse.urlsplit(value).scheme in ("http", "https")


def file_url_path(url: str) -> str:
    """The local path of a ``file:`` URL."""
    return urllib.request.url2pathname(urllib.parse.urlsplit(url).path)


def document_base(src: str) -> str:
    """The ``base`` of a source: the URL itself, or the absolute local path."""
    if is_url(src):
        return src
    if urllib.parse.urlsplit(src).scheme.lower() == "file":
        return str(Path(file_url_path(src)).resolve())
    return str(Path(src).resolve())


def resolve_href(base: str, href: Any) -> str:
    """An href of a catalog document as something to read: an http(s) URL or a local path.

    Relative hrefs are resolved against ``base`` (see the module docstring);
    without a base they are kept as given. A cloud object (``s3://``, ``gs://``,
    ``az://`` bucket and key) is kept as it is, canonical: the reader decides how to reach it
    (the operator's profiles, else its public URL: :mod:`oam_preview.remote.profiles`).
    A document read over http(s) may only point at http(s) URLs or cloud objects: a remote
    catalog must never make the server read its local files.
    An http(s) URL must be written in printable ASCII (:data:`URL_CHARACTERS`).
    ``ValueError`` for anything else.
    """
    if not isinstance(href, str) or not href.strip():
        raise ValueError(f"href {href!r} is not a URL")
    href = href.strip()
    scheme = urllib.parse.urlsplit(href).scheme.lower()
    if scheme in ("http", "https"):
        return _well_formed(href)
    cloud_object = cloud.parse(href)
    if cloud_object is not None:
        return cloud_object.href
    if is_url(base):
        if scheme:
            raise ValueError(f"href {href!r}: a remote catalog may only link http(s) URLs")
        return _well_formed(urllib.parse.urljoin(base, href))
    if scheme == "file":
        return file_url_path(href)
    if scheme and len(scheme) != 1:  # one letter is a Windows drive
        raise ValueError(f"href {href!r}: unsupported URL scheme {scheme!r}")
    if not base or os.path.isabs(href):
        return href
    return os.path.normpath(os.path.join(os.path.dirname(base), urllib.parse.unquote(href)))


def _well_formed(url: str) -> str:
    """``url``, or ``ValueError`` when it has a character a URL is not written with."""
    if not URL_CHARACTERS.match(url):
        raise ValueError(
            f"URL {url[:200]!r} has a space, a control or a non-ASCII character (percent-encode it)"
        )
    return url


def href_file_stem(href: str) -> str:
    """The last path segment of a URL or path without its ``.tif``/``.tiff`` extension."""
    path = urllib.parse.urlsplit(href).path if is_url(href) else href
    name = urllib.parse.unquote(path.rstrip("/").replace("\\", "/").rsplit("/", 1)[-1])
    for extension in (".tiff", ".tif"):
        if name.lower().endswith(extension) and len(name) > len(extension):
            return name[: -len(extension)]
    return name
