"""The embedded demo: built once, served over HTTP ranges, every image renders."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest
import rasterio
from PIL import Image as PILImage

from oam_preview import create_app
from oam_preview.demo import images as demo
from oam_preview.demo.switch import serving_config
from oam_preview.demo.synthetic import DemoImage, has_zstd, write_image
from oam_preview.geo.tiles import TMS


@pytest.fixture(scope="module")
def demo_client(tmp_path_factory):
    directory = tmp_path_factory.mktemp("demo")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OAM_PREVIEW_DEMO_DIR", str(directory))
        config = {"OAM_PREVIEW_CATALOG": "demo", "OAM_PREVIEW_BASEMAP_URL": ""}
        app = create_app({**config, **serving_config({**os.environ, **config})})
        yield app.test_client()


@pytest.mark.slow
def test_demo_images_render(demo_client):
    doc = demo_client.get("/api/images").get_json()
    ids = [f["id"] for f in doc["features"]]
    assert len(ids) >= 4
    kinds = {spec.kind for spec in demo.DEMO_IMAGES}
    assert {"rgb_cog", "rgb_stripped"} <= kinds
    assert max(spec.width for spec in demo.DEMO_IMAGES) >= 10000
    for feature in doc["features"]:
        assert feature["properties"]["source_url"].startswith("http://127.0.0.1:")
        thumb = demo_client.get(f"/api/images/{feature['id']}/thumbnail.png")
        assert thumb.status_code == 200, feature["id"]
        assert max(PILImage.open(io.BytesIO(thumb.data)).size) == 256
        tj = demo_client.get(f"/api/images/{feature['id']}/tilejson.json").get_json()
        lon, lat, _ = tj["center"]
        t = TMS.tile(lon, lat, tj["maxzoom"])
        tile = demo_client.get(f"/api/images/{feature['id']}/tiles/{t.z}/{t.x}/{t.y}.png")
        assert tile.status_code == 200, feature["id"]
        alpha = PILImage.open(io.BytesIO(tile.data)).convert("RGBA").getchannel("A")
        assert alpha.getextrema()[1] == 255  # some real pixels


@pytest.mark.slow
def test_demo_mosaic_stacks_the_kathmandu_images(demo_client):
    """Three demo images overlap over Kathmandu: newest on top, the drone's collar showing the aerial."""
    t = TMS.tile(85.3265, 27.7095, 16)  # the drone survey's centre
    r = demo_client.get(f"/api/mosaic/tiles/{t.z}/{t.x}/{t.y}.png?order=newest")
    assert r.status_code == 200, r.data
    assert r.headers["X-Mosaic-Images"].split(", ")[:2] == ["kathmandu-drone", "kathmandu-aerial"]
    r = demo_client.get(f"/api/mosaic/tiles/{t.z}/{t.x}/{t.y}.png?order=oldest")
    assert r.headers["X-Mosaic-Images"].split(", ")[0] == "kathmandu-satellite"
    world = demo_client.get("/api/mosaic/tiles/0/0/0.png")
    assert world.status_code == 200 and int(world.headers["X-Mosaic-Coverage"]) >= 5


@pytest.mark.slow
def test_demo_oam_style_items_are_drawn_as_their_catalog_says(demo_client):
    """The three OpenAerialMap-style uploads (ZSTD, native types) carry their product types and
    render hints; a render with a parameter this server does not take yet is skipped, counted."""
    ids = [f["id"] for f in demo_client.get("/api/images").get_json()["features"]]
    assert len(ids) == len(demo.DEMO_IMAGES) == 13  # ten older uploads and three OAM-style items
    dsm = demo_client.get("/api/images/goma-dsm").get_json()["properties"]
    assert dsm["product_type"] == "elevation" and dsm["default_render"] == "browse"
    assert "colormap_name=terrain" in dsm["tiles"] and "nodata=-9999" in dsm["tiles"]
    survey = demo_client.get("/api/images/kigali-multispectral").get_json()["properties"]
    assert [r["name"] for r in survey["renders"]] == ["browse", "ndvi"]
    assert "bidx=1,2,3" in survey["tiles"]
    cover = demo_client.get("/api/images/lusaka-landcover").get_json()["properties"]
    assert cover["product_type"] == "pseudocolor" and cover["product_type_source"] == "declared"
    report = demo_client.get("/healthz").get_json()["catalog"]["renders"]
    skipped = {(s["id"], s["render"]) for s in report["skipped_renders"]}
    names = {r["name"] for r in dsm["renders"]}
    assert ("goma-dsm", "hillshade") in skipped or "hillshade" in names  # drawn once `algorithm` is
    assert report["resolved"] + report["skipped"] == 5
    for image_id in ("goma-dsm", "kigali-multispectral", "lusaka-landcover"):
        tj = demo_client.get(f"/api/images/{image_id}/tilejson.json").get_json()
        lon, lat, _ = tj["center"]
        t = TMS.tile(lon, lat, tj["maxzoom"] - 2)
        tile = demo_client.get(f"/api/images/{image_id}/tiles/{t.z}/{t.x}/{t.y}.png")
        assert tile.status_code == 200, (image_id, tile.data[:200])
    t = TMS.tile(30.06, -1.95, 17)
    ndvi = demo_client.get(f"/api/images/kigali-multispectral/tiles/{t.z}/{t.x}/{t.y}.png?render=ndvi")
    assert ndvi.status_code == 200


def test_the_web_factory_starts_no_file_server():
    """The demo is served before the app (by `oam-preview serve`, or `serving_config` in Python):
    the web factory asked for the demo says how, and loads none of the demo's modules."""
    script = (
        "import sys\n"
        "from oam_preview.web.app import create_app\n"
        "try:\n"
        "    create_app({'OAM_PREVIEW_CATALOG': 'demo'})\n"
        "except ValueError as exc:\n"
        "    print(exc)\n"
        "print(sorted(m for m in sys.modules if m.startswith('oam_preview.demo')))\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    message, loaded = run.stdout.strip().splitlines()
    assert "oam-preview serve" in message and "serving_config" in message, run.stdout + run.stderr
    assert loaded == "[]"


@pytest.mark.parametrize(
    ("kind", "compression", "predictor"),
    [("rgb_cog", "ZSTD", "2"), ("rgba_cog", "ZSTD", "2"), ("rgb_jpeg_collar_cog", "YCbCr JPEG", None)],
)
def test_the_visual_images_are_written_as_openaerialmap_writes_them(tmp_path, kind, compression, predictor):
    """OAM's pipeline: lossless ZSTD, horizontal predictor for integers, 512 px blocks, overviews;
    the JPEG upload whose collar JPEG made near-black stays JPEG (its point)."""
    if compression == "ZSTD" and not has_zstd():
        pytest.skip("this GDAL writes no ZSTD")
    spec = DemoImage("tiny", "tiny", 85.3, 27.7, 32645, 1.0, 2048, 2048, kind, "tests", "2024-01-01", 1)
    path = tmp_path / spec.filename
    write_image(spec, path, lambda: None)
    with rasterio.open(path) as dataset:
        structure = dataset.tags(ns="IMAGE_STRUCTURE")
        assert structure["COMPRESSION"] == compression, structure
        assert structure.get("PREDICTOR") == predictor, structure
        assert set(dataset.block_shapes) == {(512, 512)}
        assert dataset.overviews(1) == [2, 4]
