"""The operator's credential profiles for cloud hrefs: the TOML file named by ``OAM_PREVIEW_SOURCES``.

A catalog record only names an object (``s3://bucket/key``); which identity reads it is the
operator's choice, never the record's: the file maps buckets or prefixes to profiles, and each
profile becomes GDAL *path-specific* options on its prefixes (``/vsis3/bucket/prefix``), so two
buckets under two identities are read by one process. ``requester_pays`` lists the only buckets
whose reads are billed to the reader: a typo fails a read (403) instead of billing the operator.

A cloud href no profile covers is read as before: an ``s3://``/``gs://`` object from its
public https URL, unsigned (``az://`` needs a profile: the container's account is in it).

A profile may also mark every image whose href it covers ``private = true`` and/or
``embargo_until`` (a date or datetime, as a record's property of that name): :meth:`Sources.marks_for`
gives those values, and :mod:`oam_preview.catalog.privacy` alone decides what they mean.

Secrets (keys, tokens, SAS) stay in :class:`Profile`'s fields hidden from ``repr``: errors and
logs name the profile, never its secret (:meth:`Sources.redact` for text from elsewhere).
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from ..config import read_settings_file
from .cloud import GDAL_PREFIX, CloudPath, parse, parse_prefix

#: Keys a profile may have, per scheme, beside :data:`COMMON_KEYS`.
SCHEME_KEYS = {
    "s3": {
        "access_key_id",
        "secret_access_key",
        "session_token",
        "aws_profile",
        "credentials_file",
        "config_file",
        "role_arn",
        "web_identity_token_file",
        "sts_endpoint",
        "virtual_hosting",
    },
    "az": {"account", "sas", "access_key"},
    "gs": {"service_account_file"},
}
#: The privacy marks a profile gives the images it covers (a record's properties of the same names).
MARK_KEYS = ("private", "embargo_until")
COMMON_KEYS = {"prefixes", "endpoint", "region", "anonymous", *MARK_KEYS}
#: The values never shown: not in repr, errors, logs, /healthz or /metrics.
SECRET_KEYS = ("secret_access_key", "session_token", "sas", "access_key")
#: Every AWS credential option GDAL reads: a profile sets each (empty when unused), so the
#: server's own environment (its AWS_* variables) never signs a profile's reads.
AWS_CREDENTIAL_OPTIONS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
)


@dataclass(frozen=True)
class Profile:
    """One named identity for the objects under ``prefixes`` (cloud hrefs of one scheme)."""

    name: str
    scheme: str
    prefixes: tuple[CloudPath, ...]  # key: the prefix inside the bucket ("" for the whole bucket)
    settings: dict[str, Any] = field(repr=False, compare=False)

    @property
    def endpoint(self) -> str:
        """The store's base URL (scheme, host, port, path), the default one of the scheme when unset."""
        given = self.settings.get("endpoint")
        if given:
            return str(given).rstrip("/")
        if self.scheme == "az":
            return f"https://{self.settings.get('account', '')}.blob.core.windows.net"
        if self.scheme == "gs":
            return "https://storage.googleapis.com"
        return "https://s3.amazonaws.com"

    def object_url(self, path: CloudPath) -> str:
        """The https/http URL ``path`` is fetched from: what the upstream policy checks and the
        per-host guard counts (path style; an S3 store with virtual hosting puts the bucket first)."""
        key = urllib.parse.quote(path.key, safe="/~!$&'()*+,;=:@%-._")
        endpoint = self.endpoint
        if self.scheme == "s3" and self._virtual_hosting:
            parts = urllib.parse.urlsplit(endpoint)
            return f"{parts.scheme}://{path.bucket}.{parts.netloc}/{key}"
        return f"{endpoint}/{path.bucket}/{key}"

    @property
    def _virtual_hosting(self) -> bool:
        return bool(self.settings.get("virtual_hosting", not self.settings.get("endpoint")))

    @property
    def marks(self) -> dict[str, Any]:
        """The privacy marks of this profile (``private``, ``embargo_until`` as an ISO string;
        ``{}``: none), checked when the file was read."""
        return {k: self.settings[k] for k in MARK_KEYS if self.settings.get(k) not in (None, False, "")}

    @property
    def process_credentials(self) -> bool:
        """Whether GDAL reads this profile with credentials it keeps for the whole process, not per
        path: an S3 profile with no keys of its own (a web-identity role, an AWS profile's assumed
        role, the machine's role), whose session credentials GDAL reuses until they expire."""
        s = self.settings
        return self.scheme == "s3" and not s.get("anonymous") and not s.get("access_key_id")

    @property
    def process_role(self) -> tuple[str, str, str] | None:
        """The role GDAL reads this profile as and keeps one set of session credentials of for the
        whole process (``(role_arn, web_identity_token_file, sts_endpoint)``; all empty: the machine's
        own), ``None`` when the profile's identity is its own (keys, anonymous, a named AWS profile)."""
        s = self.settings
        if not self.process_credentials or s.get("aws_profile"):
            return None
        return (
            str(s.get("role_arn", "")),
            str(s.get("web_identity_token_file", "")),
            str(s.get("sts_endpoint", "")),
        )

    def secrets(self) -> list[str]:
        """The values :meth:`Sources.redact` hides (the access key id too: a store's error may quote it)."""
        return [str(self.settings[k]) for k in (*SECRET_KEYS, "access_key_id") if self.settings.get(k)]

    def gdal_options(self, requester_pays: bool) -> dict[str, str]:
        """GDAL's configuration options for this profile's paths (strings, empty: unset)."""
        if self.scheme == "s3":
            return self._s3_options(requester_pays)
        if self.scheme == "az":
            return self._azure_options()
        return self._gcs_options()

    def _s3_options(self, requester_pays: bool) -> dict[str, str]:
        s = self.settings
        options = dict.fromkeys(AWS_CREDENTIAL_OPTIONS, "")
        options["AWS_NO_SIGN_REQUEST"] = "YES" if s.get("anonymous") else "NO"
        options["AWS_REQUEST_PAYER"] = "requester" if requester_pays else ""
        options["AWS_REGION"] = str(s.get("region") or "us-east-1")
        options["AWS_DEFAULT_REGION"] = options["AWS_REGION"]
        if not s.get("aws_profile"):
            # GDAL reads ~/.aws/credentials' [default] before a web identity or the machine's role:
            # the server user's files are not the profile's identity (empty: no file is read).
            options["CPL_AWS_CREDENTIALS_FILE"] = options["AWS_CONFIG_FILE"] = ""
        for key, option in (
            ("access_key_id", "AWS_ACCESS_KEY_ID"),
            ("secret_access_key", "AWS_SECRET_ACCESS_KEY"),
            ("session_token", "AWS_SESSION_TOKEN"),
            ("role_arn", "AWS_ROLE_ARN"),
            ("web_identity_token_file", "AWS_WEB_IDENTITY_TOKEN_FILE"),
            ("sts_endpoint", "CPL_AWS_STS_ROOT_URL"),  # the STS a web identity is exchanged at
            ("credentials_file", "CPL_AWS_CREDENTIALS_FILE"),
            ("config_file", "AWS_CONFIG_FILE"),
        ):
            if s.get(key):
                options[option] = str(s[key])
        # No CPL_AWS_AUTODETECT_EC2 here: GDAL reads it process-wide only, and static keys or an
        # anonymous profile never reach the metadata service anyway (GDAL's chain stops at them).
        if s.get("aws_profile"):
            options["AWS_PROFILE"] = options["AWS_DEFAULT_PROFILE"] = str(s["aws_profile"])
        if s.get("endpoint"):
            parts = urllib.parse.urlsplit(self.endpoint)
            options["AWS_S3_ENDPOINT"] = parts.netloc + parts.path
            options["AWS_HTTPS"] = "YES" if parts.scheme == "https" else "NO"
        options["AWS_VIRTUAL_HOSTING"] = "TRUE" if self._virtual_hosting else "FALSE"
        return options

    def _azure_options(self) -> dict[str, str]:
        s = self.settings
        account = str(s.get("account", ""))
        options = {
            "AZURE_STORAGE_ACCOUNT": account,
            "AZURE_STORAGE_ACCESS_KEY": str(s.get("access_key", "")),
            "AZURE_STORAGE_SAS_TOKEN": str(s.get("sas", "")).lstrip("?"),
            "AZURE_NO_SIGN_REQUEST": "YES" if s.get("anonymous") else "NO",
            "AZURE_STORAGE_CONNECTION_STRING": "",
        }
        if s.get("endpoint"):
            # GDAL takes a storage endpoint other than Azure's only from a connection string.
            parts = urllib.parse.urlsplit(self.endpoint)
            fields = [f"DefaultEndpointsProtocol={parts.scheme}", f"AccountName={account}"]
            if s.get("access_key"):
                fields.append(f"AccountKey={s['access_key']}")
            if s.get("sas"):
                fields.append(f"SharedAccessSignature={options['AZURE_STORAGE_SAS_TOKEN']}")
            fields.append(f"BlobEndpoint={self.endpoint}")
            options["AZURE_STORAGE_CONNECTION_STRING"] = ";".join(fields) + ";"
        return options

    def _gcs_options(self) -> dict[str, str]:
        s = self.settings
        options = {
            "GS_NO_SIGN_REQUEST": "YES" if s.get("anonymous") else "NO",
            "GOOGLE_APPLICATION_CREDENTIALS": str(s.get("service_account_file", "")),
            "GS_SECRET_ACCESS_KEY": "",
            "GS_ACCESS_KEY_ID": "",
        }
        if s.get("endpoint"):
            options["CPL_GS_ENDPOINT"] = self.endpoint + "/"
        return options


