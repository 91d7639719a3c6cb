"""The health report (issue 34) on a corpus of generated files served over HTTP: each file raises
exactly its findings, the COG verdict agrees with rio-cogeo's ``cog_validate``, and every fix
command, run for real with GDAL's utilities, gives a file whose report is ``ok`` and whose tiles
equal the original's (lossless fixes) or are within 35 dB PSNR (lossy ones)."""

from __future__ import annotations

import contextlib
import json
import math
import shlex
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from rio_cogeo.cogeo import cog_validate

from oam_preview import create_app
from oam_preview.catalog import Catalog
from oam_preview.catalog.model import Image
from oam_preview.config import Settings
from oam_preview.geo.tiles import TMS
from oam_preview.remote import traffic
from oam_preview.remote.gdal_safety import forget
from oam_preview.remote.gdal_settings import vsi_path
from oam_preview.remote.opener import Opener
from oam_preview.remote.reader_threads import THREAD_NAME
from oam_preview.remote.traffic import Tally, gdal_tally, network_statistics
from oam_preview.tiler.checkup import MEASURED_READS, OWN_REQUESTS, check
from oam_preview.tiler.health_report import Report
from oam_preview.tiler.imagery import Imagery
from oam_preview.tiler.render import Pixels

from .support.fileserver import FileServer
from .support.loopback import LOOPBACK_ALLOW
from .support.report_corpus import CORPUS, TWIN, write_corpus
from .support.system import missing

SETTINGS = Settings.from_mapping(
    {"OAM_PREVIEW_UPSTREAM_ALLOW": LOOPBACK_ALLOW, "OAM_PREVIEW_UPSTREAM_TIMEOUT": "10"}
)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="module")
def corpus_server(corpus: Path) -> Iterator[FileServer]:
    with FileServer(corpus) as server:
        yield server


@pytest.fixture(scope="module")
def reports(corpus_server: FileServer) -> dict[str, Report]:
    return {name: check(f"{corpus_server.url}/{name}", SETTINGS) for name in CORPUS}


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_each_file_raises_exactly_its_findings(reports: dict[str, Report], name: str) -> None:
    report = reports[name]
    assert sorted(report.problems()) == sorted(CORPUS[name].problems), report.to_dict()
    assert report.grade == ("ok" if not CORPUS[name].problems else report.grade)
    assert (report.fix is None) == (CORPUS[name].fix is None)


def test_a_good_cog_is_ready_with_every_note(reports: dict[str, Report]) -> None:
    report = reports["good_cog.tif"]
    assert report.grade == "ok" and report.exit_code == 0 and report.fix is None
    codes = [f.code for f in report.findings]
    assert codes == ["reachable", "layout", "overviews", "georeference", "pixels", "cost"]
    reads = report.findings[-1].evidence["reads"]
    assert [r["read"].split()[0] for r in reads] == ["thumbnail", "tile", "tile", "tile"]
    assert all(r["requests"] >= r["minimum_requests"] and r["error"] is None for r in reads)
    # The notes say what was measured: the pixels' kind, the host's answer.
    pixels = next(f for f in report.findings if f.code == "pixels")
    assert pixels.evidence["product_type"] == "visual"
    assert next(f for f in report.findings if f.code == "reachable").evidence["range_requests"] is True


def test_a_cog_without_its_ghost_area_is_ready_with_a_note(reports: dict[str, Report]) -> None:
    report = reports["no_ghost.tif"]
    assert report.grade == "ok"
    assert any(f.code == "ghost_area_missing" and f.severity == "ok" for f in report.findings)
    assert not any(f.code == "ghost_area_missing" for f in reports["good_cog.tif"].findings)


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_the_cog_verdict_agrees_with_rio_cogeo(corpus: Path, reports: dict[str, Report], name: str) -> None:
    valid, errors, _ = cog_validate(str(corpus / name), quiet=True)
    assert (reports[name].cog == ()) == valid, (reports[name].cog, errors)


