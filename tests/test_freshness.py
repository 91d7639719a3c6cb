"""A GeoTIFF that changes upstream under the same URL is served anew after the recheck interval."""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import shutil
import time

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from rasterio.windows import Window

from oam_preview import create_app
from oam_preview.catalog import load_document
from oam_preview.config import Settings
from oam_preview.geo.tiles import TMS
from oam_preview.remote.opener import Opener

from .support.catalog_documents import catalog_doc
from .support.fault_server import FaultServer
from .support.fileserver import FileServer
from .support.geotiffs import GEOTIFFS, write_cog
from .support.loopback import LOOPBACK_ALLOW


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


def write_uniform(path, value):
    """A 512² uint8 GeoTIFF of ``value`` everywhere, tiled 256 px, uncompressed: every file so
    written has the same layout, each block at the same offset."""
    profile = {
        "driver": "GTiff", "width": 512, "height": 512, "count": 1, "dtype": "uint8",
        "crs": "EPSG:3857", "transform": from_origin(1_000_000, 6_000_000, 0.6, 0.6),
        "tiled": True, "blockxsize": 256, "blockysize": 256,
    }  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.full((1, 512, 512), value, np.uint8))


@contextlib.contextmanager
def old_read_in_flight(tmp_path):
    """An Opener, the URL of a file of 10s, and a read of its block (256, 256) still downloading
    (4 s) when the file was replaced by one of 200s of the same layout and the change was seen."""
    path = tmp_path / "rewritten.tif"
    write_uniform(path, 10)
    with FaultServer(tmp_path) as server, concurrent.futures.ThreadPoolExecutor(2) as pool:
        url = f"{server.url}/rewritten.tif"
        opener = Opener(Settings(upstream_allow=LOOPBACK_ALLOW, upstream_recheck=0.05))
        first = opener.read(url, lambda dataset: dataset.read(1, window=Window(0, 0, 8, 8)))
        assert (first == 10).all()
        server.mode("trickle-16384")  # the block (64 kB) takes 4 s to come
        sent = server.traffic.snapshot()[1]
        old = pool.submit(opener.read, url, read_block)
        while server.traffic.snapshot()[1] == sent:  # counted as its range is read and sent
            time.sleep(0.01)
        time.sleep(0.3)  # the server has the old file open
        write_uniform(tmp_path / "next.tif", 200)
        future = time.time() + 5  # Last-Modified has one-second resolution
        os.utime(tmp_path / "next.tif", (future, future))
        os.replace(tmp_path / "next.tif", path)
        server.mode("ok")
        time.sleep(0.1)  # a recheck is due
        assert opener.checked(url).generation == 1  # the change seen: old datasets and bytes dropped
        assert not old.done()  # the old read still downloading
        yield opener, url, old, pool


def read_block(dataset):
    return dataset.read(1, window=Window(256, 256, 256, 256))


def test_a_read_of_the_old_file_still_in_flight_leaves_none_of_its_bytes_to_the_new_one(tmp_path):
    """Found by benchmarks/soak.py (a file replaced under its URL during the run): the new
    version's tile showed the old pixels, cached as immutable. A read of the old file was still
    downloading when the change was seen and GDAL's bytes of the URL dropped; its bytes arrived
    after, into GDAL's cache, and the new version's read took them at the same offsets."""
    with old_read_in_flight(tmp_path) as (opener, url, old, _):
        assert (old.result(timeout=60) == 10).all()  # of the old file, as it asked
        assert (opener.read(url, read_block) == 200).all()


def test_a_read_of_the_new_file_waits_for_the_old_one_in_flight(tmp_path):
    """Asked while the old read is out, the new version's read starts once it is back (so no
    byte of the old file can reach GDAL's cache under it), and reads the new file."""
    with old_read_in_flight(tmp_path) as (opener, url, old, pool):
        finished = []
        old.add_done_callback(lambda _: finished.append("old"))
        new = pool.submit(opener.read, url, read_block)
        new.add_done_callback(lambda _: finished.append("new"))
        assert (new.result(timeout=60) == 200).all()
        assert (old.result(timeout=60) == 10).all()
        assert finished == ["old", "new"]
