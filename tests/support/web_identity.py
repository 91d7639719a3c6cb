"""AWS's STS and S3 on loopback for a web-identity profile: moto's (:class:`~.cloud_stores.MotoS3`,
IAM on), behind :class:`StsFront`.

GDAL 3.10 asks STS for a web identity's session credentials with an unsigned ``GET
{CPL_AWS_STS_ROOT_URL}/?Action=AssumeRoleWithWebIdentity&RoleSessionName=gdal&…&RoleArn=…&WebIdentityToken=…``
(port/cpl_aws.cpp, ``GetConfigurationFromAssumeRoleWithWebIdentity``). moto's server routes an
unsigned request by its form body (``Action=`` of a POST, what boto3 sends; a GET is taken for
S3), and once its IAM enforcement is on it fails every unsigned request (a 500: it looks for
``Authorization``), though AWS's STS takes this one unsigned (the token is the proof). The front passes the request to moto as the POST
boto3 would send, with moto told to take that one request unsigned (``/moto-api/reset-auth``,
under a lock no other request passes while it holds). moto's own STS then issues the session
credentials, and moto's own S3 checks them (signature, session token, the role's policy).

``duration_seconds`` makes moto issue credentials that expire that many seconds on (GDAL asks for
none: an hour). moto's S3 never checks a session token's expiry: the front refuses, with S3's 400
``ExpiredToken``, the tokens the test has expired (:meth:`StsFront.expire_issued`, or every
token, later ones too: ``expire_every_token``), as S3 refuses a token past its ``Expiration``.
"""

from __future__ import annotations

import http.server
import threading
import urllib.parse
import xml.etree.ElementTree as ElementTree
from typing import Any

from .loopback import LoopbackServer, forwarded, request_body, send_answer

#: S3's answer to a request signed with an expired session token (400).
EXPIRED_TOKEN = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>ExpiredToken</Code>'
    b"<Message>The provided token has expired.</Message></Error>"
)
STS_NS = "{https://sts.amazonaws.com/doc/2011-06-15/}"


def _credentials(answer: bytes) -> dict[str, str]:
    """The ``Credentials`` of moto's AssumeRoleWithWebIdentity answer (``{}``: none)."""
    try:
        root = ElementTree.fromstring(answer)
    except ElementTree.ParseError:
        return {}
    found = root.find(f".//{STS_NS}Credentials")
    if found is None:
        found = root.find(".//Credentials")
    if found is None:
        return {}
    return {child.tag.rsplit("}", 1)[-1]: child.text or "" for child in found}


class StsFront:
    """Before moto (port ``upstream_port``): AWS's STS root (``url``) and a path-style S3 endpoint
    (the same ``url``). ``assumed``: the query of each AssumeRoleWithWebIdentity asked, in order;
    ``issued``: the credentials moto gave for each; ``carried[token]``: the S3 requests signed with
    each session token; ``refused``: the S3 requests answered ``ExpiredToken``."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.assumed: list[dict[str, str]] = []
        self.issued: list[dict[str, str]] = []
        self.carried: dict[str, int] = {}
        self.refused = 0
        self.expired: set[str] = set()
        self.expire_every_token = False
        self.duration_seconds = 0  # > 0: moto issues credentials that expire that much later
        self._lock = threading.Lock()  # one request at moto at a time (see the module's doc)
        front = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                body = request_body(self)
                path, _, query = self.path.partition("?")
                params = dict(urllib.parse.parse_qsl(query))
                if path == "/" and params.get("Action") == "AssumeRoleWithWebIdentity":
                    status, headers, payload = front._assume(params, query)
                else:
                    status, headers, payload = front._s3(self.command, self.path, body, dict(self.headers))
                send_answer(self, status, headers, payload)

            do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _handle

        self.server = LoopbackServer(Handler)
        self.url = self.server.url

    def _moto(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str]
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        return forwarded(self.upstream_port, method, path, body, headers)

    def _assume(self, params: dict[str, str], query: str) -> tuple[int, list[tuple[str, str]], bytes]:
        with self._lock:
            self.assumed.append(params)
            self._moto("POST", "/moto-api/reset-auth", b"1", {})  # this one request, unsigned
            if self.duration_seconds:
                query += f"&DurationSeconds={self.duration_seconds}"
            form = {"Content-Type": "application/x-www-form-urlencoded"}
            status, headers, payload = self._moto("POST", "/", query.encode(), form)
        credentials = _credentials(payload)
        if credentials:
            self.issued.append(credentials)
        return status, headers, payload

    def _s3(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str]
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        token = next((v for k, v in headers.items() if k.lower() == "x-amz-security-token"), "")
        if token:
            self.carried[token] = self.carried.get(token, 0) + 1
            if self.expire_every_token or token in self.expired:
                self.refused += 1
                return 400, [("Content-Type", "application/xml")], EXPIRED_TOKEN
        with self._lock:
            return self._moto(method, path, body, headers)

    def expire_issued(self) -> None:
        """Every session token issued so far is expired from now on (later ones are not)."""
        self.expired.update(c["SessionToken"] for c in self.issued)

    def secrets(self) -> list[str]:
        """The secret keys and session tokens moto issued (for the no-secret-anywhere grep)."""
        return [c[k] for c in self.issued for k in ("SecretAccessKey", "SessionToken") if c.get(k)]

    def close(self) -> None:
        self.server.close()
