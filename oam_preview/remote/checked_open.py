"""``urllib``'s opener under the upstream policy: the requests oam-preview sends itself.

The version ``HEAD``, the 8-byte diagnosis and a report's probes go out through
:meth:`~oam_preview.remote.policy.UpstreamPolicy.urlopen`, which opens them here: every
redirect hop passes the policy's ``check`` first, and each connection goes to an address
its ``connectable`` just checked (no environment proxy). A module of its own, apart from
the policy's rules, because ``http.client`` and ``urllib.request`` (about 7 MB resident)
are needed by the workers only: the egress relay process (:mod:`~oam_preview.remote.relay`)
applies the same policy and never opens a URL.
"""

from __future__ import annotations

import http.client
import socket
import urllib.request
from typing import Any, Protocol

from ..config import IPAddress
from ..errors import UpstreamForbidden


class CheckingPolicy(Protocol):
    """What the opener asks of :class:`~oam_preview.remote.policy.UpstreamPolicy`."""

    def check(self, url: str) -> None: ...
    def connectable(self, host: str, port: int) -> list[IPAddress]: ...
    def refuse_redirect(self, url: str) -> None: ...


def open_checked(
    policy: CheckingPolicy, request: urllib.request.Request, timeout: float, pinned: bool
) -> Any:
    """Open ``request`` (``timeout`` in seconds) following only redirects ``policy`` allows;
    with ``pinned``, connecting only to addresses ``policy.connectable`` returns."""
    policy.check(request.full_url)
    handlers: list[Any] = [urllib.request.ProxyHandler({}), _CheckedRedirects(policy, request.full_url)]
    if pinned:
        handlers += [_PinnedHTTPHandler(policy), _PinnedHTTPSHandler(policy)]
    return urllib.request.build_opener(*handlers).open(request, timeout=timeout)


def _pinned(policy: CheckingPolicy, connection_class: Any) -> Any:
    """``connection_class`` (``http.client``'s) connecting only to addresses the policy checked at
    connection time: a name cannot resolve one way for the policy's ``check`` and another here."""

    def create_connection(address: tuple[str, int], timeout: Any = None, source_address: Any = None) -> Any:
        host, port = address
        failure: OSError | None = None
        for checked in policy.connectable(host, port):
            try:
                return socket.create_connection((str(checked), port), timeout, source_address)
            except OSError as exc:
                failure = exc
        raise failure or OSError(f"no address for {host}")

    def build(host: str, **kwargs: Any) -> Any:
        connection = connection_class(host, **kwargs)
        connection._create_connection = create_connection  # used by connect(), TLS too
        return connection

    return build


class _PinnedHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, policy: CheckingPolicy) -> None:
        super().__init__()
        self.policy = policy

    def http_open(self, req: Any) -> Any:
        return self.do_open(_pinned(self.policy, http.client.HTTPConnection), req)


class _PinnedHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, policy: CheckingPolicy) -> None:
        super().__init__()
        self.policy = policy

    def https_open(self, req: Any) -> Any:
        context = self._context  # type: ignore[attr-defined]  # urllib's, set in __init__
        return self.do_open(_pinned(self.policy, http.client.HTTPSConnection), req, context=context)


class _CheckedRedirects(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only to a URL the policy allows (a public URL may point inside)."""

    def __init__(self, policy: CheckingPolicy, origin: str) -> None:
        self.policy = policy
        self.origin = origin

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> Any:
        try:
            self.policy.check(newurl)
        except UpstreamForbidden:
            self.policy.refuse_redirect(self.origin)
            raise
        return super().redirect_request(req, fp, code, msg, headers, newurl)