@dataclass(frozen=True)
class Sources:
    """The profiles of ``OAM_PREVIEW_SOURCES`` (none when unset) and the requester-pays buckets."""

    profiles: tuple[Profile, ...] = ()
    requester_pays: frozenset[str] = frozenset()
    file: str = ""

    @classmethod
    def load(cls, file: str) -> Sources:
        """The profiles of the TOML ``file`` (``""``: none). ``ValueError`` naming what is wrong."""
        if not file:
            return cls()
        document = read_settings_file("OAM_PREVIEW_SOURCES", file)
        return cls.parse(document, file)

    @classmethod
    def parse(cls, document: dict[str, Any], file: str = "") -> Sources:
        unknown = set(document) - {"profiles", "requester_pays"}
        if unknown:
            raise ValueError(f"OAM_PREVIEW_SOURCES: unknown top-level keys {sorted(unknown)}")
        profiles = tuple(_profile(name, body) for name, body in dict(document.get("profiles", {})).items())
        paying = document.get("requester_pays", [])
        if not isinstance(paying, list) or not all(isinstance(b, str) for b in paying):
            raise ValueError("OAM_PREVIEW_SOURCES: requester_pays is a list of bucket names")
        s3_buckets = {p.bucket for profile in profiles if profile.scheme == "s3" for p in profile.prefixes}
        for bucket in paying:
            if bucket not in s3_buckets:
                raise ValueError(f"OAM_PREVIEW_SOURCES: requester_pays bucket {bucket!r} has no s3 profile")
        _one_process_role(profiles)
        return cls(profiles, frozenset(paying), file)

    def profile_for(self, path: CloudPath) -> Profile | None:
        """The profile of the longest prefix holding ``path``, or ``None``."""
        best: tuple[int, Profile] | None = None
        for profile in self.profiles:
            if profile.scheme != path.scheme:
                continue
            for prefix in profile.prefixes:
                held = prefix.bucket == path.bucket and path.key.startswith(prefix.key)
                if held and (best is None or len(prefix.key) > best[0]):
                    best = (len(prefix.key), profile)
        return best[1] if best else None

    def marks_for(self, href: str) -> dict[str, Any]:
        """The privacy marks of the profile covering the cloud ``href`` (``{}``: none, or no profile)."""
        path = parse(href)
        profile = self.profile_for(path) if path else None
        return profile.marks if profile else {}

    def path_options(self) -> list[tuple[str, dict[str, str]]]:
        """``(GDAL path prefix, options)`` of every profile prefix, for GDAL's path-specific options;
        and of each bucket as GDAL names it bare (``/vsis3/bucket``, no slash: what GDAL 3.10 looks
        options up by when a file is missing), with the options of the bucket's shortest prefix.
        (GDAL prefers the longest matching prefix, so ``/vsis3/bucket`` never wins over another
        bucket's own entry; an unprofiled bucket is never read through ``/vsis3/`` at all.)"""
        entries: dict[str, dict[str, str]] = {}
        shortest: dict[str, int] = {}
        for profile in self.profiles:
            for p in profile.prefixes:
                options = profile.gdal_options(p.bucket in self.requester_pays)
                entries[f"{GDAL_PREFIX[p.scheme]}{p.bucket}/{p.key}"] = options
                bucket = f"{GDAL_PREFIX[p.scheme]}{p.bucket}"
                if len(p.key) < shortest.get(bucket, 1 << 30):
                    shortest[bucket] = len(p.key)
                    entries[bucket] = options
        return list(entries.items())

    def redact(self, text: str) -> str:
        """``text`` with every secret of the file replaced (for messages that came from elsewhere)."""
        for profile in self.profiles:
            for secret in profile.secrets():
                text = text.replace(secret, "[secret]")
        return text


