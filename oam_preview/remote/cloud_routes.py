"""How the Opener reaches cloud hrefs: the operator's profiles in force, the URL each href is read
as, the endpoint the upstream policy and the per-host guard see, and refused credentials.

The profiles are applied as GDAL path-specific options, process-wide; they are read again from
``OAM_PREVIEW_SOURCES`` when a store refuses a profile's credentials (expired, rotated), and a
refusal that outlives that one reload answers 502 naming the profile, never its secret; and when
the file's bytes change (:meth:`CloudRoutes.watch`, before requests), so that an operator's edit,
a privacy mark added or taken off included, applies with no restart.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import OamPreviewError, UpstreamError
from . import cloud
from .diagnosis import chained_message
from .gdal_safety import forget, forget_process_credentials, set_path_options, silence_gdal_debug
from .policy import upstream_kind
from .profiles import Sources

log = logging.getLogger(__name__)

#: Seconds between two reloads of the profiles on a refusal (see :meth:`CloudRoutes.reload`).
RELOAD_INTERVAL = 10.0
#: Seconds between two looks at the profiles file for an edit (see :meth:`CloudRoutes.watch`).
WATCH_INTERVAL = 5.0


def file_digest(file: str) -> str | None:
    """The SHA-256 of ``file``'s bytes; ``None`` when it cannot be read (or ``file`` is ``""``)."""
    if not file:
        return None
    try:
        return hashlib.sha256(Path(file).read_bytes()).hexdigest()
    except OSError:
        return None


class CredentialsRefused(UpstreamError):
    """A cloud store refused a profile's credentials (502 naming the profile, never the secret)."""