def test_a_report_costs_a_bounded_number_of_upstream_requests(corpus_server: FileServer) -> None:
    """Counted by the file server: the probe and the sidecars, then a thumbnail and three tiles,
    each read cold as a worker that never opened the file reads it (a HEAD of the server's, GDAL's
    HEAD and header read, then the pixels: at most 8 requests a read for these files)."""
    for name in ("good_cog.tif", "spread_ifds.tif", "stripped.tif"):
        corpus_server.traffic.reset()
        report = check(f"{corpus_server.url}/{name}", SETTINGS)
        served = corpus_server.traffic.requests
        # The report counts what it sends (GDAL's statistics may count a parallel multi-range
        # read of a stripped file as one request less than went out).
        assert report.requests is not None and served - MEASURED_READS <= report.requests <= served
        assert served <= OWN_REQUESTS + MEASURED_READS * 8, (name, served)
    # The layout shows in the count: the same pixels spread through the file cost more.
    assert reports_requests(corpus_server, "spread_ifds.tif") > reports_requests(
        corpus_server, "good_cog.tif"
    )


def reports_requests(server: FileServer, name: str) -> int:
    first = check(f"{server.url}/{name}", SETTINGS).findings[-1].evidence["reads"][0]
    return int(first["requests"])


# -- the fixes, run for real ---------------------------------------------------------------


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def native_tile(path: Path, at: float = 0.5) -> Pixels:
    """The server's tile at its native zoom under the point ``at`` of the way from the image's
    north-west corner to its centre and beyond (0.5: the centre), read from ``path``."""
    imagery = Imagery(Opener(SETTINGS), SETTINGS)
    image = Image(id="t", source_url=str(path))
    info = imagery.info(image)
    assert info.bounds is not None and info.native_zoom is not None
    w, s, e, n = info.bounds
    from oam_preview.geo.tiles import TMS

    tile = TMS.tile(w + (e - w) * at + 1e-6, n - (n - s) * at - 1e-6, info.native_zoom)
    return imagery.tile(image, info.native_zoom, tile.x, tile.y)


