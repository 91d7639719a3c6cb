"""The upstream guard: circuit breaker and read slots per host, and upstream faults mapped to API.md.

Unit tests drive :class:`UpstreamGuard` with a fake clock; the others run the
app against :mod:`tests.support.fault_server`, a real HTTP server in a child
process whose faults are switched at run time, and count what it was asked.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from oam_preview import create_app
from oam_preview.catalog import load_document
from oam_preview.config import Settings
from oam_preview.errors import HostBusy, HostUnavailable, UpstreamError, UpstreamTimeout
from oam_preview.remote.diagnosis import classify
from oam_preview.remote.upstream import UpstreamGuard, host_of, is_host_failure

from .support.catalog_documents import catalog_doc
from .support.fault_server import FaultServer

URL = "http://tiles.example.org/a.tif"


class Clock:
    """A monotonic clock the test moves by hand, seconds."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def guard(clock: Clock | None = None, **settings: float) -> UpstreamGuard:
    values = {"breaker_failures": 3, "breaker_cooldown": 10.0, **settings}
    return UpstreamGuard(Settings(**values), clock=clock or Clock())  # type: ignore[arg-type]


def fail(g: UpstreamGuard, exc: Exception, url: str = URL) -> None:
    with pytest.raises(type(exc)), g.request(url):
        raise exc


def succeed(g: UpstreamGuard, url: str = URL) -> None:
    with g.request(url):
        pass


# -- classification ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gdal_message", "host_failure"),
    [
        ("Operation timed out after 1000 milliseconds", True),
        ("Couldn't connect to server", True),
        ("Recv failure: Connection reset by peer", True),
        ("HTTP response code: 503", True),
        ("HTTP response code: 500", True),
        ("HTTP response code: 429", True),
        ("HTTP response code: 404", False),
        ("HTTP response code: 403", False),
        ("'/vsicurl/x' not recognized as being in a supported file format.", False),
        ("TIFFReadEncodedTile() failed.", False),
    ],
)
def test_what_counts_as_a_host_failure(gdal_message, host_failure):
    # Pinned against the opener's own classification, so a reworded message is caught here.
    assert is_host_failure(classify(gdal_message)) is host_failure


def test_own_admission_errors_are_not_host_failures():
    assert not is_host_failure(HostBusy("busy"))
    assert not is_host_failure(HostUnavailable("open", 3))
    assert HostUnavailable("open", 3).status == 502 and HostBusy("busy").status == 504


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("http://Example.org/a.tif", "example.org:80"),
        ("https://example.org/a.tif?sig=1", "example.org:443"),
        ("http://127.0.0.1:8080/x", "127.0.0.1:8080"),
        ("/data/a.tif", None),
        ("file:///data/a.tif", None),
    ],
)
def test_host_of(url, host):
    assert host_of(url) == host


# -- circuit breaker -----------------------------------------------------------------------


def test_breaker_opens_after_consecutive_failures_then_probes_and_closes():
    clock = Clock()
    g = guard(clock)
    for _ in range(3):
        fail(g, UpstreamError("the server holding the GeoTIFF is unreachable", unreachable=True))
    assert g.status()["open_hosts"] == ["tiles.example.org:80"]
    entered = []
    with pytest.raises(HostUnavailable) as info, g.request(URL):
        entered.append(True)
    assert not entered, "an open breaker must not let the read happen"
    assert info.value.headers["Retry-After"] == "10"
    clock.now += 10.5  # cool-down over: one probe is let through, the others still fail fast
    probe = g.request(URL)
    probe.__enter__()
    with pytest.raises(HostUnavailable), g.request(URL):
        pass
    probe.__exit__(None, None, None)
    host = g.status()["hosts"]["tiles.example.org:80"]
    assert host["state"] == "closed" and host["consecutive_failures"] == 0 and host["trips"] == 1
    assert host["rejected"] == 2
    succeed(g)


