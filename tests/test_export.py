"""``oam-preview export`` and ``POST /api/exports``: MBTiles and PMTiles packages holding the tile
routes' very bytes, opened by GDAL's MBTiles driver and the ``pmtiles`` reader; resumable."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import rasterio
from click.testing import CliRunner
from pmtiles.reader import MmapSource, Reader, all_tiles

from oam_preview import create_app
from oam_preview.cli import main
from oam_preview.export import EMPTY_TABLE, flip

from .conftest import catalog_doc

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def catalog_file(tiff_server, tmp_path_factory):
    path = tmp_path_factory.mktemp("export-catalog") / "catalog.json"
    path.write_text(json.dumps(catalog_doc(tiff_server.url, ["synthetic_cog.tif", "cogeo.tif"])))
    return path


@pytest.fixture(scope="module")
def routes(catalog_file):
    """A client of the tile routes over the same catalog, footprints read."""
    client = create_app(
        {"OAM_PREVIEW_CATALOG": str(catalog_file), "OAM_PREVIEW_BASEMAP_URL": ""}
    ).test_client()
    for _ in range(200):
        if client.get("/healthz").get_json()["catalog"]["footprints_pending"] == 0:
            break
        time.sleep(0.05)
    return client


def mbtiles_tiles(path: Path) -> dict[tuple[int, int, int], bytes]:
    """The tiles of an MBTiles file by XYZ address."""
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT zoom_level, tile_column, tile_row, tile_data FROM tiles").fetchall()
    return {(z, x, flip(z, row)): bytes(data) for z, x, row, data in rows}


def run(*args: str):
    return CliRunner().invoke(main, ["export", *args])


SUMMARY = re.compile(r"(\d+) tiles: (\d+) stored, (\d+) empty \(404\), (\d+) failed; (\d+) already done")


def summary(output: str) -> dict[str, int]:
    """The counts of an export's last line."""
    found = SUMMARY.search(output)
    assert found, output
    return dict(zip(("total", "stored", "empty", "failed", "skipped"), map(int, found.groups()), strict=True))


def test_an_mbtiles_export_opens_in_gdal_and_holds_the_tile_routes_bytes(catalog_file, routes, tmp_path):
    out = tmp_path / "cog.mbtiles"
    result = run("synthetic_cog", "-o", str(out), "--zoom", "14-16", "--catalog", str(catalog_file))
    assert result.exit_code == 0, result.output
    assert "0 failed; 0 already done" in result.output
    with sqlite3.connect(out) as db:
        meta = dict(db.execute("SELECT name, value FROM metadata").fetchall())
    for name in ("name", "format", "bounds", "center", "minzoom", "maxzoom", "attribution"):
        assert name in meta, name
    assert meta["format"] == "png" and (meta["minzoom"], meta["maxzoom"]) == ("14", "16")
    tilejson = routes.get("/api/images/synthetic_cog/tilejson.json").get_json()
    bounds = [float(v) for v in meta["bounds"].split(",")]
    assert bounds == pytest.approx(tilejson["bounds"], abs=1e-6)

    with rasterio.open(out) as ds:  # GDAL's MBTiles driver
        assert ds.driver == "MBTiles" and ds.count == 4
        west, south, east, north = rasterio.warp.transform_bounds(ds.crs, "EPSG:4326", *ds.bounds)
        assert west <= bounds[0] + 0.01 and east >= bounds[2] - 0.01
        assert ds.read(4).max() == 255  # pixels, not an empty file

    tiles = mbtiles_tiles(out)
    assert len(tiles) >= 6
    for (z, x, y), data in tiles.items():
        answer = routes.get(f"/api/images/synthetic_cog/tiles/{z}/{x}/{y}.png")
        assert answer.status_code == 200 and answer.data == data, (z, x, y)

    again = run("synthetic_cog", "-o", str(out), "--zoom", "14-16", "--catalog", str(catalog_file))
    assert again.exit_code == 0 and "0 stored" in again.output, again.output


def test_a_pmtiles_export_with_rendering_options_reads_back_as_the_routes_tiles(
    catalog_file, routes, tmp_path
):
    out = tmp_path / "cog.pmtiles"
    args = ["cogeo", "-o", str(out), "--catalog", str(catalog_file), "--format", "webp"]
    result = run(*args, "--bidx", "1", "--colormap-name", "viridis")
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "cog.pmtiles.part.mbtiles").exists()  # the sidecar is gone
    tilejson = routes.get("/api/images/cogeo/tilejson.json").get_json()
    with out.open("rb") as f:
        source = MmapSource(f)
        reader = Reader(source)
        header = reader.header()
        assert (header["min_zoom"], header["max_zoom"]) == (tilejson["minzoom"], tilejson["maxzoom"])
        assert reader.metadata()["format"] == "webp"
        tiles = dict(all_tiles(source))
    assert tiles
    for (z, x, y), data in tiles.items():
        answer = routes.get(f"/api/images/cogeo/tiles/{z}/{x}/{y}.webp?bidx=1&colormap_name=viridis")
        assert answer.status_code == 200 and answer.data == data, (z, x, y)


