"""The mosaic (API.md "Mosaic") over overlapping synthetic COGs on a real Range server.

The reference is rio-tiler's own ``Reader.tile()`` of each image, composited
in the query's order, first valid pixel winning. Reads are counted at the
file server.
"""

from __future__ import annotations

import io
import itertools
import json
import random
from pathlib import Path

import numpy as np
import pytest
import rasterio
from PIL import Image as PILImage
from rasterio.transform import from_origin
from rio_tiler.io import Reader
from shapely.geometry import box, mapping

from oam_preview import create_app
from oam_preview.catalog import load_document
from oam_preview.geo.tiles import TMS

from .support.fileserver import FileServer

#: Kathmandu, in EPSG:3857 metres: every image's top-left corner is placed from here.
X0, Y0 = 9_497_000.0, 3_211_000.0


def write_image(
    path: Path,
    res: float,
    size: int,
    offset: tuple[float, float],
    colour: int,
    *,
    hole=None,
    collar=False,
    mask=False,
) -> Path:
    """A textured RGB COG in EPSG:3857 at ``res`` m/px, ``size`` px square, its top left ``offset``
    metres east/south of (X0, Y0). ``hole``: (row0, row1, col0, col1) of nodata; ``collar``: nodata
    outside an inscribed circle; ``mask``: an internal mask instead of nodata."""
    from rio_cogeo.cogeo import cog_translate
    from rio_cogeo.profiles import cog_profiles

    rng = np.random.default_rng(colour)
    data = rng.integers(20, 235, (3, size, size), dtype=np.uint8)
    data[colour % 3] = np.maximum(data[colour % 3], 200)  # each image its own tint
    invalid = np.zeros((size, size), dtype=bool)
    if hole is not None:
        r0, r1, c0, c1 = hole
        invalid[r0:r1, c0:c1] = True
    if collar:
        rows, cols = np.mgrid[0:size, 0:size]
        invalid |= (rows - size / 2) ** 2 + (cols - size / 2) ** 2 > (size / 2 - 4) ** 2
    data[:, invalid] = 0
    data[:, ~invalid] = np.maximum(data[:, ~invalid], 1)  # 0 only where invalid
    raw = path.with_suffix(".raw.tif")
    profile = {
        "driver": "GTiff", "width": size, "height": size, "count": 3, "dtype": "uint8",
        "crs": "EPSG:3857", "transform": from_origin(X0 + offset[0], Y0 - offset[1], res, res),
        "tiled": True, "blockxsize": 256, "blockysize": 256,
    }  # fmt: skip
    if not mask:
        profile["nodata"] = 0
    with rasterio.open(raw, "w", **profile) as dst:
        dst.write(data)
        if mask:
            dst.write_mask(np.where(invalid, 0, 255).astype(np.uint8))
    cog_translate(str(raw), str(path), cog_profiles.get("deflate"), quiet=True)
    raw.unlink()
    return path


#: id: (res m/px, size px, offset m, colour, extra, date)
IMAGES = {
    "base-2019": (2.0, 512, (0.0, 0.0), 0, {}, "2019-05-01"),
    "aerial-2024": (0.5, 1024, (100.0, 100.0), 1, {"hole": (300, 500, 300, 500)}, "2024-03-14"),
    "drone-2025": (0.25, 1024, (150.0, 150.0), 2, {"collar": True}, "2025-02-01"),
    "masked-2022": (0.5, 512, (400.0, 500.0), 3, {"mask": True, "hole": (0, 512, 0, 200)}, "2022-07-07"),
    # Entirely inside aerial-2024's valid pixels and older: under `newest`, never opened.
    "buried-2018": (0.5, 128, (700.0, 650.0), 4, {}, "2018-01-01"),
}


@pytest.fixture(scope="module")
def mosaic_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("mosaic")
    for name, (res, size, offset, colour, extra, _) in IMAGES.items():
        write_image(root / f"{name}.tif", res, size, offset, colour, **extra)
    (root / "broken-2026.tif").write_bytes(b"II*\x00" + bytes(1000))  # a TIFF header and nothing
    return root


