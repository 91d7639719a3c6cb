"""Private and embargoed images: API tokens, signed expiring tile URLs, the embargo's end on a
clock the tests control, and no cache tier (the shared Redis one included) serving a private
tile to a request not allowed it."""

from __future__ import annotations

import urllib.parse
from typing import Any

from oam_preview import create_app
from oam_preview.catalog.sources import load_document

from .support.catalog_documents import COGEO_BOUNDS
from .support.private_access import (
    EMBARGO_END,
    ONE_IMAGE_TOKEN,
    PARTNER_TOKEN,
    SIGNING_KEY,
    bearer,
)
from .support.processes import free_port
from .support.redis_server import RedisServer
from .support.system import need_module

TILE = "tiles/18/224757/101422.png"  # a tile of cogeo.tif


def private_catalog(server_url: str) -> Any:
    w, s, e, n = COGEO_BOUNDS
    polygon = {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}

    def record(image_id: str, **properties: Any) -> dict[str, Any]:
        props = {"source_url": f"{server_url}/cogeo.tif", "acquisition_start": "2020-01-01", **properties}
        return {"type": "Feature", "id": image_id, "geometry": polygon, "properties": props}

    features = [
        record("open"),
        record("secret", private=True, group="ngo"),
        record("embargoed", embargo_until="2027-01-01"),
    ]
    return load_document({"type": "FeatureCollection", "features": features})


def app_for(tiff_server: Any, access_file: str, **config: Any) -> Any:
    settings = {"OAM_PREVIEW_ACCESS": access_file, "OAM_PREVIEW_BASEMAP_URL": "", **config}
    return create_app(settings, catalog=private_catalog(tiff_server.url))


def listed(client: Any) -> set[str]:
    return {f["id"] for f in client.get("/api/images").json["features"]}


def signed_tile_url(client: Any, image_id: str, token: str) -> str:
    """The signed tile URL the image's TileJSON gives a token holder, as a path with its query."""
    doc = client.get(f"/api/images/{image_id}/tilejson.json", headers=bearer(token)).json
    url = doc["tiles"][0].replace("{z}/{x}/{y}.png", TILE.removeprefix("tiles/"))
    parts = urllib.parse.urlsplit(url)
    return f"{parts.path}?{parts.query}"


def test_anonymous_clients_never_see_private_images(tiff_server, access_file, clock):
    client = app_for(tiff_server, access_file).test_client()
    assert listed(client) == {"open"}
    for image_id in ("secret", "embargoed"):
        for path in ("", "/thumbnail.png", f"/{TILE}", "/tilejson.json", "/report"):
            response = client.get(f"/api/images/{image_id}{path}")
            assert response.status_code == 404, path
            assert response.json["error"]["code"] == "not_found"
    # Feeds and editors' imagery lists select public images only (a token's: test_private_selections).
    for path in (
        "/api/images.atom",
        "/api/images/feed.geojson",
        "/api/imagery/index.geojson",
        "/api/imagery/josm.xml",
    ):
        body = client.get(path).get_data(as_text=True)
        assert "/api/images/open/" in body and "secret" not in body and "embargoed" not in body, path
    # A misspelt id is not answered with a private image's id.
    assert "secret" not in client.get("/api/images/secre").json["error"]["message"]
    # The mosaic selects public images only (the three share one file and footprint).
    mosaic = client.get(f"/api/mosaic/{TILE}")
    assert mosaic.status_code == 200 and mosaic.headers["X-Mosaic-Images"] == "open"
    assert client.get(f"/api/images/open/{TILE}").status_code == 200


