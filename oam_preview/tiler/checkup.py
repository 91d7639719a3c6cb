"""Is this file ready? The health report of one GeoTIFF: :func:`check` -> :class:`Report`.

The report asks, in this order, each step with a deadline of its own
(``OAM_PREVIEW_UPSTREAM_TIMEOUT``), and stops at the first step the host does not answer
(that is its finding, in time):

1. the upstream policy (never a request to a refused address), then one ranged ``GET``
   (:func:`~oam_preview.remote.probe.probe`): status, ``Range`` support, length,
   ``ETag``/``Last-Modified``, redirects, the round trip, the TIFF header and ghost area;
2. the sidecars beside it (one ranged ``GET`` each, :data:`~oam_preview.remote.probe.SIDECARS`);
3. the first 256 px thumbnail, through a fresh :class:`~oam_preview.remote.opener.Opener`
   and :class:`~oam_preview.tiler.imagery.Imagery` (the server's own read, cold), then
   the header's layout (:func:`~oam_preview.tiler.structure.read_structure`);
4. the centre tile at the native zoom and at two overview zooms, each as cold as the
   first read of a worker that never opened the file (its cached bytes dropped).

**Bound**: 1 probe + 4 sidecar requests + the server's own requests for one thumbnail and
three tiles, each of those within the read budget (``OAM_PREVIEW_MAX_READ_MB``: a read over
it is not made). Each read's requests and bytes are counted as sent (GDAL's network
statistics and the policy's ``urlopen``; :mod:`oam_preview.remote.traffic`) and set against
the *minimum*: what a reader needs of an ideal COG of the same data (a HEAD, one
:data:`IDEAL_HEADER` read, and one read of exactly the pixels shown, at this file's
compressed bytes per pixel).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, NoReturn

from .. import deadline
from ..catalog.model import Image
from ..config import Settings
from ..errors import OamPreviewError, TooLarge, UpstreamForbidden, UpstreamTimeout
from ..geo.tiles import TMS, geographic_bounds
from ..remote.cloud_routes import CloudRoutes
from ..remote.gdal_safety import forget
from ..remote.gdal_settings import vsi_path
from ..remote.opener import Opener
from ..remote.policy import upstream_kind
from ..remote.probe import Reachability, probe, sidecars
from ..remote.traffic import CountingPolicy, Tally, gdal_tally, network_statistics
from ..remote.upstream import UpstreamGuard
from .budget import read_cost, thumbnail_size
from .findings import (
    Finding,
    collar_of,
    georeference_findings,
    layout_findings,
    overview_findings,
    pixel_findings,
)
from .fixes import fix_command
from .health_report import Measurement, Report
from .imagery import Imagery
from .info import ImageInfo
from .ogc import center
from .structure import Structure, cog_errors, read_structure

#: The thumbnail a report measures, pixels (the page's and the listing's).
THUMBNAIL = 256
#: Bytes of the header read of an ideal COG: GDAL's first read of a file.
IDEAL_HEADER = 16384
#: The requests of a cold read of an ideal COG: the version check's HEAD, the header, the pixels.
IDEAL_REQUESTS = 3
#: The TIFF magic numbers, either byte order, classic and BigTIFF.
TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
#: Codes of the findings that end a report: nothing after them can be asked.
FINAL = ("unreachable", "no_answer", "not_a_tiff", "no_range_requests")
#: Requests a report sends of its own before the server's reads: the probe and the sidecars.
OWN_REQUESTS = 5
#: The reads a report measures: a thumbnail and three tiles.
MEASURED_READS = 4


@dataclass
class _Run:
    """What one report has gathered so far."""

    url: str
    settings: Settings
    guard: UpstreamGuard | None
    policy: CountingPolicy
    findings: list[Finding] = field(default_factory=list)
    measurements: list[Measurement] = field(default_factory=list)
    length: int | None = None
    structure: Structure | None = None
    cog: tuple[str, ...] | None = None
    openers: list[Opener] = field(default_factory=list)

    @property
    def remote(self) -> bool:
        return upstream_kind(self.url) == "http"

    def tally(self) -> Tally:
        """What this report has sent so far: GDAL's requests for the file, and its own."""
        return gdal_tally(vsi_path(self.url)) + self.policy.tally if self.remote else Tally()

    def opener(self) -> Opener:
        """A fresh Opener, as a worker that never opened the file has (nothing pooled, nothing of
        the file in GDAL's cache: its first read is cold), whose requests count with this report's
        and which the serving worker's guard admits."""
        forget(vsi_path(self.url))  # GDAL's cached bytes of the file are process-wide
        opener = Opener(self.settings)
        self.openers.append(opener)  # closed when the report ends (check)
        opener.policy = self.policy
        if self.guard is not None:
            opener.guard = self.guard
        return opener


class _Stop(Exception):
    """The host failed a step: the report ends with that finding."""


@contextlib.contextmanager
def _step(settings: Settings) -> Iterator[None]:
    """One step of the report, with a deadline of its own (the caller's is restored after)."""
    before = deadline.current()
    deadline.start(settings.upstream_timeout)
    try:
        yield
    finally:
        deadline.resume(before)


