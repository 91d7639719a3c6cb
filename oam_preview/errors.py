"""The errors of API.md: one base class, one subclass per error slug.

Each class knows its ``code`` (the slug clients read) and its HTTP ``status``;
the blueprint turns any of them into ``{"error": {"code", "message"}}`` with
the error's ``headers`` (e.g. ``Retry-After``). The messages about upstream
servers are built here once, by the classmethods, so every path that reports
one failure says it the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

_NO_HEADERS: Mapping[str, str] = MappingProxyType({})


class OamPreviewError(Exception):
    """Base class of every error the API reports to a client."""

    code = "internal"
    status = 500

    def __init__(self, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        #: Extra response headers of this error (``Retry-After``).
        self.headers: Mapping[str, str] = headers or _NO_HEADERS

    def to_dict(self) -> dict[str, dict[str, str]]:
        return {"error": {"code": self.code, "message": self.message}}


class BadRequest(OamPreviewError):
    """A malformed path or query value (400)."""

    code, status = "bad_request", 400


class AccessDenied(OamPreviewError):
    """A private image asked with a wrong, expired or tampered signature, or an API token that
    is unknown or not scoped to it (403)."""

    code, status = "access_denied", 403


class NotFound(OamPreviewError):
    """An unknown image id or route (404)."""

    code, status = "not_found", 404


class OutsideBounds(OamPreviewError):
    """A tile entirely outside the image's bounding box (404)."""

    code, status = "outside_bounds", 404


class ZoomOutOfRange(OamPreviewError):
    """A tile zoom beyond the image's native zoom + 3 (404)."""

    code, status = "zoom_out_of_range", 404


class MethodNotAllowed(OamPreviewError):
    """A method other than GET, HEAD or OPTIONS (405)."""

    code, status = "method_not_allowed", 405


class BodyTooLarge(OamPreviewError):
    """A request body over its route's cap, sized or chunked (413): read no further than the cap."""

    code, status = "body_too_large", 413


class UriTooLong(OamPreviewError):
    """A request line over the server's limit (414; see :mod:`oam_preview.serve`)."""

    code, status = "uri_too_long", 414


class RangeNotSatisfiable(OamPreviewError):
    """A ``Range`` outside a download's bytes (416)."""

    code, status = "range_not_satisfiable", 416


class HeadersTooLarge(OamPreviewError):
    """More request header fields, or a longer one, than the server's limits (431)."""

    code, status = "headers_too_large", 431


class NotGeoreferenced(OamPreviewError):
    """Tiles of an image with neither a geotransform nor GCPs (422)."""

    code, status = "not_georeferenced", 422


class TooLarge(OamPreviewError):
    """A read that would exceed ``OAM_PREVIEW_MAX_READ_MB`` (422)."""

    code, status = "too_large", 422


class ExportTooLarge(OamPreviewError):
    """An export covering more tiles than ``OAM_PREVIEW_EXPORT_MAX_TILES`` (413)."""

    code, status = "export_too_large", 413


class ExportsBusy(OamPreviewError):
    """As many exports queued or running as the limits allow, the client's or all (429)."""

    code, status = "too_many_exports", 429


class ExportStorageFull(OamPreviewError):
    """The exports' files take ``OAM_PREVIEW_EXPORT_MAX_DISK_MB`` already (429): until some expire."""

    code, status = "export_storage_full", 429


class ExportFailed(OamPreviewError):
    """An export job that failed (502: most often its tiles' upstream reads); asking again resumes it."""

    code, status = "export_failed", 502