class CloudRoutes:
    """The profiles of ``file`` (``OAM_PREVIEW_SOURCES``, ``""``: none) and what follows from them."""

    def __init__(self, file: str) -> None:
        self.file = file
        self._lock = threading.Lock()
        self._reloaded = -math.inf  # time.monotonic() of the last reload
        self._watched = time.monotonic()  # of the last look at the file for an edit
        self._digest = file_digest(file)  # of the file the profiles in force were read from
        self._subscribers: list[Callable[[], None]] = []
        self.sources = Sources.load(file)
        if self.sources.profiles:
            self._apply(self.sources)

    def subscribe(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` each time the profiles are read anew (their marks may have changed:
        a catalog marked with :meth:`marks` is marked again). Its failures are logged."""
        self._subscribers.append(callback)

    def _notify(self) -> None:
        for callback in list(self._subscribers):
            try:
                callback()
            except Exception:  # noqa: BLE001 - a subscriber never fails a reload
                log.exception("a subscriber to OAM_PREVIEW_SOURCES reloads failed")

    def watch(self) -> bool:
        """Read the file again when its bytes changed since the profiles in force were read (an
        operator's edit: a key rotated, a ``private``/``embargo_until`` mark added or taken off),
        looking at most once in :data:`WATCH_INTERVAL` seconds; whether it was read again. Asked
        before each request, so an edit applies with no restart."""
        if not self.file:
            return False
        with self._lock:
            now = time.monotonic()
            if now - self._watched < WATCH_INTERVAL:
                return False
            self._watched = now
        digest = file_digest(self.file)
        if digest is None or digest == self._digest:
            return False
        self._read_again(digest)
        return True

    def _read_again(self, digest: str | None) -> None:
        """The profiles of the file (whose bytes had ``digest``, read before them: an edit after
        is seen by the next look) in force, GDAL's options set to them, and the subscribers told;
        a file that does not parse (half-written) keeps the profiles in force."""
        self._digest = digest
        try:
            sources = Sources.load(self.file)
        except ValueError as exc:
            log.warning("OAM_PREVIEW_SOURCES not reloaded: %s", exc)
            return
        with self._lock:
            self.sources = sources
            self._apply(sources)
        self._notify()

    @staticmethod
    def _apply(sources: Sources) -> None:
        """GDAL's path-specific options set to ``sources``' profiles; when they changed, what GDAL
        cached under the old ones (bytes, handles, credentials) is dropped: read anew, or refused.
        With a web-identity role, GDAL's debug messages are turned off: they would print its token."""
        if set_path_options(sources.path_options()):
            for prefix, _ in sources.path_options():
                forget(prefix)
        web_identity = any(profile.settings.get("role_arn") for profile in sources.profiles)
        if web_identity and silence_gdal_debug():
            log.warning("CPL_DEBUG turned off: GDAL's debug messages print a web identity's token")

    def route(self, url: str) -> str:
        """The URL a catalog's ``url`` is read as: an unprofiled ``s3://``/``gs://`` object as its
        public https URL (unsigned, as before profiles), a profiled one as its canonical href."""
        path = cloud.parse(url)
        if path is None:
            return url
        if self.sources.profile_for(path) is None:
            return path.public_url() or url  # az:// without a profile: refused by the policy
        return path.href

    def marks(self, url: str) -> dict[str, Any]:
        """The privacy marks (``private``, ``embargo_until``) of the profile in force covering the
        cloud object ``url``; ``{}`` for any other URL (see :meth:`Sources.marks_for`)."""
        return self.sources.marks_for(url)

    def locate(self, url: str) -> str | None:
        """The http(s) URL the cloud object ``url`` is fetched from (its profile's endpoint), for
        the upstream policy; ``None`` when no profile reads it."""
        path = cloud.parse(url)
        profile = self.sources.profile_for(path) if path else None
        return profile.object_url(path) if path and profile else None

    def located(self, url: str) -> str:
        """``url`` as the per-host guard counts it: a cloud object by its endpoint's host."""
        return (self.locate(url) or url) if upstream_kind(url) == "cloud" else url

    def reload(self) -> bool:
        """Read the file again and apply its profiles (credentials rotated in it), dropping GDAL's
        cached handles of every profiled path (its cached credentials go with them, and the session
        credentials GDAL keeps for the process when a profile uses them); at most once
        in :data:`RELOAD_INTERVAL` seconds (else ``False``: a refused object asked again and again
        must not flush every profiled object's cached bytes each time)."""
        with self._lock:
            now = time.monotonic()
            if now - self._reloaded < RELOAD_INTERVAL:
                return False
            self._reloaded = now
        self._read_again(file_digest(self.file))
        for prefix, _ in self.sources.path_options():
            forget(prefix)  # the same options too: GDAL's handles keep the credentials they had
        if any(profile.process_credentials for profile in self.sources.profiles):
            # A role's session credentials are GDAL's, process-wide, kept until their expiry
            # whatever the store says: dropped, GDAL asks STS (or the metadata service) anew.
            forget_process_credentials()
        return True

    def refused(self, url: str, exc: BaseException) -> CredentialsRefused | None:
        """The 502 naming ``url``'s profile when ``exc`` (GDAL's failure, or the API error made of
        it) says the store refused the profile: a 403, an S3 store's bare 400, or GDAL's words for
        refused credentials (GDAL 3.10 answers a 403 by looking for credentials again, outside the
        path's options, and says it found none); ``None`` for any other failure."""
        if isinstance(exc, CredentialsRefused):
            return exc
        path = cloud.parse(url)
        profile = self.sources.profile_for(path) if path else None
        if profile is None:
            return None
        message = chained_message(exc)
        status = exc.upstream_status if isinstance(exc, UpstreamError) else None
        # S3 refuses an expired or unknown session token with a 400 (ExpiredToken, InvalidToken),
        # and a HEAD's 400 has no words: GDAL says only "HTTP response code: 400".
        said_400 = profile.scheme == "s3" and (status == 400 or "response code: 400" in message.lower())
        if not (status == 403 or said_400 or cloud.is_credential_failure(message)):
            return None
        log.warning("the store refused the credentials of source profile %r", profile.name)
        return CredentialsRefused.credentials_refused(profile.name)  # type: ignore[return-value]

    def failure(self, url: str, exc: BaseException, said: OamPreviewError) -> OamPreviewError:
        """The API error of a failed open of the cloud object ``url``: :meth:`refused`'s; else, when
        GDAL passed on the store's own words (S3's ``<Message>``), those, naming the profile (any
        secret of the profiles taken out); else ``said``."""
        refused = self.refused(url, exc)
        if refused is not None:
            return refused
        path = cloud.parse(url)
        profile = self.sources.profile_for(path) if path else None
        if profile is None or not isinstance(said, UpstreamError) or said.upstream_status or said.unreachable:
            return said
        if said.message.startswith("the upstream file is not"):
            return said
        words = self.sources.redact(str(exc).strip())[:200]
        return UpstreamError(
            f"the cloud store did not serve the object to source profile {profile.name!r} ({words})"
        )
