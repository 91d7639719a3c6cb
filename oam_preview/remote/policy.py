"""Which network addresses an image URL may reach: ``OAM_PREVIEW_UPSTREAM_ALLOW``.

A catalog record is someone else's input: anyone can publish a record whose
URL names ``http://169.254.169.254/…``, ``http://127.0.0.1:6379/`` or a host
inside the operator's network. By default an image URL may only reach public
(globally routed) addresses; the policy is checked on the addresses the host
name resolves to, before the first byte is sent, and on every redirect hop of
the requests oam-preview sends itself (``HEAD``, the 8-byte diagnosis); GDAL's own
connections are checked again, address by address, by :mod:`~oam_preview.remote.egress`.

The setting is a comma- or space-separated list of entries that allow more:
``host`` (any port), ``host:port``, ``[v6]:port`` or a CIDR block
(``10.0.0.0/8``, ``127.0.0.1/32``); ``any`` turns the policy off. A refused
URL answers :class:`~oam_preview.errors.UpstreamForbidden` naming what the URL points at
(the kind of an address written in it, or a name resolving to one not public) and the
entry that would allow it, never anything of what listens there: nothing is asked of it.
A name that does not resolve is not refused but missing: ``502 upstream_error`` saying so.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from ..config import Allowance, IPAddress
from ..errors import OamPreviewError, UpstreamError, UpstreamForbidden
from . import cloud

if TYPE_CHECKING:
    import urllib.request

log = logging.getLogger(__name__)

#: Seconds a host's verdict is kept: a name's addresses are looked up again after it.
VERDICT_TTL = 60.0


#: What an image URL is to the reader: a local file, an http(s) URL (``scheme://host…``), a
#: cloud object (``s3://``, ``gs://``, ``az://`` bucket and key: :mod:`~oam_preview.remote.cloud`),
#: or anything else GDAL would read from elsewhere.
UpstreamKind = Literal["local", "http", "cloud", "other"]


def upstream_kind(url: str) -> UpstreamKind:
    """The one decision of what ``url`` is, shared by the reader
    (:func:`~oam_preview.remote.gdal_settings.vsi_path`) and :meth:`UpstreamPolicy.check`:
    ``local`` (no scheme, or ``file:``), ``http`` (``http(s)://host…``, any case), ``cloud``
    (``s3://bucket/key``, ``gs://…``, ``az://container/key``: :func:`~oam_preview.remote.cloud.parse`)
    or ``other``.

    rasterio reads any string with a scheme it knows as a network or cloud path:
    ``http:127.0.0.1:8000/x``, without ``//``, over HTTP (it adds them), ``gs:b/k`` from Google
    Cloud Storage, ``zip+http:…`` inside a remote archive, and ``/vsi…`` is GDAL's own. So a
    scheme, however spelt, makes a string a URL, never a local path; an http(s) one without
    ``//host`` and any other are ``other``: the policy refuses them.
    """
    if url.startswith("/vsi"):
        return "other"
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed [v6 address
        return "other"
    scheme = parts.scheme.lower()
    if scheme in ("", "file"):
        return "local"
    if scheme in ("http", "https") and url[len(scheme) + 1 :].startswith("//") and parts.hostname:
        return "http"
    if cloud.parse(url) is not None:
        return "cloud"
    return "other"


def default_location(url: str) -> str | None:
    """The public https URL of an ``s3://``/``gs://`` object (no profile), ``None`` otherwise."""
    path = cloud.parse(url)
    return path.public_url() if path else None


def is_public(address: IPAddress) -> bool:
    """Whether ``address`` is globally routed: not loopback, private (RFC 1918, ULA),
    link-local, CGNAT (100.64/10), multicast, reserved or unspecified."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is loopback
    return address.is_global and not (address.is_multicast or address.is_reserved or address.is_unspecified)


def address_kind(address: IPAddress) -> str:
    """What a non-public ``address`` is, in a few words for an error message."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_unspecified:
        return "the unspecified address"
    if address in CGNAT:
        return "a shared (carrier-grade NAT) address"
    if address.is_private:
        return "a private network address"
    return "a reserved address"


#: RFC 6598's shared address space: neither global nor ``is_private`` to Python.
CGNAT = ipaddress.ip_network("100.64.0.0/10")


@dataclass(frozen=True)
class Refusal:
    """Why the policy does not read ``host:port``: ``what`` it points at (the kind of the address
    the URL names, or a name resolving to an address that is not public), empty when the name
    does not resolve at all."""

    host: str
    port: int
    what: str = ""

    @property
    def entry(self) -> str:
        """The ``OAM_PREVIEW_UPSTREAM_ALLOW`` entry allowing this host and port, as the URL has them."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def error(self) -> OamPreviewError:
        """The API error of this refusal (a new one each time: an exception is raised once)."""
        if not self.what:
            return UpstreamError.unresolvable(self.host)
        return UpstreamForbidden.not_public(self.what, self.entry)


@dataclass
class UpstreamPolicy:
    """The check every upstream URL passes before it is read, with its refusals counted.

    ``resolve(host, port)`` gives the addresses a name stands for (the system
    resolver by default; a seam for tests). ``locate(url)`` gives the http(s) URL a cloud
    object is fetched from (its profile's endpoint: :class:`~oam_preview.remote.profiles.Sources`),
    ``None`` when it cannot be read; by default the public URL of an unprofiled object.
    """

    allowance: Allowance
    resolve: Any = None
    locate: Any = None
    _verdicts: dict[tuple[str, int], tuple[Refusal | None, float]] = field(default_factory=dict, repr=False)
    _refused: dict[str, int] = field(default_factory=dict, repr=False)
    #: URLs whose redirect pointed somewhere refused, with when: GDAL follows redirects on
    #: its own, so such a URL is refused before GDAL is given it.
    _redirected: dict[str, float] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def from_setting(cls, text: str) -> UpstreamPolicy:
        return cls(Allowance.parse(text))

    def check(self, url: str) -> None:
        """Return if ``url`` may be read, else raise :class:`UpstreamForbidden` (or
        :class:`UpstreamError` for a host name that does not resolve).

        A local path (a directory catalog of the operator's own files) is not a
        network read and passes; what is a local path is decided once, for the
        policy and the reader, by :func:`upstream_kind`.
        Anything else than ``http(s)://host…`` is refused, counted under its
        scheme (``gs:``, ``http:`` for one without ``//host``) or ``/vsi``.
        """
        if self.allowance.anything:
            return
        kind = upstream_kind(url)
        if kind == "local":
            return
        if kind == "cloud":
            # The endpoint the object is fetched from passes the policy like any URL: a private
            # S3-compatible store is read only when OAM_PREVIEW_UPSTREAM_ALLOW names it.
            located: str | None = (self.locate or default_location)(url)
            if located is None:
                return self._refuse(url.partition(":")[0].lower() + ":")  # raises
            return self.check(located)
        if kind == "other":
            self._refuse("/vsi" if url.startswith("/vsi") else url.partition(":")[0][:16].lower() + ":")
        parts = urlsplit(url)
        assert parts.hostname is not None
        host = parts.hostname.lower()
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:  # a port out of range
            self._refuse(host)
        key = (host, port)
        now = time.monotonic()
        with self._lock:
            known = self._verdicts.get(key)
            redirected = self._redirected.get(url)
        if redirected is not None and now - redirected <= VERDICT_TTL:
            self._refuse(host)
        if known is None or now - known[1] > VERDICT_TTL:
            known = (self._refusal(host, port), now)
            with self._lock:
                self._verdicts[key] = known
        if known[0] is not None:
            self._refuse(host, known[0])

    def connectable(self, host: str, port: int) -> list[IPAddress]:
        """The addresses a connection to ``host:port`` may use, looked up now; raises
        :class:`UpstreamForbidden` (counted) unless every address ``host`` has passes.

        For the callers that connect to what this returns (:mod:`~oam_preview.remote.egress`,
        :meth:`urlopen`): no verdict is cached, so a name cannot resolve one way for the
        check and another for the connection.
        """
        host = host.lower().strip("[]")
        addresses = list(self._addresses(host, port))
        named = self.allowance.anything or self.allowance.names(host, port)
        if addresses and (named or self._all_pass(addresses)):
            return addresses
        # Raises; a name gone since check() passed is refused like any other (the relay's code 2).
        return self._refuse(host, self._refusal(host, port) if addresses else None)

    def _refusal(self, host: str, port: int) -> Refusal | None:
        """Why ``host:port`` may not be read, looked up now; ``None`` when it may."""
        if self.allowance.names(host, port):
            return None
        addresses = list(self._addresses(host, port))
        if self._all_pass(addresses):
            return None
        if not addresses:
            return Refusal(host, port)
        try:
            written = ipaddress.ip_address(host)
        except ValueError:  # a name: what it resolves to is the server's network's business
            return Refusal(host, port, f"a host name resolving to an address that is not public ({host})")
        return Refusal(host, port, f"{address_kind(written)} ({host})")

    def _all_pass(self, addresses: list[IPAddress]) -> bool:
        # Every address the name has must pass: a client may connect to any of them.
        return bool(addresses) and all(is_public(a) or self.allowance.covers(a) for a in addresses)

    def _addresses(self, host: str, port: int) -> Iterable[IPAddress]:
        try:
            return [ipaddress.ip_address(host)]
        except ValueError:
            pass
        resolve = self.resolve or _system_resolve
        try:
            found = resolve(host, port)
        except OSError:
            return []  # a name that does not resolve is refused like any other
        addresses = []
        for text in found:
            try:
                addresses.append(ipaddress.ip_address(text.split("%")[0]))
            except ValueError:
                continue
        return addresses

    def _refuse(self, host: str, refusal: Refusal | None = None) -> Any:
        """Count a refused read of ``host`` and raise its error: ``refusal``'s, else the one
        message of a URL that is no ``http(s)://host`` at all."""
        with self._lock:
            first = host not in self._refused
            self._refused[host] = self._refused.get(host, 0) + 1
        if first:
            self._log(host, refusal)
        raise UpstreamForbidden.refused() if refusal is None else refusal.error()

    def _log(self, host: str, refusal: Refusal | None) -> None:
        """The operator's line of a host's first refusal: the whole setting that would allow it."""
        if refusal is None:
            log.warning("upstream %s is refused (not an http(s) URL): its images answer 403", host)
        elif not refusal.what:
            log.warning("upstream host %s does not resolve: its images answer 502 upstream_error", host)
        else:
            log.warning(
                "upstream host %s is refused by OAM_PREVIEW_UPSTREAM_ALLOW (%s): its images answer 403 "
                "upstream_forbidden; OAM_PREVIEW_UPSTREAM_ALLOW=%r would allow it",
                host,
                refusal.what,
                self.allowance.with_entry(refusal.entry),
            )

    def refuse_redirect(self, url: str) -> None:
        """Remember that ``url`` redirected somewhere refused (for :data:`VERDICT_TTL`)."""
        with self._lock:
            if len(self._redirected) > 10_000:  # bounded: a hostile catalog may have many
                self._redirected.clear()
            self._redirected[url] = time.monotonic()

    def refused(self) -> dict[str, int]:
        """Refused reads per host since the worker started (``/healthz``)."""
        with self._lock:
            return dict(self._refused)

    def urlopen(self, request: urllib.request.Request, timeout: float) -> Any:
        """``urllib.request.urlopen`` whose every redirect hop passes :meth:`check` first, and
        whose connections go to addresses :meth:`connectable` just checked (no environment proxy)."""
        # Imported here, not at the top: the egress relay process imports this module for its
        # rules and never opens a URL, and urllib.request with http.client is ~7 MB resident.
        from .checked_open import open_checked

        return open_checked(self, request, timeout, pinned=not self.allowance.anything)


def _system_resolve(host: str, port: int) -> list[str]:
    return [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]
