"""The one seam for remote reads: a pool of open datasets, reads by the request's deadline, typed errors.

Everything that touches a remote GeoTIFF goes through :class:`Opener`. It opens
``http(s)`` URLs through GDAL's ``/vsicurl/`` with the settings of
:mod:`~oam_preview.remote.gdal_settings` (tuned for cloud-optimized GeoTIFFs), keeps
open datasets for reuse (rasterio datasets are not thread-safe, so each one is
checked out by one thread at a time), and turns GDAL's failures into the
:mod:`oam_preview.errors` of API.md.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import contextvars
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import rasterio

from .. import deadline
from ..config import Settings
from ..errors import HostUnavailable, OamPreviewError, UpstreamError, UpstreamForbidden, UpstreamTimeout
from ..memo import KeyedLocks
from .cloud_routes import CloudRoutes
from .diagnosis import GDAL_ERRORS, classify, diagnose, upstream_errors
from .egress import RelayAccess, relay_access
from .freshness import Freshness, Version, changed, cloud_head, head, version_token
from .gdal_safety import forget, open_geotiff, restrict_drivers
from .gdal_settings import gdal_options, quiet_reader_warnings, set_block_cache, vsi_path, worker_cache_bytes
from .lends import Lends
from .policy import UpstreamPolicy, upstream_kind
from .pool import DatasetPool
from .reader_threads import ReaderThreads, on_reader_thread
from .traffic import note_read, start_network_statistics
from .upstream import UpstreamGuard

log = logging.getLogger(__name__)

T = TypeVar("T")
#: Threads per worker process that run GDAL reads (see :meth:`Opener.read`). A read stuck on a
#: hanging host holds one until GDAL gives up; the bulkhead bounds those per host.
READ_THREADS = 64
#: Seconds after which a request for a version token other than the one this worker knows
#: rechecks the file (see :meth:`Opener.checked`): at most one HEAD this often per file.
HINT_RECHECK = 2.0


class Opener:
    """Open datasets for URLs and keep them for reuse.

    ``open(url)`` is a context manager lending a dataset to the calling thread;
    on normal exit the dataset goes back to the pool (at most ``pool_size``
    idle datasets, least recently used closed first), on an upstream error it
    is closed, so a broken handle is never reused.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.options = gdal_options(settings)
        #: Bytes of each of GDAL's two caches in this process (its share of the machine's).
        self.gdal_cache_bytes = worker_cache_bytes(settings)
        set_block_cache(self.gdal_cache_bytes)
        self.guard = UpstreamGuard(settings)
        self.cloud = CloudRoutes(
            settings.sources
        )  # s3://, gs://, az:// (see oam_preview.remote.cloud_routes)
        self.route = self.cloud.route
        self.policy = UpstreamPolicy.from_setting(settings.upstream_allow)
        self.policy.locate = self.cloud.locate
        # GDAL follows redirects and resolves names itself: with the policy on, its connections
        # pass the policy again in a relay process (see oam_preview.remote.egress).
        self._relay_connect_timeout = float(self.options["GDAL_HTTP_CONNECTTIMEOUT"]) + 1
        if not self.policy.allowance.anything:
            self._relay()  # started now, not in the first reader's time (again after a fork)
        restrict_drivers(settings.gdal_drivers)  # see oam_preview.remote.gdal_safety
        start_network_statistics()  # before any read: see oam_preview.remote.traffic
        quiet_reader_warnings()
        self._pool = DatasetPool(settings.dataset_pool_size)
        self._lock = threading.Lock()
        # Concurrent first requests for a file open it one at a time: only the first
        # reads the header upstream, the others open from GDAL's /vsicurl/ cache.
        self._opening = KeyedLocks()
        # Datasets out, by generation: a new version's reads wait for the old one's (see lends).
        self._lends = Lends()
        # Upstream files change under the same URL: each is rechecked (one HEAD) at
        # most every `upstream_recheck` seconds, and a new version drops what this
        # worker kept of the old one.
        self._fresh: dict[str, Freshness] = {}
        # Opens started beside a first HEAD (see checked), with when, until a read waits for them.
        self._early: dict[str, tuple[concurrent.futures.Future[None], float]] = {}
        self._readers = ReaderThreads(READ_THREADS)

    def checked(self, url: str, hint: str | None = None, reading: bool = False) -> Version:
        """This worker's :class:`Version` of ``url``'s content, after asking upstream when due.

        At a file's first use, and then at most every ``upstream_recheck``
        seconds (0: never again), one HEAD through the guard, within the
        request's deadline, tells the file's ETag, length and Last-Modified:
        the first answer gives the version token; a later one that shows a
        change (new ETag or length, or modified later) drops the pool's
        datasets and GDAL's cached bytes of ``url`` and raises the generation,
        so everything keyed by it is computed anew and the token is new. A
        HEAD that fails changes nothing (a token not yet known stays unknown).
        Concurrent first uses send one HEAD and wait for it (within their
        deadline), so they all key their responses alike.
        ``hint`` is the token a client asked for: another than ours may be
        one that another worker has seen, so it is due sooner
        (:data:`HINT_RECHECK`), lest old pixels be served under a new URL.
        ``reading``: the caller reads ``url`` next, so a first use opens it (on a
        reader thread, into the pool) while the HEAD is out: the HEAD costs no
        round trip of its own. Both reach the server within a round trip of each
        other, so the dataset is of the version the token names but for a file
        replaced in that instant. (When the caller's answer is then found in a
        cache, the dataset waits in the pool: a header read made early.)
        """
        url = self.route(url)
        self.policy.check(url)  # before anything is sent
        pending: Freshness | None = None
        with self._lock:
            known = self._fresh.get(url)
            first = known is None
            if known is None:
                known = self._fresh[url] = Freshness()
            elif not known.first_head.is_set():
                pending = known
            else:
                ttl = self.settings.upstream_recheck
                if hint is not None and hint != known.token:
                    ttl = min(ttl, HINT_RECHECK)
                if not ttl or time.monotonic() - known.checked_at < ttl:
                    return Version(known.generation, known.token)
                known.checked_at = time.monotonic()  # one recheck at a time, even if it fails
        if pending is not None:
            pending.first_head.wait(max(0.0, deadline.remaining(self.settings.upstream_timeout)))
            return self.known(url)
        if first and reading:
            self._open_early(url)
        try:
            return self._learn(url, known, first, self._head(url))
        finally:
            known.first_head.set()

    def _open_early(self, url: str) -> None:
        """Open ``url`` into the pool on a reader thread (see :meth:`checked`); the read that
        follows waits for it (:meth:`open`), and is told its failure: a broken file is asked once."""
        at = deadline.current()

        def run() -> None:
            deadline.resume(at)
            with self._lend(url, False):
                pass

        future = self._readers.submit(lambda: contextvars.Context().run(run))
        with self._lock:
            self._early[url] = (future, time.monotonic())

    def _await_early(self, url: str) -> None:
        """Wait for an early open of ``url`` (:meth:`_open_early`) by the request's deadline;
        raise its failure if it failed lately (it counted with the guard already)."""
        with self._lock:
            early = self._early.pop(url, None)
        if early is None:
            return
        future, started = early
        try:
            future.result(timeout=max(0.0, deadline.remaining(self.settings.upstream_timeout)))
        except concurrent.futures.TimeoutError:
            return  # still opening: the read waits for it in the pool (one open at a time)
        except OamPreviewError:
            if time.monotonic() - started <= 2 * self.settings.upstream_timeout:
                raise
        except Exception:  # GDAL's own, mapped when the read opens anew
            return

    def _learn(
        self,
        url: str,
        known: Freshness,
        first: bool,
        answer: tuple[str | None, str | None, float | None] | None,
    ) -> Version:
        """Record a HEAD's ``answer`` about ``url`` (see :meth:`checked`); the version it leaves."""
        with self._lock:
            if answer is None:
                return Version(known.generation, known.token)
            etag, length, modified_at = answer
            is_new = not first and changed(known, etag, length, modified_at)
            if is_new:
                known.generation += 1
                known.opened_at = time.time()
            if is_new or known.token is None:
                # Else the token stays: a mirror answering an older Last-Modified is no new version.
                known.token = version_token(url, etag, length, modified_at)
            known.etag, known.length, known.modified_at = etag, length, modified_at
            if is_new:
                # Under the lock: no thread sees the new token before the old datasets and bytes
                # are gone (a pooled dataset of the old file would draw it under the new URL).
                self._invalidate(url)
            version = Version(known.generation, known.token)
        if is_new:
            log.info("upstream %s changed: dropped what this worker kept of it", url)
        return version

    def _head(self, url: str) -> tuple[str | None, str | None, float | None] | None:
        """:func:`~oam_preview.remote.freshness.head` through the guard, answered by the request's
        deadline (on a reader thread, as :meth:`read`: a server may trickle its headers);
        ``None`` when it failed or came too late, or for a local path."""
        left = deadline.remaining(self.settings.upstream_timeout)
        if left <= 0:
            return None

        def ask() -> tuple[str | None, str | None, float | None] | None:
            with self.guard.request(self.cloud.located(url)):
                if upstream_kind(url) == "cloud":
                    with self.env():
                        return cloud_head(vsi_path(url))
                return head(url, left, self.policy.urlopen)

        if on_reader_thread():  # already off the request's thread, which waits by its deadline
            try:
                return ask()
            except UpstreamForbidden:
                raise  # a redirect into a refused network: the URL is not read at all
            except OamPreviewError:
                return None
        context = contextvars.copy_context()
        future = self._readers.submit(lambda: context.run(ask))
        try:
            return future.result(timeout=left)
        except UpstreamForbidden:
            raise
        except (concurrent.futures.TimeoutError, OamPreviewError):
            return None

    def _changed(self, url: str, generation: int) -> bool:
        """Whether ``url`` has changed since ``generation``, by a recheck (one HEAD) made due now;
        never when rechecks are off."""
        with self._lock:
            known = self._fresh.get(url)
            if known is None or not known.first_head.is_set():
                return False
            known.checked_at = -math.inf
        return self.checked(url).generation != generation

    def known(self, url: str) -> Version:
        """This worker's :class:`Version` of ``url`` as last checked (no upstream request)."""
        url = self.route(url)
        with self._lock:
            known = self._fresh.get(url)
            return Version(known.generation, known.token) if known else Version()

    def _invalidate(self, url: str) -> None:
        self._pool.drop(url)
        forget(vsi_path(url))

    def close(self) -> None:
        """Done with this Opener (one made for a single job, a report's): its idle datasets are
        closed and its reader threads end after the reads already asked of them."""
        self._readers.close()
        self._pool.clear()

    def generation(self, url: str) -> int:
        """This worker's generation of ``url``'s content, as last checked (no upstream request)."""
        return self.known(url).generation

    def _relay(self) -> RelayAccess:
        return relay_access(self.settings.upstream_allow, self._relay_connect_timeout)

    @contextlib.contextmanager
    def env(self) -> Iterator[None]:
        """GDAL settings for the calling thread, with errors mapped to API errors."""
        options = self.options
        if not self.policy.allowance.anything:
            options = {**options, **self._relay().gdal_options()}
        with rasterio.Env(**options), upstream_errors(self.settings.upstream_timeout):
            yield

    @contextlib.contextmanager
    def open(self, url: str, sidecars: bool = False) -> Iterator[Any]:
        """Lend a dataset for ``url``; ``sidecars`` also looks for ``.ovr``/``.msk`` files.

        A file is not opened before its first HEAD is sent (:meth:`checked`): else a
        dataset opened early (the catalog's header reads) could be of a version
        that the first HEAD, seeing only the new one, would not know to drop."""
        url = self.route(url)
        self.policy.check(url)
        if url not in self._fresh:
            self.checked(url)
        if not sidecars:
            self._await_early(url)
        with self._lend(url, sidecars) as dataset:
            yield dataset

    @contextlib.contextmanager
    def _lend(self, url: str, sidecars: bool) -> Iterator[Any]:
        """:meth:`open` once the file's first HEAD is sent: a dataset from the pool, else opened;
        of a file replaced since some reads began, once those reads are done
        (:class:`~oam_preview.remote.lends.Lends`: their late bytes would reach GDAL's cache)."""
        key = (url, sidecars)
        generation = self.generation(url)
        try:
            self._lends.begin(
                url,
                generation,
                deadline.remaining(self.settings.upstream_timeout),
                lambda: forget(vsi_path(url)),
            )
        except TimeoutError:
            raise UpstreamTimeout("a read of this file's previous version did not end in time") from None
        try:
            with self._lent(key, generation) as dataset:
                yield dataset
        finally:
            self._lends.end(url, generation, self.generation(url))

    @contextlib.contextmanager
    def _lent(self, key: tuple[str, bool], generation: int) -> Iterator[Any]:
        """:meth:`_lend`'s dataset for ``key`` (url, sidecars) of the url's ``generation``, once its
        lend is counted."""
        url, sidecars = key
        with self.guard.request(self.cloud.located(url)):
            dataset = self._pool.take(key)
            with self.env():
                if dataset is None:
                    with self._opening(key):
                        dataset = self._pool.take(key)  # one may have come back while we waited
                        if dataset is None:
                            try:
                                dataset = open_geotiff(vsi_path(url), sidecars)
                            except GDAL_ERRORS as exc:
                                # Else GDAL answers the next open from its failure cache.
                                forget(vsi_path(url))
                                raise self._open_failure(url, exc) from exc
                try:
                    yield dataset
                except BaseException as exc:
                    dataset.close()
                    if isinstance(exc, (*GDAL_ERRORS, UpstreamError, UpstreamTimeout)):
                        forget(vsi_path(url))
                    raise
            if self.generation(url) == generation:
                self._pool.give(key, dataset)
            else:  # the file changed while this dataset was out: don't pool the old version
                dataset.close()

    def _open_failure(self, url: str, exc: Exception) -> OamPreviewError:
        """Why opening ``url`` failed: asked of the server (8 bytes) in the time the request has left.
        Past the deadline it was slowness: a trickled header reads as "not a TIFF" to GDAL."""
        said = classify(str(exc))
        if upstream_kind(url) == "cloud":  # read through GDAL with a profile's credentials: no probe of ours
            return self.cloud.failure(url, exc, said)
        if isinstance(said, UpstreamForbidden):
            # The relay refused a hop of GDAL's (a redirect inside): refused from now on, and counted.
            self.policy.refuse_redirect(url)
            try:
                self.policy.check(url)
            except UpstreamForbidden as refused:
                return refused
            return said
        left = deadline.remaining(self.settings.upstream_timeout)
        if left <= 0:
            return UpstreamTimeout.no_answer()
        return diagnose(url, left, self.policy.urlopen) or said

    def read(self, url: str, work: Callable[[Any], T], sidecars: bool = False) -> T:
        """``work(dataset)`` on a dataset of ``url`` (see :meth:`open`), answered by the request's
        deadline (:mod:`oam_preview.deadline`).

        GDAL cannot be interrupted and fixes its HTTP timeouts when a dataset is
        opened, so the work runs on a reader thread while the request waits at
        most the time it has left; past it the request answers 504 and the
        read finishes (or fails) on its own, its dataset then pooled or closed.
        """
        note_read()  # GDAL's network statistics kept bounded (see oam_preview.remote.traffic)
        url = self.route(url)
        left = deadline.remaining(self.settings.upstream_timeout)
        if left <= 0:
            raise UpstreamTimeout.no_answer()

        at = deadline.current()

        def run() -> T:
            deadline.resume(at)
            generation = self.generation(url)
            try:
                with self.open(url, sidecars=sidecars) as dataset:
                    return work(dataset)
            except UpstreamError as exc:
                refused = self.cloud.refused(url, exc)
                if refused is not None:
                    # Expired or rotated: the profiles read anew and the handle reopened with
                    # them, once; then the 502 naming the profile.
                    if not self.cloud.reload():
                        raise refused from None
                    self._pool.clear()
                else:
                    # A file replaced under the same URL reads as garbage through a dataset of the
                    # old one (its block offsets) until the next recheck: recheck it now, and read
                    # the new version if that is what it was.
                    the_file = not (
                        exc.host_failure or exc.upstream_status or isinstance(exc, HostUnavailable)
                    )
                    if not the_file or not self._changed(url, generation):
                        raise
            try:
                with self.open(url, sidecars=sidecars) as dataset:
                    return work(dataset)
            except UpstreamError as exc:
                raise self.cloud.refused(url, exc) or exc from None

        # A fresh context, not a copy of the request's: rasterio keeps its error stack in a
        # context variable holding a list, and a copy would share that list with a read of
        # the same request thread still running in the background (its errors became ours).
        future = self._readers.submit(lambda: contextvars.Context().run(run))
        try:
            return future.result(timeout=left)
        except concurrent.futures.TimeoutError:
            raise UpstreamTimeout("the server holding the GeoTIFF did not send the data in time") from None