def test_failed_probe_reopens_for_another_cooldown():
    clock = Clock()
    g = guard(clock)
    for _ in range(3):
        fail(g, UpstreamTimeout("slow"))
    clock.now += 11
    fail(g, UpstreamTimeout("still slow"))
    assert g.status()["hosts"]["tiles.example.org:80"]["state"] == "open"
    clock.now += 9
    with pytest.raises(HostUnavailable):
        succeed(g)
    clock.now += 2
    succeed(g)
    assert g.status()["hosts"]["tiles.example.org:80"]["trips"] == 2


def test_file_failures_do_not_trip_the_host_and_reset_the_count():
    g = guard()
    for _ in range(2):
        fail(g, UpstreamTimeout("slow"))
    for _ in range(10):  # a missing or corrupt file: the host answered
        fail(g, UpstreamError("the server holding the GeoTIFF answered HTTP 404", upstream_status=404))
        fail(g, UpstreamError("the upstream file is not a readable GeoTIFF"))
    for _ in range(2):
        fail(g, UpstreamTimeout("slow"))
    assert g.status()["hosts"]["tiles.example.org:80"]["state"] == "closed"


def test_client_errors_and_bugs_do_not_count():
    g = guard()
    for _ in range(5):
        fail(g, ValueError("a bug, not the host"))
    assert g.status()["open_hosts"] == []


def test_hosts_are_independent_and_local_paths_unguarded():
    g = guard()
    for _ in range(3):
        fail(g, UpstreamTimeout("slow"))
    succeed(g, "http://other.example.org/b.tif")
    succeed(g, "/local/file.tif")
    assert set(g.status()["hosts"]) == {"tiles.example.org:80", "other.example.org:80"}


# -- read slots ----------------------------------------------------------------------------


def hold(g: UpstreamGuard, url: str, release: threading.Event, entered: threading.Semaphore) -> None:
    with g.request(url):
        entered.release()
        release.wait(10)


def test_reads_per_host_and_per_image_are_bounded():
    g = UpstreamGuard(Settings(upstream_host_reads=3, upstream_image_reads=2, upstream_queue_timeout=0.2))
    release, entered = threading.Event(), threading.Semaphore(0)
    urls = [URL, URL, "http://tiles.example.org/b.tif"]
    threads = [threading.Thread(target=hold, args=(g, u, release, entered)) for u in urls]
    for t in threads:
        t.start()
    for _ in urls:
        assert entered.acquire(timeout=5)
    try:
        assert g.status()["hosts"]["tiles.example.org:80"]["reads"] == 3  # all three admitted
        started = time.monotonic()
        with pytest.raises(HostBusy), g.request("http://tiles.example.org/c.tif"):  # host full
            pass
        assert time.monotonic() - started >= 0.2
        succeed(g, "http://elsewhere.example.org/a.tif")  # another host is not affected
        assert g.status()["busy_rejections"] == 1
        assert g.status()["hosts"]["tiles.example.org:80"]["reads"] == 3
    finally:
        release.set()
        for t in threads:
            t.join(5)
    assert g.status()["hosts"]["tiles.example.org:80"]["reads"] == 0
    succeed(g)  # the slots came back
    # Per image: two reads of a.tif in flight leave b.tif its slot, a third a.tif waits.
    release.clear()
    threads = [threading.Thread(target=hold, args=(g, URL, release, entered)) for _ in range(2)]
    for t in threads:
        t.start()
    for _ in threads:
        assert entered.acquire(timeout=5)
    try:
        with pytest.raises(HostBusy), g.request(URL):
            pass
        succeed(g, "http://tiles.example.org/b.tif")
    finally:
        release.set()
        for t in threads:
            t.join(5)


def test_a_waiting_read_gets_the_slot_when_one_frees():
    g = UpstreamGuard(Settings(upstream_host_reads=1, upstream_queue_timeout=5))
    release, entered = threading.Event(), threading.Semaphore(0)
    t = threading.Thread(target=hold, args=(g, URL, release, entered))
    t.start()
    assert entered.acquire(timeout=5)
    threading.Timer(0.2, release.set).start()
    succeed(g, URL)  # waits ~0.2 s, then reads
    t.join(5)


