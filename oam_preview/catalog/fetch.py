"""Reading catalog documents, and where their hrefs lead (with the rule that keeps a remote
catalog away from local files).

``base`` is where a document came from: an http(s) URL, an absolute local
path, or ``""`` when unknown. Relative hrefs in a document are resolved
against it by :func:`resolve_href`, which also keeps a remote catalog from
pointing the server at local files.
"""

from __future__ import annotations

import os
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from .records import CatalogError

#: Catalog documents larger than this are refused (bytes).
MAX_DOCUMENT_BYTES = 512 * 1024 * 1024
FETCH_TIMEOUT = 30.0  # seconds, per catalog document


def fetch_text(src: str) -> str:
    """Read a catalog document from a local path or an http(s) URL."""
    scheme = urllib.parse.urlsplit(src).scheme.lower()
    if scheme in ("http", "https"):
        request = urllib.request.Request(src, headers={"User-Agent": "oam-preview"})
        try:
            with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT) as response:
                data = response.read(MAX_DOCUMENT_BYTES + 1)
        except OSError as exc:
            raise CatalogError(f"cannot fetch catalog {src}: {exc}") from None
    elif scheme in ("", "file") or len(scheme) == 1:  # one letter: a Windows drive
        path = Path(file_url_path(src) if scheme == "file" else src)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CatalogError(f"cannot read catalog {src}: {exc}") from None
    else:
        raise CatalogError(f"catalog source {src!r}: only local paths and http(s) URLs are read")
    return decode_document(src, data)


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


def public_bucket_url(href: str) -> str | None:
    """The public https URL of an ``s3://`` or ``gs://`` object, or ``None`` for other schemes.

    OAM's processing records name their files as ``s3://oin-hotosm/…``; the
    same objects are served at ``https://oin-hotosm.s3.amazonaws.com/…``.
    """
    parts = urllib.parse.urlsplit(href)
    key = parts.path.lstrip("/")
    if not parts.netloc or not key:
        return None
    if parts.scheme == "s3":
        return f"https://{parts.netloc}.s3.amazonaws.com/{key}"
    if parts.scheme == "gs":
        return f"https://storage.googleapis.com/{parts.netloc}/{key}"
    return None


def resolve_href(base: str, href: Any) -> str:
    """An href of a catalog document as something to read: an http(s) URL or a local path.

    Relative hrefs are resolved against ``base`` (see the module docstring);
    without a base they are kept as given. ``s3://``/``gs://`` become their
    public https URLs. A document read over http(s) may only point at http(s)
    URLs: a remote catalog must never make the server read its local files.
    ``ValueError`` for anything else.
    """
    if not isinstance(href, str) or not href.strip():
        raise ValueError(f"href {href!r} is not a URL")
    href = href.strip()
    scheme = urllib.parse.urlsplit(href).scheme.lower()
    if scheme in ("http", "https"):
        return href
    bucket_url = public_bucket_url(href)
    if bucket_url is not None:
        return bucket_url
    if is_url(base):
        if scheme:
            raise ValueError(f"href {href!r}: a remote catalog may only link http(s) URLs")
        return urllib.parse.urljoin(base, href)
    if scheme == "file":
        return file_url_path(href)
    if scheme and len(scheme) != 1:  # one letter is a Windows drive
        raise ValueError(f"href {href!r}: unsupported URL scheme {scheme!r}")
    if not base or os.path.isabs(href):
        return href
    return os.path.normpath(os.path.join(os.path.dirname(base), urllib.parse.unquote(href)))


def href_file_stem(href: str) -> str:
    """The last path segment of a URL or path without its ``.tif``/``.tiff`` extension."""
    path = urllib.parse.urlsplit(href).path if is_url(href) else href
    name = urllib.parse.unquote(path.rstrip("/").replace("\\", "/").rsplit("/", 1)[-1])
    for extension in (".tiff", ".tif"):
        if name.lower().endswith(extension) and len(name) > len(extension):
            return name[: -len(extension)]
    return name
