"""A token holder's selections: the footprints, the feeds, editors' lists and the mosaic include
the private images its API token allows (and only those), answered ``Cache-Control: private``
under cache keys an anonymous request never makes (the shared Redis tier included); their tile
URLs are signed so that they work without a header. Anonymous answers stay as they were.

Three records of one GeoTIFF (cogeo.tif over the test Range server) and one footprint: ``open``
(2020), ``secret`` (private, group ``ngo``, 2021) and ``embargoed`` (until 2027, 2022); the
mosaic's newest-first order puts the newest one a request may see on top."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from typing import Any

import mapbox_vector_tile

from .support.catalog_documents import COGEO_BOUNDS
from .support.private_access import (
    EMBARGO_END,
    ONE_IMAGE_TOKEN,
    PARTNER_TOKEN,
    app_with_private_records,
    bearer,
)
from .support.processes import free_port
from .support.redis_server import RedisServer
from .support.system import need_module

MOSAIC_TILE = "/api/mosaic/tiles/18/224757/101422.png"  # over cogeo.tif
FOOTPRINT_TILE = "/api/footprints/16/56189/25355.mvt"  # its footprint a polygon
FEEDS = (
    "/api/images.atom",
    "/api/images/feed.geojson",
    "/api/imagery/index.geojson",
    "/api/imagery/josm.xml",
)


def footprint_ids(body: bytes) -> set[str]:
    layers = mapbox_vector_tile.decode(body, default_options={"y_coord_down": True})
    return {f["properties"]["id"] for f in layers["footprints"]["features"]}


def path_of(url: str) -> str:
    """An absolute URL the app emitted as the path and query a test client asks."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.path}?{parts.query}"


def private(response: Any) -> bool:
    return response.headers.get("Cache-Control", "").startswith("private")


def test_footprints_include_the_private_images_a_token_allows(tiff_server, access_file, clock):
    client = app_with_private_records(tiff_server, access_file).test_client()
    anonymous = client.get(FOOTPRINT_TILE)
    assert anonymous.status_code == 200 and footprint_ids(anonymous.data) == {"open"}
    assert not private(anonymous) and "Vary" not in anonymous.headers  # as before: the URL alone
    partner = client.get(FOOTPRINT_TILE, headers=bearer(PARTNER_TOKEN))
    assert footprint_ids(partner.data) == {"open", "secret"} and private(partner)
    assert partner.headers["ETag"] != anonymous.headers["ETag"]
    one = client.get(FOOTPRINT_TILE, headers=bearer(ONE_IMAGE_TOKEN))
    assert footprint_ids(one.data) == {"open", "embargoed"} and private(one)
    # The anonymous answer is what it was, the token holders' ETags match nothing of it.
    again = client.get(FOOTPRINT_TILE, headers={"If-None-Match": partner.headers["ETag"]})
    assert again.status_code == 200 and again.data == anonymous.data
    assert again.headers["Cache-Control"] == anonymous.headers["Cache-Control"]
    assert client.get(FOOTPRINT_TILE, headers=bearer("nope")).status_code == 403
    # The TileJSON a token holder gets: tile URLs signed for its scope, working without a header.
    assert "sig=" not in client.get("/api/footprints/tilejson.json").json["tiles"][0]
    doc = client.get("/api/footprints/tilejson.json", headers=bearer(PARTNER_TOKEN))
    assert private(doc)
    url = path_of(doc.json["tiles"][0].replace("{z}/{x}/{y}", "16/56189/25355"))
    assert "scope=partner" in url and "sig=" in url
    signed = client.get(url)
    assert signed.status_code == 200 and footprint_ids(signed.data) == {"open", "secret"} and private(signed)
    # Another scope, or the mosaic's subject, under that signature: 403.
    other_subject = url.replace("/api/footprints/", "/api/mosaic/tiles/").replace(".mvt", ".png")
    for bad in (url.replace("scope=partner", "scope=one-image"), other_subject):
        response = client.get(bad)
        assert response.status_code == 403, bad
        assert response.json["error"]["code"] == "access_denied"
    assert client.get(FOOTPRINT_TILE + "?scope=partner").status_code == 403  # a scope is signed or nothing


