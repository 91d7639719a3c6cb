"""Every route and error row of API.md, through Flask's test client, against real HTTP reads."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
import rasterio
from flask import Flask
from jinja2 import DictLoader
from PIL import Image as PILImage
from rasterio.warp import transform_bounds

from oam_preview import create_app, create_blueprint
from oam_preview.catalog import load_document
from oam_preview.geo.tiles import TMS

from .support.catalog_documents import catalog_doc
from .support.fileserver import FileServer
from .support.geotiffs import GENERATED, GEOTIFFS
from .support.loopback import LOOPBACK_ALLOW


def png(response) -> np.ndarray:
    return np.asarray(PILImage.open(io.BytesIO(response.data)))


def unversioned(url: str) -> str:
    """``url`` without the version token (``?v=``) that a worker adds once it knows the file."""
    return re.sub(r"\?v=[0-9a-f]{12}$", "", url)


def error_of(response) -> str:
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert "Traceback" not in body["error"]["message"]
    return body["error"]["code"]


# -- catalog -------------------------------------------------------------------------------


def test_images_lists_features_with_absolute_urls(client):
    r = client.get("/api/images?limit=3")
    assert r.status_code == 200
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    doc = r.get_json()
    assert doc["type"] == "FeatureCollection"
    assert doc["numberReturned"] == 3 and doc["numberMatched"] > 3
    rels = {link["rel"]: link["href"] for link in doc["links"]}
    assert rels["next"].startswith("http://localhost/api/images?") and "offset=3" in rels["next"]
    props = doc["features"][0]["properties"]
    for key in ("title", "source_url", "gsd", "acquisition_start", "acquisition_end", "provider", "license"):
        assert key in props
    fid = doc["features"][0]["id"]
    assert unversioned(props["thumbnail"]) == f"http://localhost/api/images/{fid}/thumbnail.png"
    assert unversioned(props["tiles"]) == f"http://localhost/api/images/{fid}/tiles/{{z}}/{{x}}/{{y}}.png"
    assert unversioned(props["tilejson"]).endswith("/tilejson.json")
    assert unversioned(props["wmts"]).endswith("/WMTSCapabilities.xml")


def test_paging_links(client):
    first = client.get("/api/images?limit=2&offset=2").get_json()
    rels = {link["rel"] for link in first["links"]}
    assert {"next", "prev", "self"} <= rels
    total = first["numberMatched"]
    last = client.get(f"/api/images?limit=2&offset={total - 1}").get_json()
    assert last["numberReturned"] == 1 and "next" not in {link["rel"] for link in last["links"]}


def test_one_image(client):
    r = client.get("/api/images/cogeo")
    assert r.status_code == 200 and r.get_json()["id"] == "cogeo"
    assert error_of(client.get("/api/images/nope")) == "not_found"


def geo_catalog_app():
    doc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": "fiji",
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [[[179, -17], [181, -17], [181, -16], [179, -16], [179, -17]]],
                },
                "properties": {
                    "source_url": "http://127.0.0.1:9/fiji.tif",
                    "title": "Fiji <script>alert(1)</script>",
                    "provider": "Drone Co",
                    "acquisition_start": "2020-05-01T10:00:00Z",
                    "acquisition_end": "2020-05-03T10:00:00Z",
                },
            },
            {
                "type": "Feature",
                "id": "nepal",
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [[[85, 27], [86, 27], [86, 28], [85, 28], [85, 27]]],
                },
                "properties": {
                    "source_url": "http://127.0.0.1:9/nepal.tif",
                    "title": "Kathmandu",
                    "provider": "Other",
                    "acquisition_start": "2021-01-01",
                },
            },
        ],
    }
    return create_app(catalog=load_document(doc)).test_client()


@pytest.mark.parametrize(
    ("query", "ids"),
    [
        ("bbox=84,26,87,29", ["nepal"]),
        ("bbox=179.5,-17,179.9,-16.5", ["fiji"]),
        ("bbox=-179.9,-17,-179,-16", ["fiji"]),
        ("bbox=170,-20,-170,0", ["fiji"]),  # crosses the antimeridian
        ("bbox=0,0,10,10", []),
        ("q=KATHMANDU", ["nepal"]),
        ("q=drone", ["fiji"]),  # provider
        ("acquired_after=2020-05-03", ["fiji", "nepal"]),  # overlap, inclusive
        ("acquired_after=2020-05-04", ["nepal"]),
        ("acquired_before=2020-05-01", ["fiji"]),
        ("acquired_before=2020-04-30", []),
        ("acquired_after=2020-05-02&acquired_before=2020-05-02", ["fiji"]),
        ("acquired_after=2020-05-03T10:00:01Z", ["nepal"]),
    ],
)
def test_search_filters(query, ids):
    doc = geo_catalog_app().get(f"/api/images?{query}").get_json()
    assert [f["id"] for f in doc["features"]] == ids
    assert doc["numberMatched"] == len(ids)


def test_antimeridian_feature_is_split():
    feature = geo_catalog_app().get("/api/images/fiji").get_json()
    assert feature["geometry"]["type"] == "MultiPolygon"
    west, _, east, _ = feature["bbox"]
    assert west > east
    assert feature["properties"]["title"] == "Fiji <script>alert(1)</script>"  # JSON, not HTML


@pytest.mark.parametrize(
    "query",
    [
        "limit=1001",
        "limit=-1",
        "limit=abc",
        "offset=-5",
        "bbox=1,2,3",
        "bbox=a,b,c,d",
        "bbox=0,10,10,0",
        "bbox=-200,0,0,10",
        "bbox=nan,0,1,1",
        "acquired_after=yesterday",
        "acquired_before=2020-13-01",
        "acquired_after=2021-01-01&acquired_before=2020-01-01",
    ],
)
def test_bad_query_values(client, query):
    r = client.get(f"/api/images?{query}")
    assert r.status_code == 400 and error_of(r) == "bad_request"


def test_unknown_query_parameters_are_ignored(client):
    assert client.get("/api/images?foo=bar&limit=1").status_code == 200


# -- imagery -------------------------------------------------------------------------------


def test_thumbnail_keeps_aspect_and_never_upscales(client):
    r = client.get("/api/images/cog_rgba/thumbnail.png?max_size=128")
    assert r.status_code == 200 and r.headers["Content-Type"] == "image/png"
    assert png(r).shape == (78, 128, 4)  # 383x232
    big = png(client.get("/api/images/cog_rgba/thumbnail.png?max_size=1024"))
    assert big.shape[:2] == (232, 383)


@pytest.mark.parametrize("size", ["15", "1025", "0", "abc", "-3"])
def test_thumbnail_size_bounds(client, size):
    r = client.get(f"/api/images/cogeo/thumbnail.png?max_size={size}")
    assert r.status_code == 400 and error_of(r) == "bad_request"


@pytest.mark.parametrize(
    ("fmt", "media_type"),
    [("png", "image/png"), ("jpg", "image/jpeg"), ("jpeg", "image/jpeg"), ("webp", "image/webp")],
)
def test_formats(client, fmt, media_type):
    r = client.get(f"/api/images/cogeo/thumbnail.{fmt}")
    assert r.status_code == 200 and r.headers["Content-Type"] == media_type
    PILImage.open(io.BytesIO(r.data)).verify()


def test_auto_format(client):
    opaque = client.get("/api/images/cogeo/tiles/18/224757/101422.auto")
    assert opaque.headers["Content-Type"] == "image/jpeg"
    transparent = client.get("/api/images/cog_rgba/thumbnail.auto")
    assert transparent.headers["Content-Type"] == "image/png"


def test_unknown_format(client):
    assert error_of(client.get("/api/images/cogeo/thumbnail.gif")) == "bad_request"
    assert error_of(client.get("/api/images/cogeo/tiles/18/224757/101422.tiff")) == "bad_request"


def test_tile_and_retina_tile(client):
    r = client.get("/api/images/cogeo/tiles/18/224757/101422.png")
    assert r.status_code == 200 and png(r).shape[:2] == (256, 256)
    r2 = client.get("/api/images/cogeo/tiles/18/224757/101422@2x.png")
    assert r2.status_code == 200 and png(r2).shape[:2] == (512, 512)


@pytest.mark.parametrize(
    "path",
    [
        "tiles/a/0/0.png",
        "tiles/1/0/0.5.png",
        "tiles/-1/0/0.png",
        "tiles/1/2/0.png",
        "tiles/1/0/2.png",
        "tiles/31/0/0.png",
        "tiles/99999999999/0/0.png",
        "tiles/1/0/0@3x.png",
        "tiles/1/0/0",
    ],
)
def test_malformed_tiles(client, path):
    r = client.get(f"/api/images/cogeo/{path}")
    assert r.status_code == 400 and error_of(r) == "bad_request"


COGEO_CENTER = (128.6581, 37.6686)


def test_tile_outside_bounds_and_zoom(client):
    r = client.get("/api/images/cogeo/tiles/10/0/0.png")
    assert r.status_code == 404 and error_of(r) == "outside_bounds"
    # cogeo's native zoom is 19: 22 is served, 23 is not.
    t = TMS.tile(*COGEO_CENTER, 22)
    assert client.get(f"/api/images/cogeo/tiles/22/{t.x}/{t.y}.png").status_code == 200
    t = TMS.tile(*COGEO_CENTER, 23)
    r = client.get(f"/api/images/cogeo/tiles/23/{t.x}/{t.y}.png")
    assert r.status_code == 404 and error_of(r) == "zoom_out_of_range"


def test_tile_inside_bbox_without_valid_pixels_is_transparent(client, tiff_dir):
    # cog_rgba has a 160x204 px transparent block in its top-left corner.
    with rasterio.open(tiff_dir / "cog_rgba.tif") as ds:
        west, _, _, north = transform_bounds(ds.crs, "EPSG:4326", *ds.bounds)
    t = TMS.tile(west + 0.00005, north - 0.00005, 22)
    r = client.get(f"/api/images/cog_rgba/tiles/22/{t.x}/{t.y}.png")
    assert r.status_code == 200
    assert png(r)[..., 3].max() == 0


def test_tilejson(client):
    r = client.get("/api/images/cogeo/tilejson.json")
    doc = r.get_json()
    assert doc["tilejson"] == "3.0.0"
    (tiles,) = doc["tiles"]
    assert re.fullmatch(
        r"http://localhost/api/images/cogeo/tiles/\{z\}/\{x\}/\{y\}\.png\?v=[0-9a-f]{12}", tiles
    )
    assert doc["maxzoom"] == 19 and doc["minzoom"] <= 19
    w, s, e, n = doc["bounds"]
    assert 128.65 < w < e < 128.67 and 37.66 < s < n < 37.68
    assert doc["center"][2] in range(doc["minzoom"], doc["maxzoom"] + 1)
    assert doc["attribution"] == "tests, CC0-1.0"
    assert r.headers["ETag"] and r.headers["Cache-Control"]


def test_wmts_capabilities_escape_urls(client):
    r = client.get("/api/images/cogeo/WMTSCapabilities.xml", headers={"X-Forwarded-Host": "ignored"})
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/xml")
    text = r.data.decode()
    assert "urn:ogc:def:crs:EPSG::3857" in text
    assert 'template="http://localhost/api/images/cogeo/tiles/{TileMatrix}/{TileCol}/{TileRow}.png?v=' in text
    import xml.etree.ElementTree as ET

    ET.fromstring(r.data)


def test_wmts_tile_matrices_are_the_tiles_grid(client):
    """GoogleMapsCompatible's matrices as OGC 17-083r2 lists them (zoom 0's scale denominator
    559082264.0287178), each the grid the tiles are cut on (geo.tiles' TMS)."""
    import xml.etree.ElementTree as ET

    wmts, ows = "{http://www.opengis.net/wmts/1.0}", "{http://www.opengis.net/ows/1.1}"
    root = ET.fromstring(client.get("/api/images/cogeo/WMTSCapabilities.xml").data)
    matrices = root.find(f"{wmts}Contents/{wmts}TileMatrixSet").findall(f"{wmts}TileMatrix")
    assert len(matrices) == 20 and matrices[0].find(f"{wmts}ScaleDenominator").text == "559082264.0287178"
    for matrix in matrices:
        grid = TMS.matrix(int(matrix.find(f"{ows}Identifier").text))
        assert float(matrix.find(f"{wmts}ScaleDenominator").text) == grid.scaleDenominator
        corner = tuple(map(float, matrix.find(f"{wmts}TopLeftCorner").text.split()))
        assert corner == tuple(grid.pointOfOrigin)
        assert int(matrix.find(f"{wmts}MatrixWidth").text) == grid.matrixWidth


def test_an_http_error_without_a_slug_keeps_its_status(catalog):
    """A Werkzeug HTTP error API.md has no slug for (a host app's 418) is a JSON ``internal``
    error with its own status."""
    from flask import abort

    app = create_app({"OAM_PREVIEW_BASEMAP_URL": ""}, catalog=catalog)
    app.add_url_rule("/teapot", "teapot", lambda: abort(418))
    for _ in range(2):
        r = app.test_client().get("/teapot")
        assert r.status_code == 418 and r.headers["Cache-Control"] == "no-store"
        assert r.get_json()["error"]["code"] == "internal"


def test_etag_and_304(client):
    for path in (
        "/api/images/cogeo/thumbnail.png",
        "/api/images/cogeo/tiles/18/224757/101422.png",
        "/api/images/cogeo/tilejson.json",
        "/api/images/cogeo/WMTSCapabilities.xml",
    ):
        r = client.get(path)
        assert r.status_code == 200
        etag = r.headers["ETag"]
        assert "max-age" in r.headers["Cache-Control"]
        again = client.get(path, headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.data == b""
        assert again.headers["ETag"] == etag
        assert again.headers["Access-Control-Allow-Origin"] == "*"
        assert client.get(path, headers={"If-None-Match": '"other"'}).status_code == 200


def test_not_georeferenced(client):
    r = client.get("/api/images/no_georef/tiles/1/0/0.png")
    assert r.status_code == 422 and error_of(r) == "not_georeferenced"
    assert client.get("/api/images/no_georef/thumbnail.png").status_code == 200
    assert error_of(client.get("/api/images/no_georef/tilejson.json")) == "not_georeferenced"


@pytest.mark.parametrize(
    ("image_id", "status", "code", "text"),
    [
        ("missing", 502, "upstream_error", "404"),
        ("refused", 502, "upstream_error", "unreachable"),
        ("html", 502, "upstream_error", "not a readable GeoTIFF"),
        ("empty", 502, "upstream_error", "the file is empty"),
    ],
)
def test_upstream_failures(client, image_id, status, code, text):
    for path in ("thumbnail.png", "tiles/18/224757/101422.png", "tilejson.json"):
        r = client.get(f"/api/images/{image_id}/{path}")
        assert r.status_code == status, (path, r.data)
        assert error_of(r) == code
        assert text in r.get_json()["error"]["message"]


@pytest.mark.parametrize("image_id", ["corrupt", "truncated"])
def test_undecodable_pixels_are_an_error_not_a_blank_tile(client, image_id):
    # (truncated.tif keeps its small overviews, so its thumbnail may still work)
    r = client.get(f"/api/images/{image_id}/tiles/18/224757/101422.png")
    assert r.status_code == 502 and error_of(r) == "upstream_error"


@pytest.mark.slow
def test_slow_upstream_times_out(client):
    r = client.get("/api/images/slow/thumbnail.png")
    assert r.status_code == 504 and error_of(r) == "upstream_timeout"


def test_read_limit(catalog):
    small = create_app({"OAM_PREVIEW_MAX_READ_MB": 1}, catalog=catalog).test_client()
    r = small.get("/api/images/stripped/thumbnail.png?max_size=1024")
    assert r.status_code == 422 and error_of(r) == "too_large"
    assert "MB" in r.get_json()["error"]["message"]
    # A zoomed-out tile of a file without overviews needs the whole image.
    info = small.get("/api/images/stripped/tilejson.json").get_json()
    lon, lat, _ = info["center"]
    t = TMS.tile(lon, lat, info["minzoom"])
    r = small.get(f"/api/images/stripped/tiles/{t.z}/{t.x}/{t.y}.png")
    assert r.status_code == 422 and error_of(r) == "too_large", r.data


def test_sidecar_overviews_are_used(client, tiff_server):
    tiff_server.traffic.reset()
    r = client.get("/api/images/sidecar/thumbnail.png?max_size=100")
    assert r.status_code == 200
    by_path = tiff_server.traffic.by_path
    assert by_path.get("/sidecar.tif.ovr", 0) >= 1


# -- service, errors, headers ------------------------------------------------------------


def test_healthz(client):
    doc = client.get("/healthz").get_json()
    assert doc["status"] == "ok" and doc["catalog"]["images"] > 10 and "skipped" in doc["catalog"]


def test_unknown_route_and_method(client):
    r = client.get("/api/nothing/here")
    assert r.status_code == 404 and error_of(r) == "not_found"
    r = client.post("/api/images")
    assert r.status_code == 405 and error_of(r) == "method_not_allowed"
    assert r.headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize("image_id", ["..%2F..%2Fetc%2Fpasswd", "a" * 200, "%00", "x%20y"])
def test_hostile_ids(client, image_id):
    r = client.get(f"/api/images/{image_id}/thumbnail.png")
    assert r.status_code == 404 and error_of(r) == "not_found"


def test_head_and_options(client):
    assert client.head("/api/images/cogeo/thumbnail.png").status_code == 200
    r = client.options(
        "/api/images/cogeo/tiles/18/224757/101422.png",
        headers={"Origin": "https://example.org", "Access-Control-Request-Method": "GET"},
    )
    assert r.status_code == 200
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert "GET" in r.headers["Access-Control-Allow-Methods"]


def test_page(client):
    r = client.get("/")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    assert "script-src 'self'" in r.headers["Content-Security-Policy"]
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert client.get("/vendor/leaflet/leaflet.js").status_code == 200


def test_report_page(client):
    """/report: the catalog's health report table, its settings as data and its own module."""
    r = client.get("/report")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    assert "script-src 'self'" in r.headers["Content-Security-Policy"]
    html = r.get_data(as_text=True)
    assert 'src="/static/report_page.js"' in html and 'id="report-table"' in html
    config = json.loads(html.split('id="oam-config">')[1].split("</script>")[0])
    assert config["images_url"] == "http://localhost/api/images" and config["map_url"] == "http://localhost/"
    assert client.get("/static/report_page.js").status_code == 200


# -- mounting ------------------------------------------------------------------------------


def test_blueprint_in_a_host_app_under_a_prefix(catalog):
    host = Flask("host")

    @host.get("/")
    def home():
        return "host home"

    host.config["OAM_PREVIEW_UPSTREAM_ALLOW"] = LOOPBACK_ALLOW  # the host app's config, not the environment
    host.register_blueprint(create_blueprint(catalog), url_prefix="/preview")
    client = host.test_client()
    assert client.get("/").data == b"host home"
    doc = client.get("/preview/api/images?limit=1").get_json()
    assert doc["features"][0]["properties"]["tiles"].startswith("http://localhost/preview/api/images/")
    tj = client.get("/preview/api/images/cogeo/tilejson.json").get_json()
    assert tj["tiles"][0].startswith("http://localhost/preview/api/images/cogeo/tiles/")
    assert client.get("/preview/api/images/cogeo/tiles/18/224757/101422.png").status_code == 200
    r = client.get("/preview/api/images/nope")
    assert r.status_code == 404 and error_of(r) == "not_found"
    assert "/preview/vendor/leaflet/leaflet.js" in client.get("/preview/").data.decode()


def test_two_blueprints_in_one_app(catalog):
    host = Flask("host")
    host.jinja_loader = DictLoader({"index.html": "the host's own page"})  # must not shadow ours
    host.config["OAM_PREVIEW_UPSTREAM_ALLOW"] = LOOPBACK_ALLOW
    host.register_blueprint(create_blueprint(catalog, name="a"), url_prefix="/a")
    host.register_blueprint(create_blueprint(catalog, name="b"), url_prefix="/b")
    client = host.test_client()
    assert (
        "/b/api/images/"
        in client.get("/b/api/images?limit=1").get_json()["features"][0]["properties"]["tiles"]
    )
    assert client.get("/a/api/images/cogeo/tilejson.json").status_code == 200
    page = client.get("/b/").data.decode()
    assert "/b/static/app.js" in page and "/b/vendor/leaflet/leaflet.js" in page
    assert client.get("/b/static/app.js").status_code == 200


def test_reverse_proxy_headers(catalog):
    app = create_app({"OAM_PREVIEW_TRUSTED_PROXIES": 1, "OAM_PREVIEW_PREFIX": "/preview"}, catalog=catalog)
    client = app.test_client()
    headers = {
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "maps.example.org",
        "X-Forwarded-Prefix": "/edge",
    }
    tj = client.get("/preview/api/images/cogeo/tilejson.json", headers=headers).get_json()
    assert (
        unversioned(tj["tiles"][0])
        == "https://maps.example.org/edge/preview/api/images/cogeo/tiles/{z}/{x}/{y}.png"
    )
    # Untrusted: the same headers are ignored.
    plain = create_app({"OAM_PREVIEW_PREFIX": "/preview"}, catalog=catalog).test_client()
    tj = plain.get("/preview/api/images/cogeo/tilejson.json", headers=headers).get_json()
    assert tj["tiles"][0].startswith("http://localhost/preview/")


def test_no_route_takes_a_url_to_fetch(client, tiff_dir):
    """A client-supplied URL is never fetched: a canary server that no catalog lists sees no request."""
    with FileServer(tiff_dir) as canary_server:
        canary = f"{canary_server.url}/cogeo.tif"
        for path in (
            f"/api/images?url={canary}",
            f"/api/images/cogeo/thumbnail.png?url={canary}&max_size=17",
            f"/api/images/cogeo/tiles/18/224757/101422.png?url={canary}&source={canary}",
            f"/api/images/cogeo/tilejson.json?url={canary}",
            f"/api/mosaic/tiles/18/224757/101422.png?url={canary}",
            f"/api/images/{canary}/thumbnail.png",
            f"/?url={canary}",
        ):
            assert client.get(path).status_code < 500, path
        assert canary_server.traffic.requests == 0, canary_server.traffic.by_path


def test_catalog_file_settings(tmp_path, tiff_server):
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(catalog_doc(tiff_server.url, ["cogeo.tif"])))
    app = create_app({"OAM_PREVIEW_CATALOG": str(path)})
    assert app.test_client().get("/api/images/cogeo/tilejson.json").status_code == 200


#: Every GeoTIFF the test server holds that a catalog could list: the committed real files and the
#: generated ones (tests/support/geotiffs.py).
REAL_NAMES = sorted(p.stem for p in GEOTIFFS.glob("*.tif")) + sorted(Path(n).stem for n in GENERATED)


@pytest.mark.parametrize("image_id", REAL_NAMES)
def test_every_real_file_renders_or_answers_a_clear_error(client, image_id):
    thumb = client.get(f"/api/images/{image_id}/thumbnail.png")
    assert thumb.status_code == 200
    assert max(PILImage.open(io.BytesIO(thumb.data)).size) <= 256
    tj = client.get(f"/api/images/{image_id}/tilejson.json")
    if image_id == "no_georef":
        assert error_of(tj) == "not_georeferenced"
        return
    doc = tj.get_json()
    lon, lat, _ = doc["center"]
    t = TMS.tile(lon, lat, doc["maxzoom"])
    tile = client.get(f"/api/images/{image_id}/tiles/{t.z}/{t.x}/{t.y}.png")
    assert tile.status_code == 200, tile.data[:200]
    assert png(tile).shape[:2] == (256, 256)
