"""Cloud object hrefs: ``s3://bucket/key``, ``gs://bucket/key``, ``az://container/key``.

What such an href is (:func:`parse`), the GDAL path that reads it (``/vsis3/``, ``/vsigs/``,
``/vsiaz/``), the public https URL an unprofiled ``s3://``/``gs://`` object is read from (as
before profiles existed: OAM's own records name ``s3://oin-hotosm/…``), and what GDAL says
when a cloud read is refused for its credentials. Which credentials and endpoint a path gets
is the operator's file's business (:mod:`~oam_preview.remote.profiles`).
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass

#: The schemes of cloud object hrefs, and GDAL's virtual file system of each.
GDAL_PREFIX = {"s3": "/vsis3/", "gs": "/vsigs/", "az": "/vsiaz/"}

#: A bucket or container name: what S3, GCS and Azure allow (lower case, digits, ``.-_``).
BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{1,221}[a-z0-9]$")


@dataclass(frozen=True)
class CloudPath:
    """One cloud object: ``scheme`` (``s3``, ``gs``, ``az``), ``bucket`` (an Azure container)
    and ``key`` (the object's name in it, no leading ``/``)."""

    scheme: str
    bucket: str
    key: str

    @property
    def href(self) -> str:
        """The canonical href: ``scheme://bucket/key``."""
        return f"{self.scheme}://{self.bucket}/{self.key}"

    @property
    def gdal_path(self) -> str:
        """The path GDAL opens: ``/vsis3/bucket/key`` and the like."""
        return f"{GDAL_PREFIX[self.scheme]}{self.bucket}/{self.key}"

    def public_url(self) -> str | None:
        """The public https URL of an ``s3://``/``gs://`` object; ``None`` for ``az://`` (an
        Azure container's URL needs its storage account, which only a profile names)."""
        key = urllib.parse.quote(self.key, safe="/~!$&'()*+,;=:@%-._")
        if self.scheme == "s3":
            return f"https://{self.bucket}.s3.amazonaws.com/{key}"
        if self.scheme == "gs":
            return f"https://storage.googleapis.com/{self.bucket}/{key}"
        return None


def parse(url: str) -> CloudPath | None:
    """``url`` as a :class:`CloudPath` when it is ``s3://``, ``gs://`` or ``az://`` with a
    bucket name and a key (the scheme in any case), else ``None``."""
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in GDAL_PREFIX:
        return None
    bucket, _, key = rest.partition("/")
    key = key.lstrip("/")
    if not BUCKET.match(bucket) or not key or "?" in key or "#" in key or ".." in key.split("/"):
        return None
    if any(ord(c) <= 32 or ord(c) >= 127 for c in key):
        return None
    return CloudPath(scheme, bucket, key)


def parse_prefix(text: str) -> CloudPath | None:
    """A bucket (``s3://bucket``) or a prefix in one (``s3://bucket/2024/``) as a :class:`CloudPath`
    whose ``key`` is the prefix (``""``: the whole bucket); ``None`` when it is neither."""
    scheme, sep, rest = text.partition("://")
    bucket, _, key = rest.partition("/")
    if not sep or scheme.lower() not in GDAL_PREFIX or not BUCKET.match(bucket):
        return None
    if any(ord(c) <= 32 or ord(c) >= 127 for c in key) or ".." in key.split("/"):
        return None
    return CloudPath(scheme.lower(), bucket, key)


#: What a cloud store answers when the credentials are out of date or unknown to it: S3's error
#: codes and the messages GDAL passes on (S3's ``<Message>``), Azure's and GCS's. The handle is then
#: reopened with fresh ones once. (A 403 "Access Denied" is not among them: an identity without
#: access stays without it.)
CREDENTIAL_ERRORS = (
    "expiredtoken",
    "token has expired",
    "invalidaccesskeyid",
    "access key id you provided does not exist",
    "invalidtoken",
    "token is malformed or otherwise invalid",
    "signaturedoesnotmatch",
    "signature we calculated does not match",
    "authenticationfailed",
    "server failed to authenticate the request",
    "invalid_grant",
    "invalid credentials",
    # GDAL 3.10 after a refused key: it looks for credentials again, outside the path's options.
    "configuration options not defined",
)


def is_credential_failure(message: str) -> bool:
    """Whether GDAL's ``message`` of a failed cloud read says the credentials were refused
    (expired, rotated, unknown), rather than the object missing or access not granted."""
    text = message.lower()
    return any(needle in text for needle in CREDENTIAL_ERRORS)