def test_feeds_and_editor_lists_include_the_private_images_a_token_allows(tiff_server, access_file, clock):
    client = app_with_private_records(tiff_server, access_file).test_client()
    before = {path: client.get(path) for path in FEEDS}
    for path in FEEDS:
        anonymous = before[path].get_data(as_text=True)
        assert "/api/images/open/" in anonymous and "secret" not in anonymous and "embargoed" not in anonymous
        response = client.get(path, headers=bearer(PARTNER_TOKEN))
        body = response.get_data(as_text=True)
        assert response.status_code == 200 and private(response), path
        assert "/api/images/secret/" in body and "embargoed" not in body, path
        assert "sig=" in body, path  # a feed reader, JOSM, iD: no header
        again = client.get(path)
        assert again.data == before[path].data and not private(again), path
    feed = client.get("/api/images/feed.geojson", headers=bearer(ONE_IMAGE_TOKEN)).json
    assert [f["id"] for f in feed["features"]] == ["embargoed", "open"]
    # An editor's tile URL of a private image works with no header.
    index = client.get("/api/imagery/index.geojson?mosaic=1", headers=bearer(PARTNER_TOKEN)).json
    urls = {f["properties"]["id"]: f["properties"]["url"] for f in index["features"]}
    assert index["numberMatched"] == 2
    tile = client.get(path_of(urls["oam-preview-secret"].replace("{zoom}/{x}/{y}", "18/224757/101422")))
    assert tile.status_code == 200 and private(tile)
    mosaic = [u for i, u in urls.items() if "mosaic" in i][0]
    shown = client.get(path_of(mosaic.replace("{zoom}/{x}/{y}", "18/224757/101422")))
    assert shown.status_code == 200 and shown.headers["X-Mosaic-Images"] == "secret"


def test_the_mosaic_includes_the_private_images_a_token_allows(tiff_server, access_file, clock):
    client = app_with_private_records(tiff_server, access_file).test_client()
    anonymous = client.get(MOSAIC_TILE)
    assert anonymous.headers["X-Mosaic-Images"] == "open" and not private(anonymous)
    partner = client.get(MOSAIC_TILE, headers=bearer(PARTNER_TOKEN))
    assert partner.headers["X-Mosaic-Images"] == "secret" and private(partner)
    one = client.get(MOSAIC_TILE, headers=bearer(ONE_IMAGE_TOKEN))
    assert one.headers["X-Mosaic-Images"] == "embargoed" and private(one)
    # Its TileJSON and WMTS: URLs signed for the token's scope, working in any client.
    assert "sig=" not in client.get("/api/mosaic/tilejson.json").json["tiles"][0]
    doc = client.get("/api/mosaic/tilejson.json", headers=bearer(PARTNER_TOKEN)).json
    url = path_of(doc["tiles"][0].replace("{z}/{x}/{y}", "18/224757/101422"))
    assert "scope=partner" in url
    signed = client.get(url)
    assert signed.status_code == 200 and signed.headers["X-Mosaic-Images"] == "secret" and private(signed)
    assert signed.data == partner.data
    wmts = client.get("/api/mosaic/WMTSCapabilities.xml", headers=bearer(PARTNER_TOKEN))
    assert "scope=partner" in wmts.get_data(as_text=True) and private(wmts)
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    for bad in (
        url.replace("scope=partner", "scope=one-image"),  # another token's scope
        url.replace(query["sig"], "0" * len(query["sig"])),  # tampered
        url.replace("order=newest", "order=oldest"),  # another query
        url.replace("/api/mosaic/tiles/", "/api/footprints/").replace(".png", ".mvt"),  # another subject
    ):
        response = client.get(bad)
        assert response.status_code == 403 and response.json["error"]["code"] == "access_denied", bad
    again = client.get(MOSAIC_TILE)
    assert again.data == anonymous.data and again.headers["X-Mosaic-Images"] == "open" and not private(again)
    clock["t"] = int(query["exp"]) + 1
    assert client.get(url).status_code == 403  # expired
    # The embargo's end: the mosaic of anonymous requests has the image, publicly, no restart.
    clock["t"] = EMBARGO_END + 1
    public = client.get(MOSAIC_TILE)
    assert public.headers["X-Mosaic-Images"] == "embargoed" and not private(public)
    assert footprint_ids(client.get(FOOTPRINT_TILE).data) == {"open", "embargoed"}


