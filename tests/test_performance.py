"""Reuse, counted: upstream requests and bytes per open, tile and thumbnail (never wall-clock times).

Each test reads its files under a URL of its own (a query string the file
server ignores), because GDAL's ``/vsicurl/`` caches are per process and
other tests may already have read the same files.
"""

from __future__ import annotations

import math
import threading
import time
import uuid

import pytest
import rasterio
from rasterio.env import get_gdal_config
from rio_tiler.io import Reader

from oam_preview import create_app
from oam_preview.catalog import Image, load_document
from oam_preview.config import Settings
from oam_preview.geo.tiles import TMS
from oam_preview.remote.gdal_settings import MIN_WORKER_CACHE_BYTES, gdal_options, worker_cache_bytes
from oam_preview.remote.opener import Opener
from oam_preview.tiler.decimated import CALL_BYTES
from oam_preview.tiler.imagery import Imagery

from .support.fileserver import FileServer
from .support.geotiffs import centre
from .support.loopback import LOOPBACK_ALLOW


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
    return Opener(Settings(upstream_allow=LOOPBACK_ALLOW))


def test_opening_a_cog_costs_at_most_three_requests_and_64_kib(opener, tiff_server):
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
        assert get_gdal_config("GDAL_CACHEMAX") == opener.gdal_cache_bytes == 64 * 2**20
    with rasterio.Env():
        pass
    assert get_gdal_config("GDAL_CACHEMAX") == opener.gdal_cache_bytes