class UpstreamError(OamPreviewError):
    """The remote GeoTIFF is missing, unreachable, corrupt or not a GeoTIFF (502).

    ``upstream_status`` is the HTTP status the upstream answered, when it
    answered one; ``unreachable`` says no connection could be made.
    """

    code, status = "upstream_error", 502

    def __init__(
        self,
        message: str,
        upstream_status: int | None = None,
        unreachable: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message, headers)
        self.upstream_status = upstream_status
        self.unreachable = unreachable

    @property
    def host_failure(self) -> bool:
        """Whether the *host* is failing (unreachable, 5xx, 429) rather than one file (404, corrupt)."""
        code = self.upstream_status
        return self.unreachable or (code is not None and (code >= 500 or code == 429))

    @classmethod
    def http(cls, code: int) -> UpstreamError:
        return cls(f"the server holding the GeoTIFF answered HTTP {code}", upstream_status=code)

    @classmethod
    def unreachable_host(cls) -> UpstreamError:
        return cls("the server holding the GeoTIFF is unreachable", unreachable=True)

    @classmethod
    def broken_transfer(cls) -> UpstreamError:
        return cls("the server holding the GeoTIFF broke off the transfer", unreachable=True)

    @classmethod
    def unresolvable(cls, host: str) -> UpstreamError:
        return cls(
            f"the host name {host[:253]!r} of the image's URL does not resolve (misspelt, or unknown to "
            "this server's DNS)",
            unreachable=True,
        )

    @classmethod
    def range_ignored(cls) -> UpstreamError:
        return cls(
            "the server holding the GeoTIFF ignored a Range request (it answered 200 with the whole "
            "file): GeoTIFFs are read by byte ranges, so serve it from a server that honours them "
            "(nginx, Apache, S3, or a directory catalog of the files themselves)"
        )

    @classmethod
    def not_geotiff(cls, why: str = "") -> UpstreamError:
        return cls("the upstream file is not a readable GeoTIFF" + (f" ({why})" if why else ""))

    @classmethod
    def credentials_refused(cls, profile: str) -> UpstreamError:
        """The cloud store refused source profile ``profile`` (named, never its secret), after its
        credentials were loaded anew once."""
        return cls(
            f"the cloud store refused source profile {profile!r} (HTTP 403: its credentials are expired, "
            "rotated or unknown to the store, or give no access to this object; the operator's "
            "OAM_PREVIEW_SOURCES was read again)"
        )

    @classmethod
    def undecodable(cls, detail: str) -> UpstreamError:
        return cls(f"the GeoTIFF's pixel data cannot be read or decoded ({detail.strip()[:200]})")


class HostUnavailable(UpstreamError):
    """The host's circuit breaker is open: answered at once, the host is not asked (502)."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message, headers={"Retry-After": str(max(1, round(retry_after)))})


class UpstreamForbidden(OamPreviewError):
    """An image URL outside ``OAM_PREVIEW_UPSTREAM_ALLOW`` (403): never read, whatever listens there."""

    code, status = "upstream_forbidden", 403

    @classmethod
    def refused(cls) -> UpstreamForbidden:
        # One message for every refusal: it must not tell what listens at the address.
        return cls(
            "the image's URL points at an address this server does not read "
            "(a private, loopback or reserved network; see OAM_PREVIEW_UPSTREAM_ALLOW)"
        )

    @classmethod
    def not_public(cls, what: str, entry: str) -> UpstreamForbidden:
        """A refused ``http(s)`` host: ``what`` it is (the kind of an address written in the URL,
        else that its name resolves to one not public), and the setting's entry, ``host:port``
        as the URL has them, that would allow it. Nothing of what listens there: never asked."""
        return cls(
            f"the image's URL points at {what}, which this server reads only when "
            f"OAM_PREVIEW_UPSTREAM_ALLOW allows it: add {entry} to that setting "
            f"(OAM_PREVIEW_UPSTREAM_ALLOW={entry} when it has no other entry)"
        )


class UpstreamTimeout(OamPreviewError):
    """The remote server answered slower than ``OAM_PREVIEW_UPSTREAM_TIMEOUT`` (504)."""

    code, status = "upstream_timeout", 504

    @classmethod
    def no_answer(cls) -> UpstreamTimeout:
        return cls("the server holding the GeoTIFF did not answer in time")


class HostBusy(UpstreamTimeout):
    """No read slot for the host or the image freed up within ``upstream_queue_timeout`` (504)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, headers={"Retry-After": "1"})


class Internal(OamPreviewError):
    """A bug: logged with its traceback, answered without it (500)."""

    code, status = "internal", 500
