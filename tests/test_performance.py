"""Reuse, counted: upstream requests and bytes per open, tile and thumbnail (never wall-clock times).

Each test reads its files under a URL of its own (a query string the file
server ignores), because GDAL's ``/vsicurl/`` caches are per process and
other tests may already have read the same files.
"""

from __future__ import annotations

import threading
import uuid

import pytest
import rasterio
from rasterio.env import get_gdal_config

from oam_preview import create_app
from oam_preview.catalog import Image, load_document
from oam_preview.config import Settings
from oam_preview.imagery import Imagery
from oam_preview.opener import BLOCK_CACHE_BYTES, Opener
from oam_preview.tiles import TMS

from .test_imagery import centre


def fresh_url(server, name: str) -> str:
    """A URL of ``name`` that no earlier test has read (GDAL caches per URL)."""
    return f"{server.url}/{name}?t={uuid.uuid4().hex}"


def counted(server, action) -> tuple[int, int]:
    """(requests, bytes) the file server answered while ``action()`` ran."""
    server.traffic.reset()
    action()
    return server.traffic.snapshot()


@pytest.fixture()
def opener():
    return Opener(Settings())


def test_opening_a_cog_costs_at_most_two_requests(opener, tiff_server):
    url = fresh_url(tiff_server, "synthetic_cog.tif")

    def open_once():
        with opener.open(url) as dataset:
            assert dataset.width == 2048

    requests, nbytes = counted(tiff_server, open_once)
    assert requests <= 3  # the version's HEAD, GDAL's HEAD, one ranged GET of the header
    assert nbytes <= 64 * 1024
    # Once per file per worker: the pooled dataset is lent again at no cost.
    assert counted(tiff_server, open_once) == (0, 0)


def test_concurrent_first_opens_read_the_header_once(opener, tiff_server):
    url = fresh_url(tiff_server, "synthetic_cog.tif")
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def first_request():
        barrier.wait()
        try:
            with opener.open(url) as dataset:
                dataset.read(1, window=((0, 1), (0, 1)))
        except BaseException as exc:  # reported below
            errors.append(exc)

    def race():
        threads = [threading.Thread(target=first_request) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    requests, _ = counted(tiff_server, race)
    assert not errors
    assert requests <= 4  # the version's HEAD, then GDAL's HEAD + header, once; the first block
    assert len(opener._opening) == 0  # no lock left behind


def test_block_cache_is_sized_in_bytes_and_survives_envs(opener):
    # rasterio applies GDAL_CACHEMAX in bytes; 128 once meant a 128-byte cache
    # and every tile decoded its JPEG blocks again and again.
    with opener.env():
        assert get_gdal_config("GDAL_CACHEMAX") == BLOCK_CACHE_BYTES
    with rasterio.Env():
        pass
    assert get_gdal_config("GDAL_CACHEMAX") == BLOCK_CACHE_BYTES


def test_the_same_tile_again_reads_nothing_upstream(opener, tiff_server, tiff_dir):
    imagery = Imagery(opener, Settings())
    image = Image(id="perf", source_url=fresh_url(tiff_server, "synthetic_cog.tif"))
    t = TMS.tile(*centre(tiff_dir / "synthetic_cog.tif"), 17)
    first = imagery.tile(image, t.z, t.x, t.y)
    requests, _ = counted(tiff_server, lambda: imagery.tile(image, t.z, t.x, t.y))
    assert requests == 0  # blocks come from GDAL's caches, not upstream
    again = imagery.tile(image, t.z, t.x, t.y)
    assert (again.data == first.data).all()


@pytest.fixture()
def perf_app(tiff_server):
    """An app over fresh URLs of two test files (ids ``cog`` and ``stripped``)."""
    features = [
        {
            "type": "Feature",
            "id": image_id,
            "geometry": None,
            "properties": {"title": image_id, "source_url": fresh_url(tiff_server, name)},
        }
        for image_id, name in (("cog", "synthetic_cog.tif"), ("stripped", "stripped.tif"))
    ]
    catalog = load_document({"type": "FeatureCollection", "features": features})
    return create_app({"OAM_PREVIEW_BASEMAP_URL": ""}, catalog=catalog)


def test_cache_hit_costs_no_upstream_request_and_keeps_its_etag(perf_app, tiff_server, tiff_dir):
    client = perf_app.test_client()
    t = TMS.tile(*centre(tiff_dir / "synthetic_cog.tif"), 18)
    url = f"/api/images/cog/tiles/{t.z}/{t.x}/{t.y}.png"
    first = client.get(url)
    assert first.status_code == 200
    holder: dict = {}
    requests, _ = counted(tiff_server, lambda: holder.update(second=client.get(url)))
    assert requests == 0
    assert holder["second"].data == first.data and holder["second"].headers["ETag"] == first.headers["ETag"]
    not_modified = client.get(url, headers={"If-None-Match": first.headers["ETag"]})
    assert not_modified.status_code == 304


def test_non_cog_thumbnail_is_read_once_for_every_format(perf_app, tiff_server):
    client = perf_app.test_client()
    requests, nbytes = counted(tiff_server, lambda: client.get("/api/images/stripped/thumbnail.png"))
    assert requests > 0 and nbytes > 0
    statuses: list[int] = []
    for fmt in ("png", "jpg", "webp", "auto"):
        url = f"/api/images/stripped/thumbnail.{fmt}"
        assert counted(tiff_server, lambda u=url: statuses.append(client.get(u).status_code)) == (0, 0)
    assert statuses == [200] * 4


def test_concurrent_non_cog_thumbnails_read_once(opener, tiff_server):
    imagery = Imagery(opener, Settings())
    single = Image(id="a", source_url=fresh_url(tiff_server, "stripped.tif"))
    imagery.info(single)
    _, one_read = counted(tiff_server, lambda: imagery.thumbnail(single, 128))
    image = Image(id="b", source_url=fresh_url(tiff_server, "stripped.tif"))
    imagery.info(image)
    results = []

    def race():
        threads = [
            threading.Thread(target=lambda: results.append(imagery.thumbnail(image, 128))) for _ in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    _, four_reads = counted(tiff_server, race)
    assert len(results) == 4 and all(r is results[0] for r in results)
    assert four_reads <= one_read * 1.1