def test_the_machine_gdal_caches_are_split_between_its_workers():
    # Each worker's blocks are mostly a copy of another's: the budget is the machine's.
    def share(**given):
        return worker_cache_bytes(Settings(**given)) / 2**20

    assert share() == share(workers=2) == 64  # the blocks' half of 256 MB, between 2 workers
    assert share(workers=4) == 32 and share(workers=1) == 128
    assert share(workers=4, gdal_cache_mb=1024) == 128
    assert share(workers=64) == MIN_WORKER_CACHE_BYTES / 2**20 == 16  # a floor, however many
    options = gdal_options(Settings(workers=4))
    assert options["CPL_VSIL_CURL_CACHE_SIZE"] == 32 * 2**20  # the downloaded ranges' half
    for bad in ({"OAM_PREVIEW_WORKERS": "0"}, {"OAM_PREVIEW_GDAL_CACHE_MB": "0"}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            Settings.from_mapping(bad)


def test_the_same_tile_again_reads_nothing_upstream(opener, tiff_server, tiff_dir):
    imagery = Imagery(opener, Settings(upstream_allow=LOOPBACK_ALLOW))
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
    imagery = Imagery(opener, Settings(upstream_allow=LOOPBACK_ALLOW))
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


def write_strips(
    path, size: int, bands: int, compress: str, rows_per_strip: int, predictor: int | None = None
):
    """A stripped RGB(A) GeoTIFF without overviews: DEFLATE + predictor in 64-row strips like a
    GIS export, or LZW RGBA in 1-row strips like a Pix4D one; textured, so strips differ in size."""
    import numpy as np
    from rasterio.enums import ColorInterp
    from rasterio.transform import from_origin

    rng = np.random.default_rng(size + bands)
    profile = {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "count": bands,
        "dtype": "uint8",
        "crs": "EPSG:32618",
        "transform": from_origin(780000.0, 2052000.0, 0.5, 0.5),
        "compress": compress,
        "blockysize": rows_per_strip,
        "interleave": "pixel",
        **({"predictor": predictor} if predictor else {}),
    }
    with rasterio.open(path, "w", **profile) as dst:
        rows, cols = np.mgrid[0:size, 0:size]
        base = ((np.sin(cols / 37.0) + np.cos(rows / 23.0)) * 60 + 120).astype(np.float32)
        for b in range(3):
            noisy = base + rng.normal(0, 12, base.shape) + b * 20
            dst.write(np.clip(noisy, 0, 255).astype(np.uint8), b + 1)
        if bands == 4:
            dst.write(np.where(rows + cols < size // 2, 0, 255).astype(np.uint8), 4)
            dst.colorinterp = (ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.alpha)
    return path


def needed_strip_bytes(path, out_rows: int) -> int:
    """Stored bytes of the strips a nearest-neighbour decimation to ``out_rows`` samples."""
    from oam_preview.tiler.decimated import sampled

    with rasterio.open(path) as ds:
        rows_per_strip = ds.block_shapes[0][0]
        strips = sorted({int(r) // rows_per_strip for r in sampled(ds.height, out_rows)})
        return sum(ds.block_size(1, s, 0) for s in strips)


@pytest.fixture(scope="module")
def strip_files(tiff_dir):
    return {
        "deflate64": write_strips(tiff_dir / "deflate_strips.tif", 2400, 3, "DEFLATE", 64, predictor=2),
        "lzw1": write_strips(tiff_dir / "lzw_rows.tif", 1600, 4, "LZW", 1),
    }


@pytest.mark.parametrize("own_datasets", [False, True])
def test_a_stripped_deflate_thumbnail_reads_each_strip_once_then_every_size_from_memory(
    opener, tiff_server, strip_files, own_datasets, monkeypatch
):
    if own_datasets:  # each call decodes into a dataset of its own (large files): no more requests
        monkeypatch.setattr("oam_preview.tiler.decimated.DECODED_BYTES", 1024 * 1024)
    path = strip_files["deflate64"]
    imagery = Imagery(opener, Settings(upstream_allow=LOOPBACK_ALLOW))
    image = Image(id="d", source_url=fresh_url(tiff_server, path.name))
    imagery.info(image)  # the header: the open, counted apart
    requests, nbytes = counted(tiff_server, lambda: imagery.thumbnail(image, 256))
    # 256 rows of 2400 sample every 64-row strip: the strips are the whole file's data.
    needed = needed_strip_bytes(path, 256)
    assert needed <= nbytes <= needed * 1.02
    # Never the file again: at most the header's 32 kB, where the first strip's range begins,
    # and a 16 kB chunk fetched by both threads where their runs of strips meet.
    assert nbytes <= path.stat().st_size + 48 * 1024
    # A few ranges per call of at most CALL_BYTES (GDAL's prefetch), never one per strip or band.
    assert requests <= 3 * math.ceil(needed / CALL_BYTES)
    for size in (16, 128, 255, 700, 1024):
        assert counted(tiff_server, lambda s=size: imagery.thumbnail(image, s)) == (0, 0)
    assert imagery.thumbnail(image, 700).data.shape == (3, 700, 700)


@pytest.mark.parametrize("own_datasets", [False, True])
def test_a_one_row_strip_thumbnail_fetches_only_the_sampled_strips(
    opener, tiff_server, strip_files, own_datasets, monkeypatch
):
    if own_datasets:  # a dataset of its own per 64 kB decoded
        monkeypatch.setattr("oam_preview.tiler.decimated.DECODED_BYTES", 64 * 1024)
    path = strip_files["lzw1"]
    imagery = Imagery(opener, Settings(upstream_allow=LOOPBACK_ALLOW))
    image = Image(id="p", source_url=fresh_url(tiff_server, path.name))
    imagery.info(image)
    requests, nbytes = counted(tiff_server, lambda: imagery.thumbnail(image, 128))
    needed = needed_strip_bytes(path, 128)
    # One request per sampled strip; GDAL rounds a lone range to its 16 kB chunks.
    assert needed <= nbytes <= needed + 128 * 32 * 1024
    assert nbytes < path.stat().st_size / 3  # 1 strip in 12.5 sampled (the whole file before)
    assert requests <= 128 + 8  # and the strip offsets and byte counts, fetched as needed
    pixels = imagery.thumbnail(image, 128)
    assert not pixels.opaque and pixels.mask.max() == 255  # the alpha band is the mask
    assert counted(tiff_server, lambda: imagery.thumbnail(image, 128)) == (0, 0)
    # Smaller sizes are shrunk from the 128 px read; a larger one reads its own strips.
    for size in (16, 64, 127):
        assert counted(tiff_server, lambda s=size: imagery.thumbnail(image, s)) == (0, 0)
    assert imagery.thumbnail(image, 64).data.shape == (3, 64, 64)


def test_groups_of_calls_hold_at_most_their_share_of_decoded_bytes():
    from oam_preview.tiler.decimated import groups

    assert groups([4, 4, 4, 9, 1, 1], budget=8) == [[0, 1], [2], [3], [4, 5]]
    assert groups([3], budget=8) == [[0]]


@pytest.mark.parametrize("own_datasets", [False, True])
@pytest.mark.parametrize("name", ["deflate64", "lzw1"])
def test_a_decimated_read_equals_one_whole_image_read(strip_files, name, own_datasets, monkeypatch):
    from rio_tiler.reader import read as rio_read

    from oam_preview.tiler.decimated import block_row_bytes, calls, read_whole, sampled

    if own_datasets:  # groups of calls decoded on two threads, each on a dataset of its own
        monkeypatch.setattr("oam_preview.tiler.decimated.DECODED_BYTES", 256 * 1024)
    path = strip_files[name]
    with rasterio.open(path) as ds:
        rows_per_strip = ds.block_shapes[0][0]
        bands = (1, 2, 3)
        whole = rio_read(ds, width=300, height=300, indexes=bands)
        parts = read_whole(ds, 300, 300, bands, rows_per_strip)
        assert (parts.array.data == whole.array.data).all()
        assert (parts.array.mask == whole.array.mask).all()
        assert (parts.alpha_mask is None) == (whole.alpha_mask is None)
        cap = CALL_BYTES // 16
        sampled_rows = sampled(ds.height, 300)
        for o0, o1 in calls(
            sampled_rows, rows_per_strip, lambda r: block_row_bytes(ds, rows_per_strip, r), cap
        ):
            blocks = sorted({int(r) // rows_per_strip for r in sampled_rows[o0:o1]})
            assert blocks == list(range(blocks[0], blocks[-1] + 1))  # no block row skipped inside
            assert sum(block_row_bytes(ds, rows_per_strip, b) for b in blocks) <= cap or len(blocks) == 1


@pytest.fixture(scope="module")
def far_server(tiff_dir):
    """The test files, each answer 0.2 s late: requests sent together are in flight together."""
    with FileServer(tiff_dir, delay=0.2) as server:
        yield server


def settled(server) -> dict:
    """The file server's counters once the last answer's count has landed (it lands after the answer)."""
    time.sleep(0.3)
    return server.traffic.read()


def test_a_cold_tile_costs_gdals_round_trips_the_version_head_beside_them(far_server, tiff_dir):
    """Issue 18: the first tile of a file new to the worker costs the round trips GDAL alone
    needs (HEAD, header, blocks: what TiTiler sends); the version's HEAD goes beside GDAL's."""
    t = TMS.tile(*centre(tiff_dir / "synthetic_cog.tif"), 17)
    far_server.traffic.reset()
    with (
        rasterio.Env(**gdal_options(Settings())),
        Reader("/vsicurl/" + fresh_url(far_server, "synthetic_cog.tif")) as cog,
    ):
        cog.tile(t.x, t.y, t.z)
    gdal_alone = settled(far_server)

    features = [
        {
            "type": "Feature",
            "id": "far",
            "geometry": None,
            "properties": {"source_url": fresh_url(far_server, "synthetic_cog.tif")},
        }
    ]
    app = create_app(
        {"OAM_PREVIEW_UPSTREAM_ALLOW": LOOPBACK_ALLOW, "OAM_PREVIEW_BASEMAP_URL": ""},
        catalog=load_document({"type": "FeatureCollection", "features": features}),
    )
    far_server.traffic.reset()
    r = app.test_client().get(f"/api/images/far/tiles/{t.z}/{t.x}/{t.y}.png")
    assert r.status_code == 200, r.data
    ours = settled(far_server)
    assert ours["requests"] == gdal_alone["requests"] + 1  # the version's HEAD
    assert ours["rounds"] <= gdal_alone["rounds"], (ours, gdal_alone)
