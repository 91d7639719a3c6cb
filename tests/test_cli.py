"""The ``oam-preview`` command line."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image as PILImage

from oam_preview.cli import main

from .support.catalog_documents import catalog_doc


def test_thumbnail_of_a_url(tiff_server, tmp_path):
    out = tmp_path / "thumb.png"
    result = CliRunner().invoke(
        main, ["thumbnail", f"{tiff_server.url}/cogeo.tif", "-o", str(out), "--max-size", "64"]
    )
    assert result.exit_code == 0, result.output
    assert PILImage.open(out).size == (64, 64)


def test_thumbnail_of_a_local_file_as_webp(tiff_dir, tmp_path):
    out = tmp_path / "thumb.webp"
    result = CliRunner().invoke(main, ["thumbnail", str(tiff_dir / "cog_rgba.tif"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    img = PILImage.open(out)
    assert img.format == "WEBP" and img.size == (256, 155)
    assert np.asarray(img.convert("RGBA"))[..., 3].min() == 0


def test_thumbnail_of_a_catalog_id(tiff_server, tmp_path):
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps(catalog_doc(tiff_server.url, ["cogeo.tif"])))
    out = tmp_path / "t.jpg"
    result = CliRunner().invoke(main, ["thumbnail", "cogeo", "--catalog", str(catalog), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert PILImage.open(out).format == "JPEG"
    result = CliRunner().invoke(main, ["thumbnail", "nope", "--catalog", str(catalog), "-o", str(out)])
    assert result.exit_code != 0 and "no image with id 'nope'" in result.output


def test_thumbnail_reports_upstream_errors(tiff_server, tmp_path):
    result = CliRunner().invoke(
        main, ["thumbnail", f"{tiff_server.url}/missing.tif", "-o", str(tmp_path / "x.png")]
    )
    assert result.exit_code == 1
    assert "upstream_error" in result.output and "404" in result.output


def test_catalog_command(tiff_server, tmp_path):
    catalog = tmp_path / "catalog.json"
    doc = catalog_doc(tiff_server.url, ["cogeo.tif", "dem.tif"])
    doc["features"].append({"type": "Feature", "id": "bad id!", "properties": {"source_url": "x"}})
    catalog.write_text(json.dumps(doc))
    result = CliRunner().invoke(main, ["catalog", str(catalog)])
    assert result.exit_code == 0, result.output
    assert "4 images" in result.output and "1 skipped" in result.output
    assert "bad id!" in result.output


def test_catalog_command_on_an_unreadable_source(tmp_path):
    result = CliRunner().invoke(main, ["catalog", str(tmp_path / "absent.json")])
    assert result.exit_code == 1 and "Error" in result.output


def test_serve_rejects_bad_settings():
    result = CliRunner().invoke(main, ["serve", "--prefix", "no-slash"])
    assert result.exit_code == 2 and "OAM_PREVIEW_PREFIX" in result.output


@pytest.fixture()
def under_a_file(tmp_path):
    """A path under a regular file: no file can be written there (ENOTDIR)."""
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    return blocker


@pytest.mark.parametrize(
    "args",
    [
        ["export", "cogeo", "--zoom", "14", "-o", "{dir}/x.mbtiles"],
        ["export", "cogeo", "--zoom", "14", "-o", "{dir}/x.pmtiles"],
        ["export", "--footprints", "--zoom", "0-2", "-o", "{dir}/x.pmtiles"],
        ["thumbnail", "cogeo", "--max-size", "32", "-o", "{dir}/x.png"],
        ["demo", "--dir", "{dir}/demo"],
    ],
)
def test_an_output_path_that_cannot_be_written_is_a_one_line_error(tiff_server, tmp_path, under_a_file, args):
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps(catalog_doc(tiff_server.url, ["cogeo.tif"])))
    argv = [a.format(dir=under_a_file) for a in args]
    if argv[0] != "demo":
        argv[1:1] = ["--catalog", str(catalog)]
    result = CliRunner().invoke(main, argv)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.exception
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and str(under_a_file) in lines[0], lines
    assert "Not a directory" in lines[0]
