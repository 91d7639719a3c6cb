"""The egress relay process: a SOCKS5 server on loopback applying the upstream policy to each
of GDAL's connections (why it exists, and how a worker starts it: :mod:`~oam_preview.remote.egress`).

``python -m oam_preview.remote.relay ALLOW CONNECT_TIMEOUT`` runs one. It runs beside every
worker, so it imports only what it relays with: sockets, threads and the policy's rules
(:mod:`~oam_preview.remote.policy`), never ``urllib.request``, numpy or rasterio
(``tests/test_upstream_policy.py`` counts its modules).
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import os
import socket
import struct
import sys
import threading

# hmac.compare_digest without hmac: importing hmac loads OpenSSL's libcrypto (3.4 MB resident in
# every relay) for a comparison this C function (hmac's own fallback) makes in constant time too.
from _operator import _compare_digest as compare_digest
from typing import Any

from ..errors import UpstreamForbidden
from .policy import UpstreamPolicy

#: SOCKS5 reply codes (RFC 1928, section 6).
SUCCEEDED, GENERAL_FAILURE, NOT_ALLOWED, HOST_UNREACHABLE, REFUSED, TIMED_OUT = 0, 1, 2, 4, 5, 6
COMMAND_NOT_SUPPORTED, ADDRESS_NOT_SUPPORTED = 7, 8
#: SOCKS5 authentication methods (RFC 1928, section 3): user name and password (RFC 1929), none acceptable.
USER_PASSWORD, NO_ACCEPTABLE_METHOD = 2, 0xFF
#: The user name GDAL gives its relay; the password is the relay's secret.
USER = "oam-preview"
#: Bytes read from a socket at a time while relaying.
CHUNK = 256 * 1024
#: Seconds the client has for the SOCKS handshake (curl sends it at once: only a stranger is slow).
HANDSHAKE_TIMEOUT = 5.0


class Relay:
    """A SOCKS5 server (CONNECT, user name and password) on loopback whose every connection
    passes ``policy``; only a client that gives :data:`USER` and ``secret`` is served."""

    def __init__(self, policy: UpstreamPolicy, connect_timeout: float, secret: str) -> None:
        self.policy = policy
        self.connect_timeout = connect_timeout
        self._credentials = f"{USER}:{secret}".encode()
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(512)

    @property
    def port(self) -> int:
        return int(self.listener.getsockname()[1])

    def serve_forever(self) -> None:
        """Accept connections (each served on threads of its own) until the listener is closed."""
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._serve, args=(client,), name="egress-conn", daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            client.settimeout(HANDSHAKE_TIMEOUT)
            host, port = _handshake(client, self._credentials)
        except (OSError, ValueError):
            client.close()
            return
        try:
            addresses = self.policy.connectable(host, port)
        except UpstreamForbidden:
            _reply(client, NOT_ALLOWED)
            client.close()
            return
        upstream, code = self._connect(addresses, port)
        if upstream is None:
            _reply(client, code)
            client.close()
            return
        client.settimeout(None)
        upstream.settimeout(None)
        _reply(client, SUCCEEDED)
        _relay(client, upstream)

    def _connect(self, addresses: list[Any], port: int) -> tuple[socket.socket | None, int]:
        """A connection to the first of ``addresses`` that answers, else ``None`` and the SOCKS code."""
        code = HOST_UNREACHABLE
        for address in addresses:
            family = socket.AF_INET6 if isinstance(address, ipaddress.IPv6Address) else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.settimeout(self.connect_timeout)
            try:
                sock.connect((str(address), port))
            except TimeoutError:
                sock.close()
                code = TIMED_OUT
                continue
            except ConnectionRefusedError:
                sock.close()
                code = REFUSED
                continue
            except OSError:
                sock.close()
                continue
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock, SUCCEEDED
        return None, code


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        more = sock.recv(n - len(data))
        if not more:
            raise ValueError("the SOCKS client went away")
        data += more
    return data


def _handshake(client: socket.socket, credentials: bytes) -> tuple[str, int]:
    """Read a SOCKS5 greeting, the client's user name and password, and its CONNECT request: the
    host and port asked for. ``ValueError`` (the client told why) unless the client gives
    ``credentials`` (``user:password``)."""
    version, n_methods = _recv_exactly(client, 2)
    methods = _recv_exactly(client, n_methods)
    if version != 5 or USER_PASSWORD not in methods:
        client.sendall(bytes([5, NO_ACCEPTABLE_METHOD]))
        raise ValueError("not a SOCKS5 client with a user name and password")
    client.sendall(bytes([5, USER_PASSWORD]))
    _authenticate(client, credentials)
    version, command, _, kind = _recv_exactly(client, 4)
    if kind == 1:
        host = str(ipaddress.IPv4Address(_recv_exactly(client, 4)))
    elif kind == 4:
        host = str(ipaddress.IPv6Address(_recv_exactly(client, 16)))
    elif kind == 3:
        host = _recv_exactly(client, _recv_exactly(client, 1)[0]).decode("idna").lower()
    else:
        _reply(client, ADDRESS_NOT_SUPPORTED)
        raise ValueError("unknown SOCKS address type")
    (port,) = struct.unpack("!H", _recv_exactly(client, 2))
    if version != 5 or command != 1:  # CONNECT only: no BIND, no UDP
        _reply(client, COMMAND_NOT_SUPPORTED)
        raise ValueError("not a SOCKS5 CONNECT")
    return host, port


def _authenticate(client: socket.socket, credentials: bytes) -> None:
    """RFC 1929: read a user name and password, answer whether they are ``credentials``
    (``user:password``); ``ValueError`` if not."""
    version, user_length = _recv_exactly(client, 2)
    user = _recv_exactly(client, user_length)
    password = _recv_exactly(client, _recv_exactly(client, 1)[0])
    # In constant time: a local client must not learn the secret a byte at a time.
    accepted = compare_digest(user + b":" + password, credentials) and version == 1
    client.sendall(bytes([1, 0 if accepted else 1]))
    if not accepted:
        raise ValueError("wrong SOCKS5 user name or password")


def _reply(client: socket.socket, code: int) -> None:
    with contextlib.suppress(OSError):
        client.sendall(bytes([5, code, 0, 1, 0, 0, 0, 0, 0, 0]))


def _relay(client: socket.socket, upstream: socket.socket) -> None:
    """Copy bytes both ways until either side is done: the server's end of its stream reaches curl
    as an end of stream, a reset as a reset, and when curl closes, the server's connection closes."""
    threading.Thread(
        target=_copy_to_server, args=(client, upstream), name="oam-egress-up", daemon=True
    ).start()
    try:
        _pump(upstream, client)
        client.shutdown(socket.SHUT_WR)  # curl sees the server close; it closes in turn
    except ConnectionResetError:
        _reset(client)
    except OSError:
        pass
    finally:
        upstream.close()


