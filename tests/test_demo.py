"""The embedded demo: built once, served over HTTP ranges, every image renders."""

from __future__ import annotations

import io

import pytest
from PIL import Image as PILImage

from oam_preview import create_app, demo
from oam_preview.geo.tiles import TMS


@pytest.fixture(scope="module")
def demo_client(tmp_path_factory):
    directory = tmp_path_factory.mktemp("demo")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OAM_PREVIEW_DEMO_DIR", str(directory))
        app = create_app({"OAM_PREVIEW_CATALOG": "demo", "OAM_PREVIEW_BASEMAP_URL": ""})
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