def test_the_shared_redis_tier_keeps_a_tokens_mosaic_and_footprints_apart(
    tiff_server, access_file, clock, tmp_path
):
    need_module("redis")
    with RedisServer(free_port(), tmp_path) as redis:
        first = app_with_private_records(
            tiff_server, access_file, OAM_PREVIEW_CACHE_URL=redis.url
        ).test_client()
        second = app_with_private_records(
            tiff_server, access_file, OAM_PREVIEW_CACHE_URL=redis.url
        ).test_client()
        mosaic_doc = first.get("/api/mosaic/tilejson.json", headers=bearer(PARTNER_TOKEN)).json
        footprint_doc = first.get("/api/footprints/tilejson.json", headers=bearer(PARTNER_TOKEN)).json
        mosaic_url = path_of(mosaic_doc["tiles"][0].replace("{z}/{x}/{y}", "18/224757/101422"))
        footprint_url = path_of(footprint_doc["tiles"][0].replace("{z}/{x}/{y}", "16/56189/25355"))
        rendered = {url: first.get(url) for url in (mosaic_url, footprint_url)}
        assert all(r.status_code == 200 for r in rendered.values())  # now in every tier, Redis's too
        hits = second.get("/healthz").get_json()["cache"]["shared"]["hits"]
        for client in (second, first):  # the second first: Redis holds only the partner's answers
            anonymous = client.get(MOSAIC_TILE)
            assert anonymous.headers["X-Mosaic-Images"] == "open" and not private(anonymous)
            assert footprint_ids(client.get(FOOTPRINT_TILE).data) == {"open"}
            one = client.get(MOSAIC_TILE, headers=bearer(ONE_IMAGE_TOKEN))
            assert one.headers["X-Mosaic-Images"] == "embargoed"
            if client is second:  # none of them was the partner's (a miss each)
                assert second.get("/healthz").get_json()["cache"]["shared"]["hits"] == hits
        for url, first_answer in rendered.items():
            shared = second.get(url)  # allowed: from the shared tier
            assert shared.status_code == 200 and shared.data == first_answer.data and private(shared)
        assert second.get("/healthz").get_json()["cache"]["shared"]["hits"] == hits + 2
        assert json.dumps(second.get("/healthz").get_json()).count(PARTNER_TOKEN) == 0


def test_the_front_cache_of_deploy_never_gives_a_token_holder_the_anonymous_answer(
    tiff_server, access_file, tmp_path
):
    """``oam-preview serve`` behind the nginx of deploy/'s template: an anonymous mosaic tile and
    footprint tile are cached by their URL; a token holder's request of the same URL passes the cache by
    (its answer holds a private image), and is never kept for the anonymous ones."""
    from .support.fleet import front, nginx_binary
    from .support.load_harness import Server
    from .support.system import missing

    if nginx_binary() is None:
        missing("nginx")
    w, s, e, n = COGEO_BOUNDS
    polygon = {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}
    features = [  # no embargo: the server's clock is the real one
        {
            "type": "Feature",
            "id": image_id,
            "geometry": polygon,
            "properties": {"source_url": f"{tiff_server.url}/cogeo.tif", "acquisition_start": day, **extra},
        }
        for image_id, day, extra in (
            ("open", "2020-01-01", {}),
            ("secret", "2021-01-01", {"private": True, "group": "ngo"}),
        )
    ]
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    server = Server(
        catalog, free_port(), workers=1, threads=4, env={"OAM_PREVIEW_ACCESS": access_file}
    ).start()
    nginx = None
    try:
        nginx = front(tmp_path / "front", free_port(), [server.url.removeprefix("http://")]).start()

        def get(path: str, **headers: str) -> Any:
            request = urllib.request.Request(nginx.url + path, headers=headers)
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.status, dict(answer.headers), answer.read()

        for path in (MOSAIC_TILE, FOOTPRINT_TILE):
            statuses = [get(path)[1]["X-Cache-Status"] for _ in range(2)]
            assert statuses == ["MISS", "HIT"], (path, statuses)
            status, headers, body = get(path, **bearer(PARTNER_TOKEN))
            assert status == 200 and headers["X-Cache-Status"] == "BYPASS", (path, headers)
            assert headers["Cache-Control"].startswith("private")
            _, anonymous, anonymous_body = get(path)
            assert anonymous["X-Cache-Status"] == "HIT" and not anonymous["Cache-Control"].startswith(
                "private"
            )
            if path == MOSAIC_TILE:
                assert headers["X-Mosaic-Images"] == "secret" and anonymous["X-Mosaic-Images"] == "open"
            else:
                assert footprint_ids(body) == {"open", "secret"} and footprint_ids(anonymous_body) == {"open"}
    finally:
        if nginx is not None:
            nginx.stop()
        server.stop()