def check(
    source: str, settings: Settings, guard: UpstreamGuard | None = None, image_id: str | None = None
) -> Report:
    """The health report of the GeoTIFF at ``source`` (a URL, or a local path), read as this
    server reads it with ``settings`` (its policy, deadline and read budget); ``guard``: the
    serving worker's, so the report's reads are admitted (and count) with its others."""
    policy = CountingPolicy.from_setting(settings.upstream_allow)
    assert isinstance(policy, CountingPolicy)
    routes = CloudRoutes(settings.sources)  # a cloud href read as the Opener reads it
    policy.locate = routes.locate
    run = _Run(routes.route(source), settings, guard, policy)
    try:
        with network_statistics():
            start = run.tally()
            with contextlib.suppress(_Stop):  # the finding that stopped it is in run.findings
                _gather(run)
            spent = run.tally() - start
    finally:
        for opener in run.openers:  # their reader threads, else a few more left by each report
            opener.close()
    findings = run.findings
    if run.measurements:
        findings.append(_cost_finding(run.measurements))
    command = None
    if run.structure is not None and any(f.fixable and f.severity != "ok" for f in findings):
        collar = next((f.evidence["value"] for f in findings if f.code == "collar_without_nodata"), None)
        sidecar = next((f for f in findings if f.code == "georeference_in_sidecar"), None)
        srs = sidecar.evidence["from_sidecars"].get("crs") if sidecar is not None else None
        command = fix_command(
            run.structure, source, collar, any(f.code == "gcps_only" for f in findings), srs
        )
    return Report(
        source=source,
        findings=tuple(f.with_fix(command) for f in findings),
        fix=command,
        cog=run.cog,
        requests=spent.requests if run.remote else None,
        bytes=spent.bytes if run.remote else None,
        image_id=image_id,
    )


def _gather(run: _Run) -> None:
    """Steps 1-4 of the module doc, each finding added to ``run`` as it is known."""
    settings = run.settings
    try:
        run.policy.check(run.url)
    except UpstreamForbidden as exc:
        _fail(run, exc)
    with _step(settings):
        reach = _asked(run, lambda: probe(run.url, settings.upstream_timeout, run.policy.urlopen))
    run.length = reach.length
    run.findings += _reach_findings(run, reach)
    with _step(settings):
        found = _asked(run, lambda: sidecars(run.url, settings.upstream_timeout, run.policy.urlopen))
    image = Image(id="report", source_url=run.url)
    opener = run.opener()
    imagery = Imagery(opener, settings)
    with _step(settings):
        thumbnail = _measure(run, "thumbnail", lambda: imagery.thumbnail(image, THUMBNAIL))
    with _step(settings):
        info: ImageInfo = _asked(run, lambda: imagery.info(image))
        structure: Structure = _asked(
            run, lambda: opener.read(run.url, lambda dataset: read_structure(dataset, reach.head))
        )
    external_ovr = found.get(".ovr") is not None
    run.structure, run.cog = structure, tuple(cog_errors(structure, external_ovr))
    width, height = thumbnail_size(info.width, info.height, THUMBNAIL)
    thumbnail_bytes = read_cost(info, info.width, info.height, width, height)
    run.findings += layout_findings(structure, run.cog, external_ovr)
    run.findings += overview_findings(structure, external_ovr, thumbnail_bytes, settings.max_read_mb * 1e6)
    run.findings += georeference_findings(structure, found)
    collar = None
    if thumbnail is not None and info.dtype == "uint8" and info.mode != "palette":
        collar = collar_of(thumbnail.data, thumbnail.mask)
    run.findings += pixel_findings(structure, collar)
    run.measurements[0] = _with_minimum(run, run.measurements[0], width * height)
    for z in _tile_zooms(info):
        _measure_tile(run, image, info, z)


def _asked(run: _Run, ask: Callable[[], Any]) -> Any:
    """``ask()``; a failure ends the report with its finding."""
    try:
        return ask()
    except OamPreviewError as exc:
        _fail(run, exc)


def _fail(run: _Run, exc: OamPreviewError) -> NoReturn:
    """End the report with the finding ``exc`` amounts to."""
    code = "no_answer" if isinstance(exc, UpstreamTimeout) else "unreachable"
    if "not a readable GeoTIFF" in exc.message:
        code = "not_a_tiff"
    sentence = {
        "no_answer": f"The server holding the file did not answer within {run.settings.upstream_timeout:g} s: "
        "the map would show nothing from it.",
        "unreachable": "The file cannot be read from where it is published: the map would show nothing "
        "from it.",
        "not_a_tiff": "The file at this address is not a readable GeoTIFF.",
    }[code]
    run.findings.append(Finding(code, "error", sentence, {"error": exc.code, "detail": exc.message}))
    raise _Stop