def _one_process_role(profiles: tuple[Profile, ...]) -> None:
    """``ValueError`` when two profiles take different roles (web identity, or the machine's own):
    GDAL 3.10 keeps one set of session credentials per process and hands it to every keyless
    profile until it expires (port/cpl_aws.cpp, ``GetConfigurationFromAssumeRoleWithWebIdentity``
    answers from it before it looks at the path's role), so the second role's buckets would be read
    as the first role."""
    roles: dict[tuple[str, str, str], str] = {}
    for profile in profiles:
        role = profile.process_role
        if role is not None:
            roles.setdefault(role, profile.name)
    if len(roles) > 1:
        names = sorted(roles.values())
        raise ValueError(
            f"OAM_PREVIEW_SOURCES: profiles {names} take different roles (role_arn, "
            "web_identity_token_file, sts_endpoint, or none: the machine's own); GDAL keeps one "
            "role's session credentials per process, so one role per server"
        )


def _profile(name: str, body: Any) -> Profile:
    """One ``[profiles.NAME]`` table, checked."""
    where = f"OAM_PREVIEW_SOURCES profile {name!r}"
    if not isinstance(body, dict):
        raise ValueError(f"{where}: a table is expected")
    raw = body.get("prefixes")
    if isinstance(raw, str):
        raw = [raw]
    if not raw or not isinstance(raw, list):
        raise ValueError(f"{where}: prefixes (s3://bucket/…, gs://…, az://container/…) are required")
    prefixes = []
    for text in raw:
        prefix = parse_prefix(str(text))
        if prefix is None:
            raise ValueError(f"{where}: {text!r} is not an s3://, gs:// or az:// bucket or prefix")
        prefixes.append(prefix)
    schemes = {p.scheme for p in prefixes}
    if len(schemes) != 1:
        raise ValueError(f"{where}: prefixes of one scheme only (one identity, one store)")
    scheme = schemes.pop()
    unknown = set(body) - COMMON_KEYS - SCHEME_KEYS[scheme]
    if unknown:
        raise ValueError(f"{where}: keys {sorted(unknown)} are not {scheme} profile keys")
    endpoint = body.get("endpoint")
    if endpoint and urllib.parse.urlsplit(str(endpoint)).scheme not in ("http", "https"):
        raise ValueError(f"{where}: endpoint is an http(s) URL (https://minio.example.org:9000)")
    if scheme == "az" and not body.get("account"):
        raise ValueError(f"{where}: account (the storage account) is required")
    settings = dict(body)
    if not isinstance(body.get("private", False), bool):
        raise ValueError(f"{where}: private is true or false")
    if "embargo_until" in body:
        settings["embargo_until"] = _embargo_text(body["embargo_until"], where)
    return Profile(name, scheme, tuple(prefixes), settings)


def _embargo_text(value: Any, where: str) -> str:
    """A profile's ``embargo_until`` (a TOML date or datetime, or an ISO 8601 string) as the ISO
    string a record would give; ``ValueError`` when it is no date (an operator's typo fails the
    start, where a record's keeps its image private: see :func:`oam_preview.catalog.privacy.embargo_end`)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, str):
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return value
    raise ValueError(f"{where}: embargo_until is a date or datetime (2027-01-01, 2027-01-01T12:00:00Z)")
