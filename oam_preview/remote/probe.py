"""What a file's host says of it, asked directly: one ranged GET for the file, one for each sidecar.

The health report (:mod:`oam_preview.tiler.checkup`) starts here, before GDAL opens
anything: :func:`probe` sends one ``GET`` with ``Range: bytes=0-1023`` and reads the
answer's status, headers and first bytes (the TIFF header and GDAL's ghost area);
:func:`sidecars` asks for the files GDAL would look for beside it (``.tfw``, ``.prj``,
``.aux.xml``, ``.ovr``), the first 64 KiB of each. Every request goes through the upstream
policy's ``urlopen`` (each redirect hop checked) within the given timeout (seconds). A
local path is read from the disk, with the same answers.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import OamPreviewError, UpstreamError, UpstreamTimeout
from .policy import upstream_kind

#: Bytes asked of the file by :func:`probe`: the TIFF header, the first IFD's offset and GDAL's
#: ghost area (about 200 bytes after the header) fit in it.
PROBE_BYTES = 1024
#: Bytes read of each sidecar: a world file or a .prj is a few hundred bytes, an .aux.xml a few KB.
SIDECAR_BYTES = 64 * 1024
#: The sidecars GDAL reads beside a GeoTIFF, by how their name is made from the file's:
#: ``replace`` the extension, or ``append`` to the whole name.
SIDECARS = ((".tfw", "replace"), (".prj", "replace"), (".aux.xml", "append"), (".ovr", "append"))
#: HTTP statuses that say a sidecar is not there.
ABSENT = (403, 404, 410)

Urlopen = Callable[..., Any]


@dataclass(frozen=True)
class Reachability:
    """The answer to :func:`probe`: ``status`` (206 when ``Range`` was honoured; 0 for a local
    path), the file's ``length`` in bytes when told, its ``etag`` and ``last_modified``, the
    ``final_url`` after redirects, ``round_trip`` seconds until the answer's headers came, and
    ``head``, the file's first bytes (at most :data:`PROBE_BYTES`)."""

    status: int
    range_supported: bool
    length: int | None
    etag: str | None
    last_modified: str | None
    final_url: str
    round_trip: float
    head: bytes

    @property
    def redirected(self) -> bool:
        """Whether the answer came from another URL (``final_url``) than the one asked."""
        return bool(self.final_url)


def probe(url: str, timeout: float, urlopen: Urlopen = urllib.request.urlopen) -> Reachability:
    """Ask ``url``'s host for its first :data:`PROBE_BYTES` bytes (one request; a local path is
    read from the disk). Raises the API error a failure amounts to (HTTP status, timeout,
    unreachable host); an answer that ignores ``Range`` is read no further than those bytes."""
    if upstream_kind(url) != "http":
        path = Path(url.removeprefix("file://"))
        try:
            with path.open("rb") as file:
                head = file.read(PROBE_BYTES)
            length = path.stat().st_size
        except OSError as exc:
            raise UpstreamError(f"the file cannot be read ({exc.strerror or exc})") from None
        return Reachability(0, True, length, None, None, "", 0.0, head)
    request = urllib.request.Request(
        url, headers={"Range": f"bytes=0-{PROBE_BYTES - 1}", "User-Agent": "oam-preview"}
    )
    started = time.monotonic()
    try:
        with urlopen(request, timeout=timeout) as response:  # a catalog URL or the operator's
            round_trip = time.monotonic() - started
            head = response.read(PROBE_BYTES)
            headers, status, final = response.headers, response.status, response.geturl()
    except urllib.error.HTTPError as exc:
        raise UpstreamError.http(exc.code) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise _failure(exc) from None
    return Reachability(
        status=status,
        range_supported=status == 206,
        length=_length(headers),
        etag=headers.get("ETag"),
        last_modified=headers.get("Last-Modified"),
        final_url=final if final != url else "",
        round_trip=round_trip,
        head=head,
    )


def _failure(exc: BaseException) -> OamPreviewError:
    if isinstance(exc, TimeoutError) or isinstance(getattr(exc, "reason", None), TimeoutError):
        return UpstreamTimeout.no_answer()
    return UpstreamError.unreachable_host()


def _length(headers: Any) -> int | None:
    """The whole file's length from ``Content-Range: bytes a-b/N`` (or ``Content-Length`` of a 200)."""
    total = (headers.get("Content-Range") or "").rpartition("/")[2]
    if total.isdigit():
        return int(total)
    length = headers.get("Content-Length")
    return int(length) if length and length.isdigit() and not headers.get("Content-Range") else None


def sidecar_location(url: str, suffix: str, how: str) -> str:
    """The URL (or path) of ``url``'s sidecar ``suffix``: its name's extension replaced, or the
    suffix appended; a URL's query string (a signature) stays as it is."""
    parts = urllib.parse.urlsplit(url) if upstream_kind(url) == "http" else None
    path = parts.path if parts is not None else url
    if how == "replace":
        slash = path.rfind("/")
        dot = path.rfind(".")
        path = (path[:dot] if dot > slash else path) + suffix
    else:
        path = path + suffix
    return urllib.parse.urlunsplit(parts._replace(path=path)) if parts is not None else path


def sidecars(url: str, timeout: float, urlopen: Urlopen = urllib.request.urlopen) -> dict[str, bytes | None]:
    """The sidecars of :data:`SIDECARS` beside ``url``: their first :data:`SIDECAR_BYTES` bytes,
    ``None`` for one that is not there (one request each). A failure that says nothing of the
    sidecar (a timeout, a 5xx) raises, as :func:`probe`."""
    found: dict[str, bytes | None] = {}
    for suffix, how in SIDECARS:
        found[suffix] = _sidecar(sidecar_location(url, suffix, how), timeout, urlopen)
    return found


def _sidecar(location: str, timeout: float, urlopen: Urlopen) -> bytes | None:
    if upstream_kind(location) != "http":
        try:
            with Path(location.removeprefix("file://")).open("rb") as file:
                return file.read(SIDECAR_BYTES)
        except OSError:
            return None
    request = urllib.request.Request(
        location, headers={"Range": f"bytes=0-{SIDECAR_BYTES - 1}", "User-Agent": "oam-preview"}
    )
    try:
        with urlopen(request, timeout=timeout) as response:
            return bytes(response.read(SIDECAR_BYTES))
    except urllib.error.HTTPError as exc:
        if exc.code in ABSENT or exc.code == 416:  # 416: an empty file, as good as none
            return None
        raise UpstreamError.http(exc.code) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise _failure(exc) from None
