"""What the commands tell a user: progress off a terminal, with units, and unknown ids answered
with the ids they may have meant (never a route path)."""

from __future__ import annotations

import json
import re

from click.testing import CliRunner

from oam_preview import create_app
from oam_preview.cli import main
from oam_preview.demo import images
from oam_preview.demo.synthetic import DemoImage

from .support.catalog_documents import catalog_doc

NAMES = ["cogeo.tif", "cog_rgba.tif", "cog_cmap.tif", "dem.tif"]


def write_catalog(tmp_path, url: str) -> str:
    path = tmp_path / "catalog.json"
    doc = catalog_doc(url, NAMES)
    doc["features"] = [f for f in doc["features"] if f["id"] in {n.removesuffix(".tif") for n in NAMES}]
    path.write_text(json.dumps(doc))
    return str(path)


def test_export_of_an_unknown_id_suggests_the_ids_meant(tiff_server, tmp_path):
    catalog = write_catalog(tmp_path, tiff_server.url)
    argv = ["export", "cog", "--catalog", catalog, "--zoom", "14", "-o", str(tmp_path / "x.mbtiles")]
    result = CliRunner().invoke(main, argv)
    assert result.exit_code == 1, result.output
    assert "/api/" not in result.output, result.output
    assert "no image with id 'cog'" in result.output
    assert "did you mean cogeo, cog_rgba, cog_cmap?" in result.output, result.output


def test_thumbnail_of_a_misspelt_id_suggests_the_id(tiff_server, tmp_path):
    catalog = write_catalog(tmp_path, tiff_server.url)
    argv = ["thumbnail", "dme", "--catalog", catalog, "-o", str(tmp_path / "x.png")]
    result = CliRunner().invoke(main, argv)
    assert result.exit_code == 1 and "did you mean dem?" in result.output, result.output


def test_the_api_404_of_an_unknown_id_suggests_the_ids_meant(tiff_server, tmp_path):
    client = create_app({"OAM_PREVIEW_CATALOG": write_catalog(tmp_path, tiff_server.url)}).test_client()
    for path in ("/api/images/cog", "/api/images/cog/tilejson.json", "/api/images/cog/report"):
        answer = client.get(path)
        assert answer.status_code == 404, path
        error = answer.get_json()["error"]
        assert error["code"] == "not_found" and error["message"].endswith(
            "did you mean cogeo, cog_rgba, cog_cmap?"
        )
    error = client.get("/api/images/zzzzzz").get_json()["error"]
    assert error["message"] == "no image with id 'zzzzzz' in the catalog"  # nothing alike: no guess


def test_export_off_a_terminal_prints_progress_lines_with_units(tiff_server, tmp_path):
    catalog = write_catalog(tmp_path, tiff_server.url)
    argv = ["export", "cogeo", "--catalog", catalog, "--zoom", "14-16", "-o", str(tmp_path / "x.mbtiles")]
    result = CliRunner().invoke(main, argv)  # stderr is not a terminal here
    assert result.exit_code == 0, result.output
    lines = re.findall(r"exporting x\.mbtiles: (\d+)/(\d+) tiles \((\d+) %\)", result.stderr)
    assert len(lines) >= 3, result.stderr
    assert lines[0][0] == "0" and lines[-1][0] == lines[-1][1] and lines[-1][2] == "100"
    assert [int(done) for done, _, _ in lines] == sorted(int(done) for done, _, _ in lines)


def test_the_demo_build_off_a_terminal_prints_progress_lines_with_units(tmp_path, monkeypatch, capsys):
    small = DemoImage("tiny", "tiny", 85.3, 27.7, 32645, 1.0, 3072, 2048, "rgb_cog", "tests", "2024-01-01", 1)
    monkeypatch.setattr(images, "DEMO_IMAGES", (small,))  # six blocks: the lines, not the images, tested
    images.build(tmp_path)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == f"building demo images in {tmp_path}: 0/6 blocks of 1024 px (0 %)", lines
    assert lines[-1] == f"building demo images in {tmp_path}: 6/6 blocks of 1024 px (100 %)", lines
    assert len(lines) == 7  # each block is another tenth at least