def footprint(path: Path) -> dict:
    with rasterio.open(path) as ds:
        from rasterio.warp import transform_bounds

        return mapping(box(*transform_bounds(ds.crs, "EPSG:4326", *ds.bounds)))


_runs = itertools.count()


def catalog_of(server: FileServer, root: Path, names: list[str], broken: bool = False) -> dict:
    """A GeoJSON catalog of ``names``; its URLs are new to GDAL's process-wide cache, so the
    file server sees every read this catalog's app makes."""
    run = next(_runs)
    features = []
    for name in names:
        res, *_, date = IMAGES[name]
        features.append(
            {
                "type": "Feature",
                "id": name,
                "geometry": footprint(root / f"{name}.tif"),  # the rectangle: collars and holes included
                "properties": {
                    "title": name, "source_url": f"{server.url}/{name}.tif?run={run}", "gsd": res,
                    "acquisition_start": date, "acquisition_end": date, "provider": "tests",
                },
            }
        )  # fmt: skip
    if broken:
        features.append(
            {
                "type": "Feature",
                "id": "broken-2026",
                "geometry": footprint(root / "drone-2025.tif"),
                "properties": {
                    "title": "broken", "source_url": f"{server.url}/broken-2026.tif?run={run}", "gsd": 0.25,
                    "acquisition_start": "2026-01-01", "acquisition_end": "2026-01-01",
                },
            }
        )  # fmt: skip
    return {"type": "FeatureCollection", "features": features}


@pytest.fixture(scope="module")
def mosaic_server(mosaic_dir):
    with FileServer(mosaic_dir) as server:
        yield server


def client_of(server, root, names=tuple(IMAGES), broken=False, **config):
    catalog = load_document(catalog_of(server, root, list(names), broken))
    settings = {"OAM_PREVIEW_BASEMAP_URL": "", **config}
    return create_app(settings, catalog=catalog).test_client()


def decode(body: bytes) -> tuple[np.ndarray, np.ndarray]:
    img = np.asarray(PILImage.open(io.BytesIO(body)).convert("RGBA"))
    return np.moveaxis(img[..., :3], -1, 0), img[..., 3]


def reference(root: Path, order: list[str], z: int, x: int, y: int) -> tuple[np.ndarray, np.ndarray]:
    """rio-tiler's own tiles of each image, first valid pixel wins."""
    data = np.zeros((3, 256, 256), np.uint8)
    filled = np.zeros((256, 256), bool)
    for name in order:
        with Reader(str(root / f"{name}.tif")) as reader:
            if not reader.tile_exists(x, y, z):
                continue
            img = reader.tile(x, y, z, tilesize=256)
        valid = (img.mask > 0) & ~filled
        data[:, valid] = img.data[:3][:, valid]
        filled |= img.mask > 0
    return data, filled


def centre_tile(z: int) -> tuple[int, int, int]:
    """The tile at the middle of the overlapping images."""
    lon, lat = TMS.lnglat(X0 + 500.0, Y0 - 500.0)
    t = TMS.tile(lon, lat, z)
    return t.z, t.x, t.y


NEWEST = ["drone-2025", "aerial-2024", "masked-2022", "base-2019", "buried-2018"]
BEST = ["drone-2025", "aerial-2024", "masked-2022", "buried-2018", "base-2019"]


@pytest.mark.parametrize(
    ("query", "order"),
    [
        ("", NEWEST),  # the default order is newest
        ("?order=best", BEST),
        ("?ids=base-2019,masked-2022,drone-2025&order=catalog", ["base-2019", "masked-2022", "drone-2025"]),
    ],
)
@pytest.mark.parametrize("zoom", [16, 17])
def test_mosaic_tiles_match_the_reference_composite(mosaic_server, mosaic_dir, query, order, zoom):
    client = client_of(mosaic_server, mosaic_dir)
    for dx, dy in ((0, 0), (1, 0), (0, 1), (-1, -1)):
        z, x, y = centre_tile(zoom)
        x, y = x + dx, y + dy
        r = client.get(f"/api/mosaic/tiles/{z}/{x}/{y}.png{query}")
        if r.status_code == 404:
            assert not reference(mosaic_dir, order, z, x, y)[1].any()
            continue
        assert r.status_code == 200, r.data
        data, alpha = decode(r.data)
        want, valid = reference(mosaic_dir, order, z, x, y)
        assert ((alpha > 0) == valid).mean() > 0.995, (query, z, x, y)
        both = valid & (alpha > 0)
        diff = np.abs(data[:, both].astype(int) - want[:, both].astype(int))
        assert diff.mean() < 1.0, (query, z, x, y, diff.mean())
        shown = [s for s in r.headers["X-Mosaic-Images"].split(", ") if s]
        assert shown == [n for n in order if n in shown], "X-Mosaic-Images is top first"
        assert r.headers["X-Mosaic-Coverage"] == "0"


