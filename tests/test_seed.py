"""``oam-preview seed``: the shared cache warmed through the server's own render path, resumably."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from oam_preview import create_app
from oam_preview.cli import main
from oam_preview.geo.tiles import TMS

from .support.apps import wait_for_footprints
from .support.catalog_documents import catalog_doc
from .support.processes import free_port
from .support.redis_server import RedisServer
from .support.system import need_module

redis = need_module("redis")

#: The tiles of the synthetic 2048² COG at zoom 16 (0.6 m pixels over Kathmandu): 3 x 3.
Z16 = [(16, x, y) for x in range(48298, 48301) for y in range(27516, 27519)]


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    with RedisServer(free_port(), tmp_path_factory.mktemp("redis")) as server:
        yield server.url


@pytest.fixture()
def catalog_file(tiff_server, tmp_path):
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(catalog_doc(tiff_server.url, ["synthetic_cog.tif", "cogeo.tif"])))
    return path


def test_seeded_tiles_are_served_from_redis_and_a_second_run_skips_them(catalog_file, redis_url, tiff_server):
    redis.Redis.from_url(redis_url).flushdb()
    args = ["seed", "synthetic_cog", "--zoom", "16", "--catalog", str(catalog_file), "--cache-url", redis_url]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    assert "tiles: " in first.output and "0 failed; 0 already done" in first.output
    cached = int(first.output.split("tiles: ")[1].split(" cached")[0])
    assert cached >= 4

    server = create_app(
        {
            "OAM_PREVIEW_CACHE_URL": redis_url,
            "OAM_PREVIEW_CATALOG": str(catalog_file),
            "OAM_PREVIEW_BASEMAP_URL": "",
        }
    ).test_client()
    assert server.get("/api/images/synthetic_cog/tilejson.json").status_code == 200
    wait_for_footprints(
        server
    )  # the catalog has no footprints: they are read from headers, in the background
    time.sleep(0.2)  # the file server counts a request after answering it
    tiff_server.traffic.reset()
    for z, x, y in Z16:
        assert server.get(f"/api/images/synthetic_cog/tiles/{z}/{x}/{y}.png").status_code in (200, 404)
    stats = server.get("/healthz").get_json()["cache"]
    assert stats["renders"] == 0 and stats["shared"]["hits"] == cached
    assert tiff_server.traffic.snapshot() == (0, 0)

    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0, again.output
    assert f"{cached} already done" in again.output and "0 cached" in again.output
    forced = CliRunner().invoke(main, [*args, "--force"])
    assert forced.exit_code == 0 and f"{cached} cached" in forced.output


def test_seed_in_spawned_processes(catalog_file, redis_url, tmp_path):
    redis.Redis.from_url(redis_url).flushdb()
    command = [
        sys.executable, "-m", "oam_preview.cli", "seed", "synthetic_cog", "cogeo", "--zoom", "15-17",
        "--catalog", str(catalog_file), "--cache-url", redis_url, "--processes", "2", "--format", "webp",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=240, env=os.environ)
    assert result.returncode == 0, result.stderr[-2000:]
    assert " 0 failed; 0 already done" in result.stdout
    assert int(result.stdout.split("tiles: ")[1].split(" cached")[0]) >= 10


def test_seed_needs_the_shared_cache(catalog_file):
    result = CliRunner().invoke(main, ["seed", "cogeo", "--zoom", "3", "--catalog", str(catalog_file)], env={
        "OAM_PREVIEW_CACHE_URL": ""
    })  # fmt: skip
    assert result.exit_code == 2 and "shared cache" in result.output


def test_seed_through_an_rq_queue_and_a_worker(catalog_file, redis_url):
    need_module("rq")
    redis.Redis.from_url(redis_url).flushdb()
    args = ["seed", "synthetic_cog", "--zoom", "16", "--catalog", str(catalog_file), "--cache-url", redis_url]
    queued = CliRunner().invoke(main, [*args, "--queue", redis_url])
    assert queued.exit_code == 0, queued.output
    count = int(queued.output.split(" tiles in ")[0])
    assert count >= 4 and "1 jobs on the queue" in queued.output
    worker = [sys.executable, "-m", "oam_preview.cli", "worker", "--queue", redis_url, "--burst"]
    result = subprocess.run(worker, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-2000:]
    again = CliRunner().invoke(main, args)  # the worker marked them done
    assert again.exit_code == 0 and f"{count} already done" in again.output, again.output


def test_the_mosaic_of_a_query_is_seeded_and_served_from_redis(catalog_file, redis_url, tiff_server):
    redis.Redis.from_url(redis_url).flushdb()
    args = ["seed", "--mosaic", "ids=synthetic_cog&order=catalog", "--zoom", "15-16"]
    run = CliRunner().invoke(main, [*args, "--catalog", str(catalog_file), "--cache-url", redis_url])
    assert run.exit_code == 0, run.output
    cached = int(run.output.split("tiles: ")[1].split(" cached")[0])
    assert cached >= 2
    again = CliRunner().invoke(main, [*args, "--catalog", str(catalog_file), "--cache-url", redis_url])
    assert f"{cached} already done" in again.output, again.output

    server = create_app(
        {
            "OAM_PREVIEW_CACHE_URL": redis_url,
            "OAM_PREVIEW_CATALOG": str(catalog_file),
            "OAM_PREVIEW_BASEMAP_URL": "",
        }
    ).test_client()
    wait_for_footprints(server)  # footprints from the headers, in the background
    tile = server.get("/api/mosaic/tilejson.json?ids=synthetic_cog&order=catalog").get_json()["tiles"][0]
    lon, lat = server.get("/api/images/synthetic_cog/tilejson.json").get_json()["center"][:2]
    t = TMS.tile(lon, lat, 16)
    r = server.get(tile.split("localhost", 1)[1].replace("{z}/{x}/{y}", f"{t.z}/{t.x}/{t.y}"))
    assert r.status_code == 200 and r.headers["X-Mosaic-Images"] == "synthetic_cog"
    assert server.get("/healthz").get_json()["cache"]["renders"] == 0  # from the seeded cache


def test_seed_takes_ids_or_a_mosaic(catalog_file, redis_url):
    run = CliRunner().invoke(
        main, ["seed", "--zoom", "3", "--catalog", str(catalog_file), "--cache-url", redis_url]
    )
    assert run.exit_code == 2 and "IMAGE_IDS or --mosaic" in run.output