def _reach_findings(run: _Run, reach: Reachability) -> list[Finding]:
    """The note on reachability; not a TIFF, no Range requests, not cacheable (the first two end
    the report)."""
    evidence = {
        "status": reach.status or None,
        "range_requests": reach.range_supported,
        "length": reach.length,
        "etag": reach.etag,
        "last_modified": reach.last_modified,
        "redirected_to": reach.final_url or None,
        "round_trip_ms": round(reach.round_trip * 1000, 1) if run.remote else None,
    }
    note = "The file can be read from where it is published." if run.remote else "A local file."
    found = [Finding("reachable", "ok", note, evidence)]
    if reach.head[:4] not in TIFF_MAGIC:
        found.append(Finding("not_a_tiff", "error", "The file at this address is not a GeoTIFF.", evidence))
    elif not reach.range_supported:
        found.append(
            Finding(
                "no_range_requests",
                "error",
                "The server holding the file does not send parts of it (HTTP Range requests): every "
                "view would download the whole file.",
                evidence,
            )
        )
    elif run.remote and reach.etag is None and reach.last_modified is None:
        found.append(
            Finding(
                "not_cacheable",
                "warning",
                "The server holding the file sends neither ETag nor Last-Modified: a changed file "
                "cannot be told from the old one, so its tiles can't be kept long by browsers and CDNs.",
                evidence,
            )
        )
    if any(f.code in FINAL for f in found):
        run.findings += found
        raise _Stop
    return found


def _measure(run: _Run, what: str, read: Callable[[], Any]) -> Any:
    """``read()`` counted (see the module doc) into ``run.measurements``; its result, ``None``
    when it failed. A read over the budget is not made; a host failure ends the report."""
    before = run.tally()
    started = time.monotonic()
    result, error = None, None
    try:
        result = read()
    except TooLarge as exc:
        error = exc.code
    except OamPreviewError as exc:
        if isinstance(exc, UpstreamTimeout) or getattr(exc, "host_failure", False):
            _fail(run, exc)
        if not run.measurements and "not a readable GeoTIFF" in exc.message:
            _fail(run, exc)
        error = exc.code
    spent = run.tally() - before
    requests, nbytes = (spent.requests, spent.bytes) if run.remote else (None, None)
    run.measurements.append(Measurement(what, requests, nbytes, 0, 0, time.monotonic() - started, error))
    return result


def _with_minimum(run: _Run, measured: Measurement, pixels: float) -> Measurement:
    """``measured`` with the minimum of an ideal COG for ``pixels`` output pixels (see the
    module doc): the file's bytes per stored pixel (its overviews counted as a third more)."""
    s = run.structure
    assert s is not None
    stored = s.width * s.height * (4 / 3 if s.overviews else 1)
    per_pixel = (run.length or 0) / stored if stored else 0.0
    return replace(
        measured, minimum_requests=IDEAL_REQUESTS, minimum_bytes=IDEAL_HEADER + math.ceil(pixels * per_pixel)
    )


def _tile_zooms(info: ImageInfo) -> list[int]:
    """The native zoom and two overview zooms: one below it, and where the image is about one tile
    (at least two below)."""
    if info.native_zoom is None or info.min_zoom is None:
        return []
    native, low = info.native_zoom, info.min_zoom
    return sorted({native, max(0, native - 1), max(0, min(low, native - 2))}, reverse=True)


def _measure_tile(run: _Run, image: Image, info: ImageInfo, z: int) -> None:
    """The tile at zoom ``z`` under the image's centre, cold (see :meth:`_Run.opener`)."""
    assert info.bounds is not None
    w, s, e, n = info.bounds
    lon, lat, _ = center(info.bounds, z)  # across the antimeridian too
    tile = TMS.tile(lon, lat, z)
    imagery = Imagery(run.opener(), run.settings)
    with _step(run.settings):
        _measure(run, f"tile {z}/{tile.x}/{tile.y}", lambda: imagery.tile(image, z, tile.x, tile.y))
    tw, ts, te, tn = geographic_bounds(z, tile.x, tile.y)
    inside = max(0.0, min(te, e) - max(tw, w)) * max(0.0, min(tn, n) - max(ts, s)) if w <= e else 1.0
    share = inside / ((te - tw) * (tn - ts)) if te > tw and tn > ts else 1.0
    run.measurements[-1] = _with_minimum(run, run.measurements[-1], 256 * 256 * min(1.0, share))


def _cost_finding(measurements: list[Measurement]) -> Finding:
    """The note on what the reads cost, against an ideal COG's minimum."""
    first = measurements[0]
    if first.requests is None:
        sentence = "A local file: its reads were timed, not counted."
    else:
        sentence = (
            f"The first thumbnail took {first.requests} requests and {_kb(first.bytes)} "
            f"(an ideal file: {first.minimum_requests} requests, {_kb(first.minimum_bytes)})."
        )
    return Finding("cost", "ok", sentence, {"reads": [m.to_dict() for m in measurements]})


def _kb(nbytes: int | None) -> str:
    return "?" if nbytes is None else f"{nbytes / 1000:,.0f} kB"