def test_stalled_reads_turn_new_ones_away_at_once():
    """A slow host frees no slot soon: waiting for one would only take a thread from other images."""
    clock = Clock()
    g = UpstreamGuard(Settings(upstream_host_reads=1, upstream_queue_timeout=2), clock=clock)
    release, entered = threading.Event(), threading.Semaphore(0)
    t = threading.Thread(target=hold, args=(g, URL, release, entered))
    t.start()
    assert entered.acquire(timeout=5)
    try:
        clock.now += 0.7  # no slot turned over for over a third of the 2 s queue timeout
        started = time.monotonic()
        with pytest.raises(HostBusy, match="slow"), g.request("http://tiles.example.org/other.tif"):
            pass
        assert time.monotonic() - started < 1  # no wait
    finally:
        release.set()
        t.join(5)


def test_settings_are_validated():
    for key in ("UPSTREAM_HOST_READS", "UPSTREAM_IMAGE_READS", "BREAKER_FAILURES"):
        with pytest.raises(ValueError):
            Settings.from_mapping({f"OAM_PREVIEW_{key}": "0"})
    s = Settings.from_mapping({"OAM_PREVIEW_BREAKER_COOLDOWN": "2.5", "OAM_PREVIEW_UPSTREAM_HOST_READS": "3"})
    assert s.breaker_cooldown == 2.5 and s.upstream_host_reads == 3


# -- against a faulty upstream -------------------------------------------------------------


@pytest.fixture(scope="module")
def fault(tiff_dir: Path) -> Iterator[FaultServer]:
    with FaultServer(tiff_dir) as server:
        yield server


_runs = itertools.count()


def fault_app(fault: FaultServer, cooldown: float = 1.5):
    """A test client of an app over the fault server (breaker: 3 failures, ``cooldown`` s)."""
    # A query string of its own: GDAL's process-wide /vsicurl/ cache must not serve this app
    # what an earlier test's app read (it would answer without asking the upstream).
    run = next(_runs)
    names = [f"{name}?run={run}" for name in ("cogeo.tif", "cog_rgba.tif", "stripped.tif")]
    catalog = load_document(catalog_doc(fault.url, names))
    config = {
        # Room for GDAL's two retries of a 5xx (0.2 s, then 0.4 s) inside the request's deadline.
        "OAM_PREVIEW_UPSTREAM_TIMEOUT": 3,
        "OAM_PREVIEW_BREAKER_FAILURES": 3,
        "OAM_PREVIEW_BREAKER_COOLDOWN": cooldown,
        "OAM_PREVIEW_BASEMAP_URL": "",
    }
    return create_app(config, catalog=catalog).test_client()


@pytest.fixture()
def fault_client(fault: FaultServer):
    """:func:`fault_app`, with the server's mode reset before and after."""
    fault.mode("ok")
    fault.traffic.reset()
    yield fault_app(fault)
    fault.mode("ok")


@pytest.mark.parametrize(
    ("mode", "status", "text"),
    [
        ("status-404", 502, "HTTP 404"),
        ("status-403", 502, "HTTP 403"),
        ("status-500", 502, "HTTP 500"),
        ("html", 502, "not a readable GeoTIFF"),
        ("reset", 502, "broke off the transfer"),
        ("redirect-http%3A%2F%2F127.0.0.1%3A9%2Fgone.tif", 502, "unreachable"),
    ],
)
def test_upstream_faults_map_to_api_errors(fault, fault_client, mode, status, text):
    fault.mode(mode)
    for path in ("thumbnail.png", "tilejson.json", "tiles/18/224757/101422.png"):
        # An app each: a first use fails twice (the version HEAD, the open), and three
        # failures would open the breaker, whose message does not name the upstream status.
        r = fault_app(fault).get(f"/api/images/cogeo/{path}")
        assert r.status_code == status, (mode, path, r.data)
        body = r.get_json()["error"]
        assert body["code"] == "upstream_error" and text in body["message"], body["message"]


def test_transient_503_is_retried_and_succeeds(fault, fault_client):
    fault.mode("flaky-2")  # two 503s per path, then the file
    r = fault_client.get("/api/images/cogeo/thumbnail.png")
    assert r.status_code == 200, r.data
    assert fault.traffic.by_path["/cogeo.tif"] >= 3


