"""What a failed remote read means: GDAL's messages, and one 8-byte probe, mapped to API.md's errors.

GDAL reports a refused connection, an HTTP error and an HTML page alike; a
slow read often only as a short read. :func:`classify` reads its messages,
:func:`diagnose` asks the server directly when a message cannot tell.
"""

from __future__ import annotations

import contextlib
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

from rasterio._err import CPLE_BaseError
from rasterio.errors import RasterioError

from ..errors import OamPreviewError, UpstreamError, UpstreamForbidden, UpstreamTimeout
from .policy import upstream_kind

#: What GDAL raises through rasterio. Some reads (masks, warped reads) raise rasterio's
#: ``CPLE_*`` errors directly, which are neither RasterioError nor OSError.
GDAL_ERRORS = (RasterioError, OSError, CPLE_BaseError)

# GDAL's messages, in one place (lower case; matched as substrings of lower-cased messages).
#: The connection to the host failed: nothing was read.
UNREACHABLE = (
    "couldn't connect",
    "failed to connect",
    "connection refused",
    "connection reset",
    "recv failure",
    "empty reply",
    "could not resolve",
    "send failure",
    "socks5 connection",  # the egress relay could not reach the server (see oam_preview.remote.egress)
)
#: The egress relay refused the connection by the upstream policy (SOCKS5 code 2).
REFUSED_BY_POLICY = "socks5 connection to"
#: The file is there but is not a GeoTIFF: a definite "no".
NOT_GEOTIFF = (
    "not recognized as",
    "not a tiff",
    "not a supported file format",
    "tiffreaddirectory",
    "cannot read tiff header",
)
#: What GDAL says of a /vsicurl/ file it could not stat: answered as "not a GeoTIFF" too.
NO_FILE = "does not exist in the file system"


def classify(message: str, slow: bool = False) -> OamPreviewError:
    """Map a GDAL/rasterio error message about a remote file to an API error.

    ``slow``: the failing read took the whole upstream timeout. GDAL then often
    reports only a short read ("got N bytes, expected M"), which is a timeout,
    not a corrupt file.
    """
    text = message.lower()
    if "timeout was reached" in text or "timed out" in text or "operation too slow" in text:
        return UpstreamTimeout.no_answer()
    if REFUSED_BY_POLICY in text and ". (2)" in text:
        return UpstreamForbidden.refused()
    code = _http_status(text)
    if code is not None and code >= 400:
        return UpstreamError.http(code)
    if code is not None:  # a success status, then a failed transfer
        return UpstreamError.broken_transfer()
    if any(needle in text for needle in UNREACHABLE):
        return UpstreamError.unreachable_host()
    if NO_FILE in text or any(needle in text for needle in NOT_GEOTIFF):
        return UpstreamError.not_geotiff()
    if slow:
        return UpstreamTimeout("the server holding the GeoTIFF did not send the pixel data in time")
    return UpstreamError.undecodable(message)


def _http_status(text: str) -> int | None:
    marker = "http response code: "
    at = text.find(marker)
    if at < 0:
        return None
    digits = "".join(c for c in text[at + len(marker) : at + len(marker) + 3] if c.isdigit())
    return int(digits) if digits else None


@contextlib.contextmanager
def upstream_errors(timeout: float | None = None) -> Iterator[None]:
    """Turn rasterio/GDAL exceptions raised inside the block into API errors.

    ``timeout`` (seconds): a block that fails after at least that long failed by slowness.
    """
    started = time.monotonic()
    try:
        yield
    except OamPreviewError:
        raise
    except GDAL_ERRORS as exc:
        slow = timeout is not None and time.monotonic() - started >= timeout
        raise classify(chained_message(exc), slow) from exc


def chained_message(exc: BaseException) -> str:
    """``exc``'s message and its causes': rasterio says "Read failed. See previous exception"
    and leaves GDAL's reason (a timeout, an HTTP status) in the chained exception."""
    messages: list[str] = []
    current: BaseException | None = exc
    while current is not None and len(messages) < 5:
        messages.append(str(current))
        current = current.__cause__ or current.__context__
    return " / ".join(reversed(messages))


#: The first bytes of a classic TIFF and of a BigTIFF, either byte order.
TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def diagnose(
    url: str, timeout: float, urlopen: Callable[..., Any] = urllib.request.urlopen
) -> OamPreviewError | None:
    """Why GDAL could not open ``url``, asked of the server directly (8 bytes).

    GDAL reports a refused connection, an HTTP error and an HTML page alike
    ("not recognized as a supported file format"), and a server that ignores
    ``Range`` (200 and the whole file, which GDAL gives up on past a few hundred
    KB) as a file that is no GeoTIFF; one small range request tells them apart.
    ``None`` when the server looks fine.
    """
    if upstream_kind(url) != "http":  # what GDAL reads over HTTP, as the policy decides
        return None
    request = urllib.request.Request(url, headers={"Range": "bytes=0-7", "User-Agent": "oam-preview"})
    try:
        with urlopen(request, timeout=timeout) as response:  # a catalog URL, never a client's
            head = response.read(8)
            whole = response.status == 200  # the Range ignored: GDAL gave up on the file
    except urllib.error.HTTPError as exc:
        if exc.code == 416:  # not even 8 bytes to give
            return UpstreamError.not_geotiff("the file is empty")
        return UpstreamError.http(exc.code)
    except (urllib.error.URLError, OSError) as exc:
        if isinstance(exc, TimeoutError) or isinstance(getattr(exc, "reason", None), TimeoutError):
            return UpstreamTimeout.no_answer()
        return UpstreamError.unreachable_host()
    if head[:4] not in TIFF_MAGIC:
        return UpstreamError.not_geotiff("it is not a TIFF")
    if whole:
        return UpstreamError.range_ignored()
    return None
