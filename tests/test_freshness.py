"""A GeoTIFF that changes upstream under the same URL is served anew after the recheck interval."""

from __future__ import annotations

import os
import shutil
import time

import pytest

from oam_preview import create_app
from oam_preview.catalog import load_document
from oam_preview.geo.tiles import TMS

from .support.catalog_documents import catalog_doc
from .support.fileserver import FileServer
from .support.geotiffs import GEOTIFFS, write_cog


@pytest.fixture()
def changing(tmp_path):
    """A file server with one image, ``changing.tif``, that the test may replace."""
    shutil.copy(GEOTIFFS / "cogeo.tif", tmp_path / "changing.tif")
    with FileServer(tmp_path) as server:
        yield server, tmp_path / "changing.tif"


def replace_file(path):
    shutil.copy(GEOTIFFS / "cog_rgba.tif", path)
    future = time.time() + 5  # Last-Modified has one-second resolution
    os.utime(path, (future, future))


def client_for(server, recheck):
    catalog = load_document(catalog_doc(server.url, ["changing.tif"]))
    return create_app({"OAM_PREVIEW_UPSTREAM_RECHECK": recheck}, catalog=catalog).test_client()


def test_a_changed_file_is_read_again(changing):
    server, path = changing
    client = client_for(server, 0.05)
    before = client.get("/api/images/changing/thumbnail.png")
    bounds_before = client.get("/api/images/changing/tilejson.json").get_json()["bounds"]
    replace_file(path)
    time.sleep(0.1)
    after = client.get("/api/images/changing/thumbnail.png")
    assert after.status_code == 200
    assert after.headers["ETag"] != before.headers["ETag"] and after.data != before.data
    assert client.get("/api/images/changing/tilejson.json").get_json()["bounds"] != bounds_before
    # The old ETag no longer matches.
    assert (
        client.get(
            "/api/images/changing/thumbnail.png", headers={"If-None-Match": before.headers["ETag"]}
        ).status_code
        == 200
    )


def test_recheck_costs_nothing_within_its_interval(changing):
    server, _ = changing
    client = client_for(server, 1000)
    client.get("/api/images/changing/thumbnail.png")
    server.traffic.reset()
    for _ in range(10):
        assert client.get("/api/images/changing/thumbnail.png").status_code == 200
    assert server.traffic.snapshot() == (0, 0)


def test_no_recheck_keeps_serving_what_it_has(changing):
    server, path = changing
    client = client_for(server, 0)
    before = client.get("/api/images/changing/thumbnail.png")
    replace_file(path)
    time.sleep(0.1)
    assert client.get("/api/images/changing/thumbnail.png").data == before.data


def test_a_file_replaced_between_rechecks_is_read_anew_not_a_502(tmp_path):
    """Found by benchmarks/soak.py: right after a file was replaced, a dataset the worker kept
    read the new bytes at the old file's block offsets, and the tile was a 502 ("Not a JPEG
    file") until the next recheck. A read that fails so rechecks the file at once and, when it
    changed, reads it again."""
    write_cog(tmp_path / "changing.tif", 2048, 2048, seed=0)
    with FileServer(tmp_path) as server:
        client = client_for(server, 1000)
        doc = client.get("/api/images/changing/tilejson.json").get_json()
        w, s, e, n = doc["bounds"]
        z = doc["maxzoom"]
        a, b = (
            TMS.tile(w + (e - w) * 0.1, n - (n - s) * 0.1, z),
            TMS.tile(e - (e - w) * 0.1, s + (n - s) * 0.1, z),
        )
        assert client.get(f"/api/images/changing/tiles/{z}/{a.x}/{a.y}.png").status_code == 200
        write_cog(tmp_path / "next.tif", 2048, 2048, seed=7)
        future = time.time() + 5  # Last-Modified has one-second resolution
        os.utime(tmp_path / "next.tif", (future, future))
        os.replace(tmp_path / "next.tif", tmp_path / "changing.tif")
        after = client.get(f"/api/images/changing/tiles/{z}/{b.x}/{b.y}.png")
        assert after.status_code == 200, after.data
        again = client.get("/api/images/changing/tilejson.json").get_json()
        assert again["tiles"][0] != doc["tiles"][0]  # a new version token: the change was seen