def test_an_ids_group_is_the_mosaic_of_those_ids(catalog_file, routes, tmp_path):
    out = tmp_path / "group.mbtiles"
    result = run("synthetic_cog", "cogeo", "-o", str(out), "--zoom", "13", "--catalog", str(catalog_file))
    assert result.exit_code == 0, result.output
    tiles = mbtiles_tiles(out)
    assert tiles
    for (z, x, y), data in tiles.items():
        answer = routes.get(f"/api/mosaic/tiles/{z}/{x}/{y}.png?ids=synthetic_cog,cogeo&order=catalog")
        assert answer.data == data


def test_a_mosaic_query_over_a_bbox(catalog_file, routes, tmp_path):
    out = tmp_path / "mosaic.mbtiles"
    bounds = routes.get("/api/images/synthetic_cog/tilejson.json").get_json()["bounds"]
    w, s, e, n = bounds
    bbox = f"{w},{s},{(w + e) / 2},{(s + n) / 2}"
    args = ["--mosaic", "ids=synthetic_cog", "-o", str(out), "--zoom", "16", "--bbox", bbox]
    result = run(*args, "--catalog", str(catalog_file))
    assert result.exit_code == 0, result.output
    assert 1 <= summary(result.output)["total"] <= 4
    for (z, x, y), data in mbtiles_tiles(out).items():
        assert routes.get(f"/api/mosaic/tiles/{z}/{x}/{y}.png?ids=synthetic_cog&order=newest").data == data


def test_the_tile_cap_and_bad_choices_are_clear_errors(catalog_file, tmp_path):
    capped = run("synthetic_cog", "-o", str(tmp_path / "a.mbtiles"), "--zoom", "18", "--max-tiles", "5",
                 "--catalog", str(catalog_file))  # fmt: skip
    assert capped.exit_code == 1 and "more than the limit of 5" in capped.output
    wrong = run("synthetic_cog", "-o", str(tmp_path / "a.zip"), "--catalog", str(catalog_file))
    assert wrong.exit_code == 2 and ".mbtiles or .pmtiles" in wrong.output
    both = run("synthetic_cog", "--mosaic", "", "-o", str(tmp_path / "a.mbtiles"))
    assert both.exit_code == 2 and "IMAGE_IDS or --mosaic" in both.output
    grouped = run("synthetic_cog", "cogeo", "--bidx", "1", "-o", str(tmp_path / "b.mbtiles"))
    assert grouped.exit_code == 2 and "apply to one image" in grouped.output
    unknown = run("nope", "-o", str(tmp_path / "c.mbtiles"), "--catalog", str(catalog_file))
    assert unknown.exit_code == 1 and "no image" in unknown.output


def done_tiles(path: Path) -> set[tuple[int, int, int]]:
    try:
        with sqlite3.connect(path, timeout=5) as db:
            rows = db.execute("SELECT zoom_level, tile_column, tile_row FROM tiles").fetchall()
            rows += db.execute(f"SELECT zoom_level, tile_column, tile_row FROM {EMPTY_TABLE}").fetchall()
    except sqlite3.OperationalError:  # not created yet
        return set()
    return set(rows)


@pytest.mark.parametrize("container", ["mbtiles", "pmtiles"])
def test_a_killed_export_resumes_without_asking_again_for_done_tiles(catalog_file, tmp_path, container):
    out = tmp_path / f"killed.{container}"
    working = out if container == "mbtiles" else tmp_path / f"killed.{container}.part.mbtiles"
    args = ["synthetic_cog", "-o", str(out), "--zoom", "14-19", "--catalog", str(catalog_file)]
    command = [sys.executable, "-m", "oam_preview.cli", "export", *args]
    process = subprocess.Popen(
        command, cwd=ROOT, env=os.environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 120
        while len(done_tiles(working)) < 40 and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    before = done_tiles(working)
    assert len(before) >= 40 and not (container == "pmtiles" and out.exists())

    resumed = run(*args)
    assert resumed.exit_code == 0, resumed.output
    counts = summary(resumed.output)
    assert len(before) < counts["total"]  # it was killed mid-run
    assert counts["skipped"] == len(before)
    assert counts["stored"] + counts["empty"] == counts["total"] - len(before)  # only the rest asked for
    if container == "pmtiles":
        with out.open("rb") as f:
            assert Reader(MmapSource(f)).header()["max_zoom"] == 19
        assert not working.exists()