def test_trickling_upstream_times_out(fault, fault_client):
    fault.mode("trickle-2000")  # 2 kB/s: the 16 kB header alone takes 8 s
    started = time.monotonic()
    r = fault_client.get("/api/images/cog_rgba/thumbnail.png")
    assert r.status_code == 504 and r.get_json()["error"]["code"] == "upstream_timeout", r.data
    assert time.monotonic() - started < 10  # 1 s timeout, a few attempts: never the whole file


def settled_requests(traffic) -> int:
    """The server's request count once it stops moving: the server counts a request after
    answering it, so the last answer can reach the client before its count lands."""
    count = traffic.requests
    for _ in range(20):
        time.sleep(0.1)
        again = traffic.requests
        if again == count:
            return count
        count = again
    return count


def test_breaker_spares_a_failing_host_and_recovers(fault, fault_client):
    # A cool-down longer than the three failing requests take (GDAL retries each twice).
    fault_client = fault_app(fault, cooldown=6.0)
    fault.mode("status-503")
    # Three failures: the first use's version HEAD and open, then the second request's open.
    for _ in range(2):
        r = fault_client.get("/api/images/cogeo/thumbnail.png")
        assert r.status_code == 502 and "HTTP 503" in r.get_json()["error"]["message"]
    asked = settled_requests(fault.traffic)
    print(f"requests the failing host saw before its breaker opened: {asked}")
    for image in ("cogeo", "cog_rgba", "stripped"):  # every image of the host fails fast
        r = fault_client.get(f"/api/images/{image}/thumbnail.png")
        assert r.status_code == 502 and r.headers["Retry-After"]
        assert "keeps failing" in r.get_json()["error"]["message"]
    assert fault.traffic.requests == asked, "the host must see no request while its breaker is open"
    upstream = fault_client.get("/healthz").get_json()["upstream"]
    assert upstream["open_hosts"] == [f"127.0.0.1:{fault.port}"]
    fault.mode("ok")
    time.sleep(6.1)
    r = fault_client.get("/api/images/cogeo/thumbnail.png")
    assert r.status_code == 200
    host = fault_client.get("/healthz").get_json()["upstream"]["hosts"][f"127.0.0.1:{fault.port}"]
    assert host["state"] == "closed" and host["trips"] == 1
    assert fault_client.get("/api/images/cog_rgba/thumbnail.png").status_code == 200


def test_missing_files_do_not_open_the_breaker(fault, fault_client):
    for _ in range(6):
        r = fault_client.get("/api/images/missing/thumbnail.png")
        assert r.status_code == 502 and "HTTP 404" in r.get_json()["error"]["message"]
    assert fault_client.get("/api/images/cogeo/thumbnail.png").status_code == 200


def test_a_failed_url_is_asked_again_once_the_upstream_is_back(fault, fault_client):
    """GDAL caches a failed URL process-wide; the opener clears it, so no restart is needed."""
    fault.mode("status-500")
    assert fault_client.get("/api/images/cogeo/thumbnail.png").status_code == 502
    fault.mode("ok")
    assert fault_client.get("/api/images/cogeo/thumbnail.png").status_code == 200


def test_gdal_errors_rasterio_raises_directly_are_upstream_errors():
    from rasterio._err import CPLE_AppDefinedError

    from oam_preview.remote.diagnosis import upstream_errors

    with pytest.raises(UpstreamError), upstream_errors():
        raise CPLE_AppDefinedError(
            1, 1, "band 1: IReadBlock failed at X offset 0: TIFFReadEncodedTile() failed."
        )


def test_reads_from_the_outage_ending_late_do_not_reopen_the_breaker():
    clock = Clock()
    g = guard(clock, upstream_host_reads=10, upstream_image_reads=10)
    late = [g.request(URL) for _ in range(4)]
    for ctx in late:  # four reads start while the host is failing...
        ctx.__enter__()
    for _ in range(3):
        fail(g, UpstreamTimeout("slow"))
    clock.now += 11
    succeed(g)  # ...the probe proves it back...
    for ctx in late:  # ...then the old reads time out, one after the other
        ctx.__exit__(UpstreamTimeout, UpstreamTimeout("slow"), None)
    assert g.status()["hosts"]["tiles.example.org:80"]["state"] == "closed"
