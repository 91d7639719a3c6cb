"""Who may see a private or embargoed image: API tokens and signed expiring URLs (``OAM_PREVIEW_ACCESS``).

An image private now (:mod:`oam_preview.catalog.privacy`) answers only a request that carries

- ``Authorization: Bearer TOKEN`` of a token the operator's file lists (by its SHA-256), scoped
  to the image's id, its record's ``group``, or ``*``; or
- a signature: ``exp`` (Unix seconds) and ``sig``, an HMAC-SHA256 over the image id, the
  request's rendering (its query but ``v``, ``max_size``, ``exp`` and ``sig``, sorted) and ``exp``. Such URLs
  work in any client (``<img>``, QGIS, JOSM: no header); the expiry is rounded up to a bucket
  (``expiry_bucket`` seconds) so the URLs of one bucket are the same and a CDN caches them.

Anonymous requests get 404 as for an image that does not exist; a wrong, expired or tampered
signature, or a token unknown or not scoped to the image, 403 ``access_denied``. Responses about
a private image are ``Cache-Control: private``. The check runs before the response cache is
asked, so no cache tier (the worker's, the machine's, the shared Redis) answers a request not
allowed the image. For an allowed request, the URLs the Feature and TileJSON emit carry a
signature (the one the request came with, else one of ``signed_url_ttl`` seconds).

Selections (the listing, feeds, editors' lists, footprints, the mosaic, exports) include the
private images of the request's token (:class:`Scope`); the mosaic's and the footprints' URLs
are then signed the same way for a subject that is no image id (:data:`MOSAIC`,
:data:`FOOTPRINTS`), with ``scope`` (the token's name) in the signed query, so that they work
without the header and answer what that token sees.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from flask import Response, g, request

from ..catalog import privacy
from ..catalog.model import Image
from ..config import read_settings_file
from ..errors import AccessDenied, NotFound

#: Query parameters that are not the rendering: the version token, a thumbnail's size (the page
#: asks the listing's thumbnail at its own) and the signature's own.
UNSIGNED = frozenset({"v", "max_size", "exp", "sig"})
#: ``Cache-Control`` of every response about a private image: never a shared cache's.
PRIVATE_CACHE_CONTROL = "private, max-age=300"


@dataclass(frozen=True)
class Token:
    """One API token: its ``name`` (for logs), the SHA-256 of its value, what it may see."""

    name: str
    sha256: str = field(repr=False)
    images: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()

    def covers(self, image: Image) -> bool:
        group = privacy.group_of(image)
        return "*" in self.images or image.id in self.images or (group is not None and group in self.groups)


@dataclass(frozen=True)
class AccessRules:
    """The parsed ``OAM_PREVIEW_ACCESS`` file (none: nobody sees a private image)."""

    tokens: tuple[Token, ...] = ()
    signing_key: bytes = field(default=b"", repr=False)
    signed_url_ttl: int = 3600  # seconds a URL signed for a token holder lives, at least
    expiry_bucket: int = 900  # seconds the expiry is rounded up to

    @classmethod
    def load(cls, file: str) -> AccessRules:
        """The rules of the TOML ``file`` (``""``: none); ``ValueError`` naming what is wrong."""
        if not file:
            return cls()
        document = read_settings_file("OAM_PREVIEW_ACCESS", file)
        key = str(document.get("signing_key", ""))
        if key and len(key) < 32:
            raise ValueError("OAM_PREVIEW_ACCESS: signing_key must be at least 32 characters")
        tokens = []
        for name, body in dict(document.get("tokens", {})).items():
            digest = str(body.get("sha256", "")).lower()
            if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                raise ValueError(f"OAM_PREVIEW_ACCESS token {name!r}: sha256 (64 hex digits) is required")
            tokens.append(
                Token(name, digest, frozenset(body.get("images", ())), frozenset(body.get("groups", ())))
            )
        ttl, bucket = int(document.get("signed_url_ttl", 3600)), int(document.get("expiry_bucket", 900))
        if ttl <= 0 or bucket <= 0:
            raise ValueError("OAM_PREVIEW_ACCESS: signed_url_ttl and expiry_bucket must be > 0")
        return cls(tuple(tokens), key.encode(), ttl, bucket)

    def token(self, value: str) -> Token | None:
        """The token whose SHA-256 is that of ``value`` (compared in constant time)."""
        digest = hashlib.sha256(value.encode()).hexdigest()
        for token in self.tokens:
            if hmac.compare_digest(token.sha256, digest):
                return token
        return None

    def named(self, name: str) -> Token | None:
        """The token the file names ``name`` (a signed selection URL's ``scope``)."""
        return next((token for token in self.tokens if token.name == name), None)

    def expiry(self, moment: float) -> int:
        """The expiry of a URL signed at ``moment``: ``signed_url_ttl`` later, rounded up to the bucket."""
        return int(math.ceil((moment + self.signed_url_ttl) / self.expiry_bucket) * self.expiry_bucket)

    def signature(self, image_id: str, rendering: str, exp: int) -> str:
        """The HMAC-SHA256 (hex) of ``image_id``, ``rendering`` (:func:`rendering_of`) and ``exp``."""
        message = f"{image_id}\n{rendering}\n{exp}".encode()
        return hmac.new(self.signing_key, message, hashlib.sha256).hexdigest()


def rendering_of(pairs: Any) -> str:
    """The signed part of a query: its pairs but :data:`UNSIGNED`, sorted, URL-encoded."""
    return urllib.parse.urlencode(sorted((k, v) for k, v in pairs if k not in UNSIGNED))


def check(rules: AccessRules, image: Image) -> None:
    """Return when this request may see ``image``; else raise (see the module docstring)."""
    if not privacy.private_at(image, privacy.now()):
        return
    g.oam_preview_private = True
    exp, sig = request.args.get("exp"), request.args.get("sig")
    if sig is not None or exp is not None:
        g.oam_preview_signed_exp = _verified(rules, image.id, exp, sig)
        return
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        token = rules.token(header[7:].strip())
        if token is None or not token.covers(image):
            raise AccessDenied("this API token does not give access to this image")
        g.oam_preview_signed_exp = rules.expiry(privacy.now()) if rules.signing_key else None
        return
    raise NotFound(f"no image with id {image.id!r} in the catalog")


#: The subjects a selection's signed URLs are signed for (never an image id: a ``/`` is in neither).
MOSAIC, FOOTPRINTS = "/api/mosaic", "/api/footprints"


@dataclass(frozen=True)
class Scope:
    """The private images a selection of this request may include (the listing, feeds, editors'
    lists, footprints, the mosaic): those of its API token (``token``), none when anonymous."""

    token: Token | None = None

    def allowed(self, image: Image) -> bool:
        """Whether a selection of this request may include ``image`` when it is private now."""
        return self.token is not None and self.token.covers(image)


def bearer_scope(rules: AccessRules) -> Scope:
    """The scope of this request's bearer token (anonymous without one); a token that is not the
    operator's is 403, as on an image's own routes. A token holder's answers carry URLs signed
    for it (:func:`signed`, :func:`signed_selection`)."""
    header = request.headers.get("Authorization", "")
    if header[:7].lower() != "bearer ":
        return Scope()
    token = rules.token(header[7:].strip())
    if token is None:
        raise AccessDenied("this API token is not known")
    g.oam_preview_signed_exp = rules.expiry(privacy.now()) if rules.signing_key else None
    return Scope(token)


def selection_scope(rules: AccessRules, subject: str) -> Scope:
    """The scope of a mosaic's or the footprints' request (``subject``: :data:`MOSAIC` or
    :data:`FOOTPRINTS`): a URL signed for ``subject`` names its token in ``scope`` (``exp`` and
    ``sig`` as an image's, the token's name signed with the rest of the query), else the bearer
    token's. A wrong, expired or tampered signature, or a token the file no longer lists, is 403."""
    exp, sig, name = request.args.get("exp"), request.args.get("sig"), request.args.get("scope")
    if exp is None and sig is None and name is None:
        return bearer_scope(rules)
    g.oam_preview_signed_exp = _verified(rules, subject, exp, sig)
    token = rules.named(name or "")
    if token is None:
        raise AccessDenied("this signed URL's scope is no API token of the operator's")
    return Scope(token)


def shown(images: Iterable[Image]) -> None:
    """Note that this answer shows ``images``: when one is private now, it is ``Cache-Control:
    private`` (:func:`private_cache_control`)."""
    moment = privacy.now()
    if any(privacy.private_at(image, moment) for image in images):
        g.oam_preview_private = True


def signed_selection(
    rules: AccessRules, url: str, subject: str, scope: Scope, images: Iterable[Image]
) -> str:
    """A mosaic's or the footprints' ``url`` (``subject``) signed for ``scope``'s token, with
    ``scope=<its name>``, when the selection's ``images`` hold one private now (then the URL must
    work without the header: ``<img>``, QGIS, JOSM); else ``url`` as it is, the anonymous one."""
    exp = g.get("oam_preview_signed_exp")
    moment = privacy.now()
    if scope.token is None or exp is None or not rules.signing_key:
        return url
    if not any(privacy.private_at(image, moment) for image in images):
        return url
    parts = urllib.parse.urlsplit(url)
    pairs = [
        (k, v)
        for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
        if k not in ("exp", "sig", "scope")
    ]
    query = urllib.parse.urlencode([*pairs, ("scope", scope.token.name)], safe="{},")
    return sign_url(rules, urllib.parse.urlunsplit(parts._replace(query=query)), subject, exp)


def _verified(rules: AccessRules, subject: str, exp: str | None, sig: str | None) -> int:
    """The expiry of a valid signature for ``subject`` (an image id, :data:`MOSAIC`,
    :data:`FOOTPRINTS`) on this request; :class:`AccessDenied` otherwise."""
    if not rules.signing_key or not exp or not sig or not exp.isdigit() or len(exp) > 12:
        raise AccessDenied("this signed URL is not valid")
    expected = rules.signature(subject, rendering_of(request.args.items(multi=True)), int(exp))
    if not hmac.compare_digest(expected, sig.lower()):
        raise AccessDenied("this signed URL is not valid (its signature does not match)")
    if int(exp) <= privacy.now():
        raise AccessDenied("this signed URL has expired")
    return int(exp)


def signed(rules: AccessRules, doc: Any, image: Image) -> Any:
    """``doc`` (a Feature, a TileJSON, a URL) with each URL of ``image``'s routes signed, when
    ``image`` is private, this request was allowed it and there is a key to sign with; else
    ``doc`` as it is."""
    exp = g.get("oam_preview_signed_exp")
    if exp is None or not rules.signing_key or not privacy.private_at(image, privacy.now()):
        return doc
    marker = f"/api/images/{image.id}/"

    def sign(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: sign(v) for k, v in value.items()}
        if isinstance(value, list):
            return [sign(v) for v in value]
        if isinstance(value, str) and marker in value and value.startswith(("http://", "https://", "/")):
            return sign_url(rules, value, image.id, exp)
        return value

    return sign(doc)


def sign_url(rules: AccessRules, url: str, image_id: str, exp: int) -> str:
    """``url`` with ``exp`` and ``sig`` for ``image_id`` (or a selection's subject) added (a
    ``{z}/{x}/{y}`` template too)."""
    parts = urllib.parse.urlsplit(url)
    pairs = [
        (k, v)
        for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
        if k not in ("exp", "sig")
    ]
    sig = rules.signature(image_id, rendering_of(pairs), exp)
    query = urllib.parse.urlencode([*pairs, ("exp", str(exp)), ("sig", sig)], safe="{}")
    return urllib.parse.urlunsplit(parts._replace(query=query))


def private_cache_control(response: Response) -> Response:
    """``Cache-Control: private`` on every response about a private image (an ``after_request``).
    Anonymous answers vary on nothing (a shared cache keys on the URL alone): a front cache
    passes requests with an ``Authorization`` header by (deploy/nginx's ``proxy_cache_bypass``)."""
    if g.get("oam_preview_private"):
        response.headers["Cache-Control"] = PRIVATE_CACHE_CONTROL
        response.headers["Vary"] = "Authorization"
    return response