def _copy_to_server(client: socket.socket, upstream: socket.socket) -> None:
    try:
        _pump(client, upstream)
    except OSError:
        pass
    finally:
        # curl is done with the connection (it never half-closes one it expects an answer on):
        # wake the other thread, whatever the server does.
        for sock in (upstream, client):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        client.close()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    """Move bytes from ``source`` to ``sink`` (blocking sockets) until ``source``'s end of stream.

    Through a pipe with ``splice(2)`` where the system has it: the bytes stay in the kernel. The
    relay carries every byte a tile reads (a megabyte for a lossless tile), and copying them
    through Python buffers cost more CPU per tile than the tile's own encoding."""
    if not hasattr(os, "splice"):  # not Linux: through a buffer of ours
        while data := source.recv(CHUNK):
            sink.sendall(data)
        return
    pipe_out, pipe_in = os.pipe()
    try:
        with contextlib.suppress(OSError):  # a larger pipe: fewer calls per response
            fcntl.fcntl(pipe_in, fcntl.F_SETPIPE_SZ, CHUNK)
        source_fd, sink_fd = source.fileno(), sink.fileno()
        while moved := os.splice(source_fd, pipe_in, CHUNK, flags=os.SPLICE_F_MOVE):
            while moved:
                moved -= os.splice(pipe_out, sink_fd, moved, flags=os.SPLICE_F_MOVE)
    finally:
        os.close(pipe_out)
        os.close(pipe_in)


def _reset(sock: socket.socket) -> None:
    """Close ``sock`` with a TCP reset, as the server reset its side."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    except OSError:
        pass


def main(argv: list[str]) -> None:
    """``python -m oam_preview.remote.relay ALLOW CONNECT_TIMEOUT``: read the secret (the first
    line of stdin), print the port, relay until stdin ends (the process that started this one is
    gone)."""
    allow, connect_timeout = argv[0], float(argv[1])
    secret = sys.stdin.buffer.readline().strip().decode()
    if not secret:
        sys.exit("oam_preview.remote.relay: no secret on stdin")
    relay = Relay(UpstreamPolicy.from_setting(allow), connect_timeout, secret)
    threading.Thread(target=relay.serve_forever, name="egress", daemon=True).start()
    print(relay.port, flush=True)
    try:
        while sys.stdin.buffer.read(1 << 16):
            pass
    except KeyboardInterrupt:
        pass
    os._exit(0)  # the relaying threads are daemons: no need to wait for them


if __name__ == "__main__":
    main(sys.argv[1:])
