"""GDAL's connections go through a SOCKS5 relay process that applies the upstream policy to each.

:class:`~oam_preview.remote.policy.UpstreamPolicy` checks an image URL before the
first read, and our own requests (the version ``HEAD``, the 8-byte diagnosis)
check every redirect hop. GDAL's requests are curl's: curl follows redirects
and resolves names itself, so a server could send GDAL (and only GDAL) a
redirect inside the operator's network, or a name could resolve to a public
address for the check and a private one for curl a moment later. With the
policy on, GDAL therefore connects through this relay on loopback
(``socks5h``: curl hands it the host name, unresolved): the relay resolves
the name, refuses unless every address passes the policy, and connects to an
address it checked. TLS stays end to end between curl and the server.

A refused connection answers SOCKS "not allowed by ruleset" (code 2), which
:func:`~oam_preview.remote.diagnosis.classify` maps to ``upstream_forbidden``,
and counts in ``/healthz`` like any other refusal.

The relay is a small process of its own beside each process that reads
(a gunicorn worker, a test), one per allow setting, started on first use: not
a thread of the reader's, because rasterio holds the GIL through some GDAL
calls that read (``dataset.overviews()`` on a sidecar), and a relay that
needs the GIL to answer them would wait on its own caller. It exits when the
process that started it does (its stdin, a pipe from that process, ends).
Each connection is relayed by two threads of the relay process.

A relay serves only its worker: it asks for SOCKS5 user name and password
authentication (RFC 1929), and the password is a random secret of that relay,
handed to it on its stdin (not its command line, which any local user can
read) and to GDAL as ``GDAL_HTTP_PROXYUSERPWD`` (curl's proxy credentials, not
part of the proxy URL, so never in a message that names the proxy). Another
local user's client, without it, is refused before it can name a host.
"""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
import sys
import threading
from dataclasses import dataclass, field

from . import relay as relay_process
from .relay import USER

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RelayAccess:
    """How GDAL reaches a relay: its ``url`` (``socks5h://127.0.0.1:PORT``) and its ``secret``
    (the password it asks for; kept out of ``repr``, so out of any message that shows this)."""

    url: str
    secret: str = field(repr=False)

    def gdal_options(self) -> dict[str, str]:
        """The GDAL config options that send GDAL's connections through the relay."""
        return {
            "GDAL_HTTP_PROXY": self.url,
            "GDAL_HTTPS_PROXY": self.url,
            "GDAL_HTTP_PROXYUSERPWD": f"{USER}:{self.secret}",
        }


_relays: dict[tuple[int, str, float], tuple[subprocess.Popen[bytes], RelayAccess]] = {}
_relays_lock = threading.Lock()


def relay_access(allow: str, connect_timeout: float) -> RelayAccess:
    """The relay of this process for ``OAM_PREVIEW_UPSTREAM_ALLOW`` ``allow``, started if it is
    not running (again, with a new secret, if it died).

    ``connect_timeout`` (seconds) bounds the relay's own connection to a server; it should be
    longer than GDAL's connect timeout, so that curl reports a slow connection as the timeout it is.
    """
    key = (os.getpid(), allow, connect_timeout)
    with _relays_lock:
        known = _relays.get(key)
        if known is None or known[0].poll() is not None:
            known = _relays[key] = _start_relay(allow, connect_timeout)
        return known[1]


def _start_relay(allow: str, connect_timeout: float) -> tuple[subprocess.Popen[bytes], RelayAccess]:
    for name in ("no_proxy", "NO_PROXY"):
        # curl honours no_proxy even with a proxy set: a redirect to a listed host would skip the relay.
        if os.environ.pop(name, None) is not None:
            log.warning(
                "%s is ignored in this process: GDAL's reads all go through the upstream policy", name
            )
    relay = subprocess.Popen(
        [sys.executable, "-m", relay_process.__name__, allow, str(connect_timeout)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        # Two threads per connection, each allocating little: one malloc arena will do
        # (glibc's default gives each thread its own, resident once touched).
        env={**os.environ, "MALLOC_ARENA_MAX": "1"},
    )
    assert relay.stdin is not None and relay.stdout is not None
    secret = secrets.token_urlsafe(32)  # 43 characters, no ':'
    try:
        relay.stdin.write(f"{secret}\n".encode())
        relay.stdin.flush()
    except OSError:
        pass  # it died at once: its message is above, and the port is not read below
    line = relay.stdout.readline()
    if not line.strip().isdigit():
        relay.kill()
        raise RuntimeError("the upstream policy's relay did not start (see its message above)")
    return relay, RelayAccess(f"socks5h://127.0.0.1:{int(line)}", secret)