def test_tokens_see_the_images_they_are_scoped_to(tiff_server, access_file, clock):
    client = app_for(tiff_server, access_file).test_client()
    response = client.get("/api/images/secret", headers=bearer(PARTNER_TOKEN))
    assert response.status_code == 200
    assert response.headers["Cache-Control"].startswith("private")
    assert "sig=" in response.json["properties"]["tiles"]
    tile = client.get(f"/api/images/secret/{TILE}", headers=bearer(PARTNER_TOKEN))
    assert tile.status_code == 200 and tile.headers["Cache-Control"].startswith("private")
    # The WMTS a token holder gets has signed ResourceURLs too (QGIS, JOSM: no header).
    wmts = client.get("/api/images/secret/WMTSCapabilities.xml", headers=bearer(PARTNER_TOKEN))
    assert wmts.status_code == 200 and "sig=" in wmts.get_data(as_text=True)
    # The listing shows a token the private images of its scope, privately.
    listing = client.get("/api/images", headers=bearer(PARTNER_TOKEN))
    assert {f["id"] for f in listing.json["features"]} == {"open", "secret"}
    assert listing.json["numberMatched"] == 2 and listing.headers["Cache-Control"].startswith("private")
    tiles = {f["id"]: f["properties"]["tiles"] for f in listing.json["features"]}
    assert "sig=" in tiles["secret"] and "sig=" not in tiles["open"]
    assert client.get("/api/images", headers=bearer("nope")).status_code == 403
    # Out of scope, unknown: 403 JSON.
    for token, image_id in ((PARTNER_TOKEN, "embargoed"), (ONE_IMAGE_TOKEN, "secret"), ("nope", "secret")):
        denied = client.get(f"/api/images/{image_id}", headers=bearer(token))
        assert denied.status_code == 403 and denied.json["error"]["code"] == "access_denied"
    # A public image stays public (and cacheable by anyone) for a token holder too.
    public = client.get(f"/api/images/open/{TILE}", headers=bearer(PARTNER_TOKEN))
    assert public.status_code == 200 and not public.headers["Cache-Control"].startswith("private")


def test_signed_urls_valid_expired_tampered_other_image_other_rendering(tiff_server, access_file, clock):
    client = app_for(tiff_server, access_file).test_client()
    url = signed_tile_url(client, "secret", PARTNER_TOKEN)
    ok = client.get(url)  # no header: any client
    assert ok.status_code == 200 and ok.headers["Cache-Control"].startswith("private")
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    exp = int(query["exp"])
    assert exp % 900 == 0 and exp >= clock["t"] + 3600  # rounded up to the bucket
    # The same bucket, the same URL: a CDN keeps one copy.
    clock["t"] += 1
    assert signed_tile_url(client, "secret", PARTNER_TOKEN) == url
    tampered = url.replace(query["sig"], query["sig"][:-1] + ("0" if query["sig"][-1] != "0" else "1"))
    other_image = url.replace("/api/images/secret/", "/api/images/embargoed/")
    other_rendering = url + "&rescale=0,100"
    later_exp = url.replace(f"exp={exp}", f"exp={exp + 900}")
    for bad in (tampered, other_image, other_rendering, later_exp):
        response = client.get(bad)
        assert response.status_code == 403, bad
        assert response.json["error"]["code"] == "access_denied"
    clock["t"] = exp + 1  # past its expiry
    expired = client.get(url)
    assert expired.status_code == 403 and "expired" in expired.json["error"]["message"]


def test_the_embargo_ends_at_its_date_without_a_restart(tiff_server, access_file, clock):
    client = app_for(tiff_server, access_file).test_client()
    assert "embargoed" not in listed(client)
    assert client.get(f"/api/images/embargoed/{TILE}").status_code == 404
    clock["t"] = EMBARGO_END + 1
    assert "embargoed" in listed(client)
    response = client.get(f"/api/images/embargoed/{TILE}")
    assert response.status_code == 200 and not response.headers["Cache-Control"].startswith("private")
    assert client.get("/api/images/secret").status_code == 404  # private has no date


def test_no_cache_tier_serves_a_private_tile_to_a_request_not_allowed_it(
    tiff_server, access_file, clock, tmp_path
):
    need_module("redis")
    with RedisServer(free_port(), tmp_path) as redis:
        first = app_for(tiff_server, access_file, OAM_PREVIEW_CACHE_URL=redis.url).test_client()
        second = app_for(tiff_server, access_file, OAM_PREVIEW_CACHE_URL=redis.url).test_client()
        url = signed_tile_url(first, "secret", PARTNER_TOKEN)
        rendered = first.get(url)
        assert rendered.status_code == 200  # now in every tier: the worker's, the machine's, Redis
        plain = f"/api/images/secret/{TILE}"
        for client in (first, second):
            assert client.get(plain).status_code == 404
            assert client.get(plain + "?exp=1&sig=00").status_code == 403
            assert client.get(plain, headers=bearer(ONE_IMAGE_TOKEN)).status_code == 403
        shared = second.get(url)  # allowed: from the shared tier
        assert shared.status_code == 200 and shared.data == rendered.data
        assert second.get("/healthz").get_json()["cache"]["shared"]["hits"] >= 1
        for path in ("/healthz", "/metrics"):
            text = second.get(path).get_data(as_text=True)
            assert SIGNING_KEY not in text and PARTNER_TOKEN not in text and ONE_IMAGE_TOKEN not in text