def test_holes_and_collars_let_the_next_image_show(mosaic_server, mosaic_dir):
    client = client_of(mosaic_server, mosaic_dir)
    t = TMS.tile(*TMS.lnglat(X0 + 278.0, Y0 - 278.0), 17)  # the drone survey's centre
    r = client.get(f"/api/mosaic/tiles/{t.z}/{t.x}/{t.y}.png")
    shown = r.headers["X-Mosaic-Images"].split(", ")
    # The drone's collar and the aerial's hole are inside its footprint: older images fill them.
    assert shown[0] == "drone-2025" and len(shown) >= 2, shown


def test_a_mosaic_tile_carries_the_capture_dates_of_the_images_that_gave_pixels(mosaic_server, mosaic_dir):
    client = client_of(mosaic_server, mosaic_dir)
    t = TMS.tile(*TMS.lnglat(X0 + 278.0, Y0 - 278.0), 17)  # the drone survey over older images
    first = client.get(f"/api/mosaic/tiles/{t.z}/{t.x}/{t.y}.png")
    again = client.get(f"/api/mosaic/tiles/{t.z}/{t.x}/{t.y}.png")  # from the cache: headers kept
    for r in (first, again):
        shown = r.headers["X-Mosaic-Images"].split(", ")
        dates = sorted(IMAGES[name][-1] for name in shown)
        y0, m0, d0 = (int(p) for p in dates[0].split("-"))
        y1, m1, d1 = (int(p) for p in dates[-1].split("-"))
        assert r.headers["X-VE-TILEMETA-CaptureDatesRange"] == f"{m0}/{d0}/{y0}-{m1}/{d1}/{y1}"
        assert r.headers["X-OIN-Provider"] == "tests"
    assert first.headers["X-VE-TILEMETA-CaptureDatesRange"].endswith("2/1/2025")


def test_an_image_under_filled_pixels_is_never_opened(mosaic_server, mosaic_dir):
    client = client_of(mosaic_server, mosaic_dir)
    mosaic_server.traffic.reset()
    lon, lat = TMS.lnglat(X0 + 700.0 + 32, Y0 - 650.0 - 32)  # inside buried-2018
    for zoom in (16, 17, 18):
        t = TMS.tile(lon, lat, zoom)
        r = client.get(f"/api/mosaic/tiles/{t.z}/{t.x}/{t.y}.png")
        assert r.status_code == 200
        assert "buried-2018" not in r.headers["X-Mosaic-Images"]
    assert mosaic_server.traffic.by_path.get("/buried-2018.tif", 0) == 0


def test_a_tile_reads_at_most_the_cap(mosaic_server, mosaic_dir):
    client = client_of(mosaic_server, mosaic_dir, OAM_PREVIEW_MOSAIC_MAX_IMAGES=1)
    mosaic_server.traffic.reset()
    t = TMS.tile(*TMS.lnglat(X0 + 278.0, Y0 - 278.0), 17)
    r = client.get(f"/api/mosaic/tiles/{t.z}/{t.x}/{t.y}.png")
    assert r.status_code == 200
    assert r.headers["X-Mosaic-Images"] == "drone-2025"
    assert int(r.headers["X-Mosaic-Coverage"]) >= 1  # the next ones, drawn from their footprints
    opened = {p for p, n in mosaic_server.traffic.by_path.items() if n and p.endswith(".tif")}
    assert opened == {"/drone-2025.tif"}


