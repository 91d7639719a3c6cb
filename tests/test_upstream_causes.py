"""Upstream errors that name their cause: a host name that does not resolve, a server that ignores
Range, a loopback or private address refused with the setting that would allow it; and
``oam-preview catalog`` warning of each such host before anyone serves it."""

from __future__ import annotations

import json
import logging

import pytest
from click.testing import CliRunner

from oam_preview import create_app
from oam_preview.cli import main

from .support.fileserver import RangeRequestHandler, ThreadedFileServer

#: A name that never resolves (RFC 6761).
NOWHERE = "http://no-such-host.invalid/a.tif"


class IgnoresRange(RangeRequestHandler):
    """A web server that answers every GET with 200 and the whole file, as some do."""

    def _serve(self, body: bool) -> None:
        del self.headers["Range"]
        super()._serve(body)


@pytest.fixture()
def range_less(tiff_dir):
    server = ThreadedFileServer(tiff_dir, handler=IgnoresRange).start()
    try:
        yield server
    finally:
        server.stop()


def catalog(tmp_path, urls: dict[str, str]) -> str:
    features = [
        {"type": "Feature", "id": i, "geometry": None, "properties": {"source_url": url, "title": i}}
        for i, url in urls.items()
    ]
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return str(path)


def error_of(client, image_id: str) -> tuple[int, dict]:
    answer = client.get(f"/api/images/{image_id}/thumbnail.png")
    return answer.status_code, (answer.get_json() or {}).get("error", {})


def test_a_loopback_host_is_refused_with_the_setting_that_allows_it(tiff_server, tmp_path, caplog):
    port = tiff_server.url.rsplit(":", 1)[1]
    path = catalog(tmp_path, {"local": f"{tiff_server.url}/cogeo.tif"})
    config = {"OAM_PREVIEW_CATALOG": path, "OAM_PREVIEW_UPSTREAM_ALLOW": "10.0.0.0/8"}
    with caplog.at_level(logging.WARNING, logger="oam_preview.remote.policy"):
        status, error = error_of(create_app(config).test_client(), "local")
    assert status == 403 and error["code"] == "upstream_forbidden", error
    assert "a loopback address (127.0.0.1)" in error["message"], error
    assert f"add 127.0.0.1:{port} to that setting" in error["message"], error
    assert "10.0.0.0/8" not in error["message"]  # the operator's setting is the log's, not a client's
    logged = f"OAM_PREVIEW_UPSTREAM_ALLOW='10.0.0.0/8 127.0.0.1:{port}' would allow it"
    assert logged in caplog.text, caplog.text
    # The value the log names does allow it.
    config["OAM_PREVIEW_UPSTREAM_ALLOW"] = f"10.0.0.0/8 127.0.0.1:{port}"
    assert create_app(config).test_client().get("/api/images/local/thumbnail.png").status_code == 200


def test_a_host_name_that_does_not_resolve_says_so(tmp_path, caplog):
    config = {"OAM_PREVIEW_CATALOG": catalog(tmp_path, {"typo": NOWHERE}), "OAM_PREVIEW_UPSTREAM_ALLOW": ""}
    with caplog.at_level(logging.WARNING, logger="oam_preview.remote.policy"):
        status, error = error_of(create_app(config).test_client(), "typo")
    assert status == 502 and error["code"] == "upstream_error", error
    assert "'no-such-host.invalid' of the image's URL does not resolve" in error["message"], error
    assert "no-such-host.invalid does not resolve" in caplog.text


def test_a_server_that_ignores_range_is_named(range_less, tmp_path):
    # A file of a few MB: GDAL reads a small one whole when the server ignores Range.
    config = {"OAM_PREVIEW_CATALOG": catalog(tmp_path, {"whole": f"{range_less.url}/synthetic_cog.tif"})}
    status, error = error_of(create_app(config).test_client(), "whole")
    assert status == 502 and error["code"] == "upstream_error", error
    assert "ignored a Range request (it answered 200 with the whole file)" in error["message"], error


def test_the_catalog_command_warns_of_each_host_it_probes(tiff_server, range_less, tmp_path, monkeypatch):
    port = range_less.url.rsplit(":", 1)[1]
    monkeypatch.setenv("OAM_PREVIEW_UPSTREAM_ALLOW", f"127.0.0.1:{port}")  # the range-less one only
    urls = {
        "whole-1": f"{range_less.url}/cogeo.tif",
        "whole-2": f"{range_less.url}/dem.tif",
        "refused": f"{tiff_server.url}/cogeo.tif",
        "typo": NOWHERE,
        "local": "tests/data/geotiff/cogeo.tif",
    }
    before = range_less.traffic.requests
    asked = tiff_server.traffic.by_path.get("/cogeo.tif", 0)
    result = CliRunner().invoke(main, ["catalog", catalog(tmp_path, urls)])
    assert result.exit_code == 0, result.output
    assert range_less.traffic.requests - before == 1  # one ranged GET per host, not per image
    assert tiff_server.traffic.by_path.get("/cogeo.tif", 0) == asked  # a refused host is never asked
    warnings = [line for line in result.output.splitlines() if line.startswith("Warning: ")]
    assert len(warnings) == 3, result.output
    text = "\n".join(warnings)
    assert f"host 127.0.0.1:{port} (2 images): " in text and "ignored a Range request" in text
    assert f"add {tiff_server.url.removeprefix('http://')} to that setting" in text
    assert "host no-such-host.invalid:80 (1 image): " in text and "does not resolve" in text