@pytest.fixture(scope="module")
def fixed(corpus: Path, reports: dict[str, Report], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Each fix command run with GDAL's own utilities, in a copy of the corpus."""
    if shutil.which("gdal_translate") is None or shutil.which("gdalwarp") is None:
        missing("gdal-bin (gdal_translate, gdalwarp)")
    work = tmp_path_factory.mktemp("fixed")
    for path in corpus.iterdir():
        shutil.copy(path, work / path.name)
    for report in reports.values():
        if report.fix is not None:
            done = subprocess.run(
                shlex.split(report.fix), cwd=work, capture_output=True, text=True, timeout=120
            )
            assert done.returncode == 0, (report.fix, done.stderr)
    return work


@pytest.mark.parametrize("name", sorted(n for n, c in CORPUS.items() if c.fix))
def test_every_fix_gives_a_ready_file_with_the_same_tiles(
    corpus: Path, fixed: Path, reports: dict[str, Report], name: str
) -> None:
    command = reports[name].fix
    assert command is not None
    output = fixed / shlex.split(command)[-1]
    with FileServer(fixed) as server:
        again = check(f"{server.url}/{output.name}", SETTINGS)
    assert again.grade == "ok", (command, again.to_dict())
    assert cog_validate(str(output), quiet=True)[0]
    at = 0.08 if name == "collar.tif" else 0.5  # where the collar is
    original = native_tile(corpus / (TWIN if name == "sidecar_georef.tif" else name), at)
    mended = native_tile(output, at)
    valid = mended.mask == 255
    if name == "collar.tif":  # the collar is now empty: the rest is as it was
        assert not valid.all() and valid.any()
    else:
        assert (mended.mask == original.mask).all()
    if CORPUS[name].fix == "lossless":
        assert (mended.data[:, valid] == original.data[:, valid]).all()
    else:
        assert psnr(mended.data[:, valid], original.data[:, valid]) >= 35, command


# -- the command, the route, a hanging host ------------------------------------------------


@pytest.mark.parametrize(
    ("name", "status"), [("good_cog.tif", 0), ("no_overviews.tif", 1), ("sidecar_georef.tif", 2)]
)
def test_check_command_exit_status(corpus: Path, name: str, status: int) -> None:
    from click.testing import CliRunner

    from oam_preview.cli import main

    result = CliRunner().invoke(main, ["check", str(corpus / name), "--json"])
    assert result.exit_code == status, result.output
    doc = json.loads(result.output)
    assert doc["source"] == str(corpus / name)
    assert doc["grade"] == ("ok", "warning", "not_servable")[status]
    assert doc["upstream"]["requests"] > 0  # served by the file server while checked: counted


def test_check_command_says_what_is_wrong_in_one_line(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from oam_preview.cli import main

    result = CliRunner().invoke(main, ["check", str(tmp_path / "nothing.tif")])
    assert result.exit_code == 1 and result.output.strip().count("\n") == 0
    assert "no such file" in result.output and "Traceback" not in result.output


def test_the_route_reports_catalog_images_only(client: Any, tiff_server: FileServer) -> None:
    tiff_server.traffic.reset()
    first = client.get("/api/images/cogeo/report")
    assert first.status_code == 200, first.get_json()
    doc = first.get_json()
    assert doc["id"] == "cogeo" and doc["grade"] in ("ok", "warning") and doc["cog"]["valid"] is True
    assert {f["code"] for f in doc["findings"]} >= {"reachable", "layout", "overviews", "pixels", "cost"}
    spent = tiff_server.traffic.requests
    assert 0 < spent <= OWN_REQUESTS + MEASURED_READS * 8
    again = client.get("/api/images/cogeo/report")
    assert again.get_json() == doc and tiff_server.traffic.requests == spent  # kept per file version
    # A URL is no id: the server never checks what a client names.
    for path in ("/api/images/nothing/report", "/api/images/http%3A%2F%2F127.0.0.1%2Fx.tif/report"):
        answer = client.get(path)
        assert answer.status_code == 404 and answer.get_json()["error"]["code"] == "not_found"


def test_a_report_in_an_app_that_has_read_the_file_is_as_cold_as_in_a_fresh_one(
    catalog: Catalog, tiff_server: FileServer
) -> None:
    """Issue 34: the report's reads are cold even where the app has served the file before (its
    thumbnail and a tile): the same requests and bytes, read by read, as a fresh app's report,
    and as many requests as the file server answered meanwhile."""
    config = {"OAM_PREVIEW_UPSTREAM_TIMEOUT": 10, "OAM_PREVIEW_BASEMAP_URL": ""}

    def report(client: Any) -> tuple[dict[str, Any], int]:
        tiff_server.traffic.reset()
        answer = client.get("/api/images/cogeo/report")
        assert answer.status_code == 200, answer.get_json()
        return answer.get_json(), tiff_server.traffic.requests

    def reads(doc: dict[str, Any]) -> list[tuple[str, int, int]]:
        cost = next(f for f in doc["findings"] if f["code"] == "cost")
        return [(r["read"], r["requests"], r["bytes"]) for r in cost["evidence"]["reads"]]

    fresh, fresh_served = report(create_app(config, catalog=catalog).test_client())
    warm = create_app(config, catalog=catalog).test_client()
    assert warm.get("/api/images/cogeo/thumbnail.png").status_code == 200
    tilejson = warm.get("/api/images/cogeo/tilejson.json").get_json()
    w, s, e, n = tilejson["bounds"]
    z = tilejson["maxzoom"]
    tile = TMS.tile((w + e) / 2, (s + n) / 2, z)
    assert warm.get(f"/api/images/cogeo/tiles/{z}/{tile.x}/{tile.y}.png").status_code == 200
    again, served = report(warm)
    assert reads(again) == reads(fresh) and again["upstream"] == fresh["upstream"]
    # As the file server counted them (the fresh app's own first HEAD of the file is no report's).
    for doc, seen in ((fresh, fresh_served), (again, served)):
        assert seen - MEASURED_READS - 1 <= doc["upstream"]["requests"] <= seen
    first = reads(again)[0]
    assert first[1] >= 3 and first[2] > 0, first  # a HEAD, GDAL's header read, the pixels


def test_a_read_in_flight_when_a_report_ends_leaves_later_reports_counting(tiff_server: FileServer) -> None:
    """Issue 34: GDAL keeps each thread's place (file, action) for its statistics only while they
    are on, so a read of another request still running when a report's counting ended left a stale
    place on its thread, under which every later read of that thread was counted: a later report
    measured no request of GDAL's. Here the read of a held connection straddles one report's end,
    and the same thread's next read, in the next report, counts as the file server saw it."""
    listener = socket.create_server(("127.0.0.1", 0))
    held = f"/vsicurl/http://127.0.0.1:{listener.getsockname()[1]}/held.tif"
    path = vsi_path(f"{tiff_server.url}/cogeo.tif")
    after_report = threading.Event()
    counted: list[tuple[Tally, int]] = []

    def reader() -> None:
        with rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR"):
            with contextlib.suppress(Exception):
                rasterio.open(held).close()
            after_report.wait()
            forget(path)
            tiff_server.traffic.reset()
            with network_statistics():
                before = gdal_tally(path)
                with rasterio.open(path) as dataset:
                    dataset.read(1, out_shape=(64, 64))
                counted.append((gdal_tally(path) - before, tiff_server.traffic.requests))

    thread = threading.Thread(target=reader)
    with network_statistics(), listener:  # a report runs while the other read starts
        thread.start()
        connection, _ = listener.accept()  # GDAL is inside its request
    connection.close()  # after the report: the read fails now
    after_report.set()
    thread.join(timeout=60)
    spent, served = counted[0]
    assert spent.requests == served and served > 0 and spent.bytes > 0, (spent, served)


def test_a_report_of_a_file_that_is_not_servable(client: Any) -> None:
    doc = client.get("/api/images/no_georef/report").get_json()
    assert doc["grade"] == "not_servable" and "not_georeferenced" in doc["problems"]
    refused = client.get("/api/images/refused/report").get_json()
    assert refused["problems"] == ["unreachable"]


def test_a_hanging_host_gives_a_report_with_that_finding(corpus: Path) -> None:
    """The probe waits OAM_PREVIEW_UPSTREAM_TIMEOUT (1 s) and the report ends there: no step
    after it is tried, no thread left waiting (joined well before the generous bound)."""
    from .support.fault_server import FaultServer

    settings = replace(SETTINGS, upstream_timeout=1.0)
    with FaultServer(corpus, mode="hang") as server:
        outcome: list[Report] = []
        worker = threading.Thread(
            target=lambda: outcome.append(check(f"{server.url}/good_cog.tif", settings))
        )
        worker.start()
        worker.join(timeout=60)
        assert not worker.is_alive()
        requests = server.traffic.requests
    report = outcome[0]
    assert report.problems() == ["no_answer"] and report.grade == "not_servable"
    assert report.findings[-1].evidence["error"] == "upstream_timeout"
    assert requests <= 1  # the probe only (a hanging request is never counted as answered)


def test_catalog_report_grades_every_image(corpus: Path) -> None:
    from click.testing import CliRunner

    from oam_preview.cli import main

    result = CliRunner().invoke(main, ["catalog", str(corpus), "--report", "--json", "--concurrency", "3"])
    assert result.exit_code == 2, result.output  # the worst: sidecar_georef is not servable
    doc = json.loads(result.output[result.output.index("{") :])
    graded = {r["id"]: r for r in doc["reports"]}
    assert len(graded) == len(CORPUS) + 1  # and the twin
    for name, case in CORPUS.items():
        assert sorted(graded[Path(name).stem]["problems"]) == sorted(case.problems)
    assert doc["findings"]["georeference_in_sidecar"] == 1


def test_gdal_statistics_are_cleared_every_so_many_reads_unless_a_report_counts(
    tiff_server: FileServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GDAL's statistics are on for the whole process and keep an entry per file read: they are
    cleared every CLEAR_EVERY reads while no report counts, and never under a report."""
    monkeypatch.setattr(traffic, "CLEAR_EVERY", 3)
    opener = Opener(SETTINGS)
    url = f"{tiff_server.url}/cogeo.tif"
    path = vsi_path(url)
    forget(path)
    with network_statistics():
        for _ in range(4):  # past CLEAR_EVERY, under a report: kept
            opener.read(url, lambda dataset: dataset.read(1, out_shape=(16, 16)))
        counted = gdal_tally(path)
        assert counted.requests > 0
    for _ in range(3):  # no report now, past CLEAR_EVERY: cleared (the pooled dataset fetches nothing)
        opener.read(url, lambda dataset: dataset.width)
    assert gdal_tally(path).requests < counted.requests


def test_a_report_leaves_no_reader_thread_behind(tiff_server: FileServer) -> None:
    """Each report reads through fresh Openers (cold reads): their reader threads end with it."""
    url = f"{tiff_server.url}/cogeo.tif"
    check(url, SETTINGS)  # what a first report starts once per process (the relay…)

    def readers() -> int:
        return sum(1 for t in threading.enumerate() if t.name == THREAD_NAME)

    before = readers()
    for _ in range(3):
        check(url, SETTINGS)
    for _ in range(100):  # the threads end as they take their stop, just after the report
        if readers() <= before:
            break
        threading.Event().wait(0.05)
    assert readers() <= before