def test_one_broken_image_gives_a_coverage_mark_and_no_store(mosaic_server, mosaic_dir):
    client = client_of(mosaic_server, mosaic_dir, broken=True)
    t = TMS.tile(*TMS.lnglat(X0 + 278.0, Y0 - 278.0), 17)
    z, x, y = t.z, t.x, t.y
    r = client.get(f"/api/mosaic/tiles/{z}/{x}/{y}.png")
    assert r.status_code == 200, r.data
    assert r.headers["Cache-Control"] == "no-store"
    assert int(r.headers["X-Mosaic-Coverage"]) >= 1
    assert r.headers["X-Mosaic-Images"].startswith("drone-2025")
    assert client.get("/healthz").get_json()["mosaic"]["image_failures"] >= 1
    # Only the broken image in the query: nothing else to draw, so its error.
    r = client.get(f"/api/mosaic/tiles/{z}/{x}/{y}.png?ids=broken-2026")
    assert r.status_code == 502 and r.get_json()["error"]["code"] == "upstream_error"


def test_mosaic_tiles_are_cacheable_with_etag(mosaic_server, mosaic_dir):
    client = client_of(mosaic_server, mosaic_dir)
    z, x, y = centre_tile(16)
    first = client.get(f"/api/mosaic/tiles/{z}/{x}/{y}.png?order=best")
    assert first.status_code == 200 and first.headers["ETag"]
    assert "no-store" not in first.headers["Cache-Control"]
    again = client.get(
        f"/api/mosaic/tiles/{z}/{x}/{y}.png?order=best", headers={"If-None-Match": first.headers["ETag"]}
    )
    assert again.status_code == 304
    assert again.headers["Access-Control-Allow-Origin"] == "*"
    cached = client.get(f"/api/mosaic/tiles/{z}/{x}/{y}.png?order=best")
    assert cached.headers["X-Mosaic-Images"] == first.headers["X-Mosaic-Images"]


def test_mosaic_errors(mosaic_server, mosaic_dir):
    client = client_of(mosaic_server, mosaic_dir)
    assert client.get("/api/mosaic/tiles/17/0/0.png").get_json()["error"]["code"] == "outside_bounds"
    z, x, y = centre_tile(16)
    deep = TMS.tile(*TMS.lnglat(X0 + 500.0, Y0 - 500.0), 24)
    r = client.get(f"/api/mosaic/tiles/24/{deep.x}/{deep.y}.png")
    assert r.status_code == 404 and r.get_json()["error"]["code"] == "zoom_out_of_range"
    r = client.get(f"/api/mosaic/tiles/{z}/{x}/{y}.png?order=sideways")
    assert r.status_code == 400
    r = client.get(f"/api/mosaic/tiles/{z}/{x}/{y}.png?q=nothing-matches")
    assert r.status_code == 404
    assert (
        client.get("/api/mosaic/tilejson.json?q=nothing-matches").get_json()["error"]["code"] == "not_found"
    )
    assert client.get("/api/mosaic/WMTSCapabilities.xml?q=nothing-matches").status_code == 404


def test_mosaic_tilejson_carries_the_query(mosaic_server, mosaic_dir):
    client = client_of(mosaic_server, mosaic_dir)
    doc = client.get("/api/mosaic/tilejson.json?order=best&gsd_max=1").get_json()
    assert doc["tilejson"] == "3.0.0" and doc["minzoom"] == 0
    assert "order=best" in doc["tiles"][0] and "gsd_max=1.0" in doc["tiles"][0]
    assert doc["maxzoom"] == 20  # drone-2025: 0.25 m a pixel, z20 is the first zoom as fine
    w, s, e, n = doc["bounds"]
    lon, lat = TMS.lnglat(X0 + 500.0, Y0 - 500.0)
    assert w < lon < e and s < lat < n
    tile = doc["tiles"][0].replace("{z}/{x}/{y}", "/".join(map(str, centre_tile(17))))
    path = tile.split("localhost", 1)[1]
    r = client.get(path)
    assert r.status_code == 200 and "base-2019" not in r.headers["X-Mosaic-Images"]  # gsd_max=1


def test_gdal_reads_the_mosaic_wmts(mosaic_server, mosaic_dir, tmp_path):
    import subprocess

    from .support.processes import free_port, serve_command, stop_process, wait_for_healthz

    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(catalog_of(mosaic_server, mosaic_dir, list(IMAGES))))
    port = free_port()
    process = subprocess.Popen(
        serve_command(str(path), port, workers=1, threads=4), stderr=subprocess.DEVNULL
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for_healthz(base, process, timeout=30)
        with (
            rasterio.Env(GDAL_HTTP_TIMEOUT=20),
            rasterio.open(f"WMTS:{base}/api/mosaic/WMTSCapabilities.xml") as ds,
        ):
            assert ds.crs.to_epsg() == 3857
            from rasterio.windows import from_bounds

            window = from_bounds(X0 + 300, Y0 - 700, X0 + 700, Y0 - 300, transform=ds.transform)
            out = ds.read(1, window=window, out_shape=(64, 64))
        assert out.std() > 5  # textured imagery, not an empty or uniform answer
    finally:
        stop_process(process)


# -- a world of 20,000 images --------------------------------------------------------------


def world_catalog(url: str, n: int = 20_000) -> dict:
    rng = random.Random(7)
    features = []
    for i in range(n):
        lon, lat = rng.uniform(-170, 170), rng.uniform(-60, 70)
        size = rng.uniform(0.002, 0.05)  # 200 m to 5 km
        features.append(
            {
                "type": "Feature",
                "id": f"w{i}",
                "geometry": mapping(box(lon, lat, lon + size, lat + size)),
                "properties": {
                    "title": f"w{i}", "source_url": f"{url}/w{i}.tif", "gsd": 0.1,
                    "acquisition_start": "2020-01-01",
                },
            }
        )  # fmt: skip
    return {"type": "FeatureCollection", "features": features}


@pytest.mark.slow
def test_world_zoom_tiles_of_20000_images_read_no_geotiff(mosaic_server):
    catalog = load_document(world_catalog(mosaic_server.url))
    client = create_app({"OAM_PREVIEW_BASEMAP_URL": ""}, catalog=catalog).test_client()
    mosaic_server.traffic.reset()
    for z, x, y in ((0, 0, 0), (2, 1, 1), (4, 9, 6)):
        r = client.get(f"/api/mosaic/tiles/{z}/{x}/{y}.png")
        assert r.status_code == 200, r.data
        assert r.headers["X-Mosaic-Images"] == ""
        assert int(r.headers["X-Mosaic-Coverage"]) > 0
        _, alpha = decode(r.data)
        assert (alpha > 0).any()
    assert mosaic_server.traffic.requests == 0


def test_concurrent_first_requests_of_a_tile_render_it_once(mosaic_server, mosaic_dir):
    import threading

    client = client_of(mosaic_server, mosaic_dir)
    z, x, y = centre_tile(17)
    statuses: list[int] = []
    threads = [
        threading.Thread(
            target=lambda: statuses.append(client.get(f"/api/mosaic/tiles/{z}/{x}/{y}.png").status_code)
        )
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert statuses == [200] * 8
    assert client.get(f"/api/mosaic/tiles/{z}/{x}/{y}.png").status_code == 200  # now the files are known
    health = client.get("/healthz").get_json()
    assert health["mosaic"]["tiles_rendered"] == 1, health


def test_the_images_a_cold_tile_surely_reads_are_read_at_once(mosaic_dir):
    """Each image whose footprint covers pixels no footprint above it covers is read at once, not
    one after the other: with every answer delayed, the file server sees them in flight together."""
    with FileServer(mosaic_dir, delay=0.3) as slow:
        client = client_of(slow, mosaic_dir, names=("drone-2025", "aerial-2024", "base-2019"))
        slow.traffic.reset()
        t = TMS.tile(*TMS.lnglat(X0 + 278.0, Y0 - 278.0), 15)
        r = client.get(f"/api/mosaic/tiles/{t.z}/{t.x}/{t.y}.png")
        assert r.status_code == 200
        assert set(r.headers["X-Mosaic-Images"].split(", ")) == {"drone-2025", "aerial-2024", "base-2019"}
        assert slow.traffic.peak_in_flight >= 2
