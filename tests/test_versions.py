"""Caching for proxies and CDNs (issue 13, item 2): Cache-Control per route and status, and
versioned URLs (``?v=``) that are ``immutable`` for the current version of their file.

Real servers only: the project's file server (ETag and Last-Modified of the file on disk) and
the fault server of ``tests/support/fault_server.py``.
"""

from __future__ import annotations

import io
import os
import re
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from oam_preview import create_app
from oam_preview.catalog import load_document
from oam_preview.config import Settings
from oam_preview.geo.tiles import TMS
from oam_preview.remote.freshness import Freshness, Version, changed, version_token
from oam_preview.remote.gdal_safety import forget
from oam_preview.remote.gdal_settings import vsi_path
from oam_preview.remote.opener import HINT_RECHECK, Opener
from oam_preview.web.responses import IMMUTABLE, with_stale

from .support.apps import app_over
from .support.catalog_documents import catalog_doc
from .support.fault_server import FaultServer
from .support.fileserver import FileServer
from .support.geotiffs import centre, write_cog
from .support.loopback import LOOPBACK_ALLOW
from .support.routes import ROUTES
from .support.system import need_module

DEFAULT = "public, max-age=3600, stale-while-revalidate=60, stale-if-error=86400"
TOKEN = re.compile(r"\?v=([0-9a-f]{12})$")
XLINK = "{http://www.w3.org/1999/xlink}href"


def token_of(url: str) -> str | None:
    found = TOKEN.search(url)
    return found.group(1) if found else None


def pixels(response) -> np.ndarray:
    return np.asarray(PILImage.open(io.BytesIO(response.data)))


# -- Cache-Control per route and status (the session's app and files) ----------------------

IMAGE_ROUTES = (
    "/api/images/cogeo/thumbnail.png",
    "/api/images/cogeo/tiles/18/224757/101422.png",
    "/api/images/cogeo/tilejson.json",
    "/api/images/cogeo/WMTSCapabilities.xml",
)


@pytest.mark.parametrize("path", IMAGE_ROUTES)
def test_images_and_documents_are_default_cached_unless_their_v_is_current(client, path):
    plain = client.get(path)
    assert plain.status_code == 200
    assert plain.headers["Cache-Control"] == DEFAULT
    token = token_of(client.get("/api/images/cogeo").get_json()["properties"]["tiles"])
    assert token
    current = client.get(f"{path}?v={token}")
    assert current.status_code == 200 and current.headers["Cache-Control"] == IMMUTABLE
    assert current.data == plain.data and current.headers["ETag"] == plain.headers["ETag"]
    for other in ("000000000000", "nonsense", ""):  # old URLs keep working, kept less long
        r = client.get(f"{path}?v={other}")
        assert r.status_code == 200 and r.headers["Cache-Control"] == DEFAULT
    revalidated = client.get(f"{path}?v={token}", headers={"If-None-Match": plain.headers["ETag"]})
    assert revalidated.status_code == 304 and revalidated.headers["Cache-Control"] == IMMUTABLE
    assert (
        client.get(path, headers={"If-None-Match": plain.headers["ETag"]}).headers["Cache-Control"] == DEFAULT
    )


@pytest.mark.parametrize(
    ("path", "status", "code", "cache_control"),
    [
        ("/api/images/cogeo/tiles/18/0/0.png", 404, "outside_bounds", "public, max-age=300"),
        ("/api/images/cogeo/tiles/25/28768956/12982056.png", 404, "zoom_out_of_range", "public, max-age=300"),
        ("/api/images/nope/tiles/18/0/0.png", 404, "not_found", "no-store"),
        ("/api/images/cogeo/tiles/18/0/x.png", 400, "bad_request", "no-store"),
        ("/api/images/missing/thumbnail.png", 502, "upstream_error", "no-store"),
        ("/api/images/refused/tiles/18/0/0.png", 502, "upstream_error", "no-store"),
        ("/api/nothing", 404, "not_found", "no-store"),
    ],
)
def test_errors_are_no_store_but_a_404_outside_the_image(client, path, status, code, cache_control):
    r = client.get(path)
    assert r.status_code == status and r.get_json()["error"]["code"] == code
    assert r.headers["Cache-Control"] == cache_control


@pytest.mark.parametrize(
    "path", (*ROUTES, "/api/images/cogeo/tiles/18/0/0.png", "/api/images/missing/thumbnail.png")
)
def test_no_cookie_and_no_vary(client, path):
    """A shared cache keys on the URL alone: nothing may set a cookie or vary on a header."""
    r = client.get(path, headers={"Origin": "https://editor.example.org", "Accept-Encoding": "gzip"})
    assert "Set-Cookie" not in r.headers and "Vary" not in r.headers, (path, dict(r.headers))


def test_the_settings_shape_the_headers(catalog):
    client = create_app(
        {
            "OAM_PREVIEW_CACHE_CONTROL": "public, max-age=60",
            "OAM_PREVIEW_CACHE_STALE_WHILE_REVALIDATE": 0,
            "OAM_PREVIEW_CACHE_STALE_IF_ERROR": 600,
            "OAM_PREVIEW_CACHE_CONTROL_OUTSIDE": "public, max-age=30",
        },
        catalog=catalog,
    ).test_client()
    assert client.get(IMAGE_ROUTES[1]).headers["Cache-Control"] == "public, max-age=60, stale-if-error=600"
    assert client.get("/api/images/cogeo/tiles/18/0/0.png").headers["Cache-Control"] == "public, max-age=30"


def test_with_stale():
    assert with_stale("public, max-age=3600", 60, 86400) == DEFAULT
    assert with_stale("public, max-age=3600", 0, 0) == "public, max-age=3600"
    assert with_stale("public, max-age=1, stale-if-error=5", 60, 86400) == (
        "public, max-age=1, stale-if-error=5, stale-while-revalidate=60"
    )
    assert with_stale("no-store", 60, 86400) == "no-store"
    with pytest.raises(ValueError, match="STALE"):
        Settings.from_mapping({"OAM_PREVIEW_CACHE_STALE_IF_ERROR": "-1"})


def test_version_tokens_and_changes():
    token = version_token("http://h/a.tif", '"e1"', "100", 1.0e9)
    assert token and re.fullmatch(r"[0-9a-f]{12}", token)
    assert token == version_token("http://h/a.tif", '"e1"', "100", 1.0e9)
    assert len({token, version_token("http://h/a.tif", '"e2"', "100", 1.0e9),
                version_token("http://h/b.tif", '"e1"', "100", 1.0e9),
                version_token("http://h/a.tif", '"e1"', "101", 1.0e9)}) == 4  # fmt: skip
    assert version_token("http://h/a.tif", None, None, None) is None
    known = Freshness(etag='"e1"', length="100", modified_at=1.0e9)
    assert not changed(known, '"e1"', "100", 1.0e9)
    assert not changed(known, '"e1"', "100", 0.9e9)  # a mirror a little behind: no new version
    assert changed(known, '"e2"', "100", 1.0e9) and changed(known, None, "100", 1.1e9)


# -- versions of one file that changes (its own server and app) -----------------------------


def write_version(path: Path, seed: int) -> Path:
    """The served file, version ``seed``: the same georeferencing, other pixels, a new mtime."""
    write_cog(path.with_name("next.tif"), 1024, 1024, seed=seed)
    os.replace(path.with_name("next.tif"), path)
    stamp = time.time() + 10 * seed  # Last-Modified has one-second resolution
    os.utime(path, (stamp, stamp))
    return path


@pytest.fixture()
def changing(tmp_path):
    """A file server of ``changing.tif`` (version 0) and ``other.tif``; the test writes new versions."""
    root = tmp_path / "files"
    root.mkdir()
    write_version(root / "changing.tif", 0)
    write_version(root / "other.tif", 0)
    with FileServer(root) as server:
        yield server, root / "changing.tif"


def as_a_new_process(server) -> None:
    """Forget GDAL's process-wide cache of the served files, as a worker process of its own
    would not have it (the apps of a test share one process)."""
    for name in ("changing.tif", "other.tif"):
        forget(vsi_path(f"{server.url}/{name}"))


def changing_catalog(server) -> dict:
    """The catalog document of ``server``'s changing.tif and other.tif."""
    return catalog_doc(server.url, ["changing.tif", "other.tif"])


def emitted_urls(client) -> dict[str, str]:
    """Every URL the server emits for ``changing``: the listing's and the Feature's properties,
    TileJSON ``tiles``, the WMTS ResourceURL, GetTile and GetCapabilities hrefs and ServiceMetadataURL."""
    urls: dict[str, str] = {}
    listed = client.get("/api/images?ids=changing").get_json()["features"][0]["properties"]
    one = client.get("/api/images/changing").get_json()["properties"]
    for key in ("thumbnail", "tilejson", "tiles", "wmts"):
        urls[f"listing {key}"], urls[f"feature {key}"] = listed[key], one[key]
    urls["tilejson tiles"] = client.get("/api/images/changing/tilejson.json").get_json()["tiles"][0]
    root = ET.fromstring(client.get("/api/images/changing/WMTSCapabilities.xml").data)
    urls["wmts template"] = root.find(".//{*}ResourceURL").get("template")
    for n, get in enumerate(root.iter("{http://www.opengis.net/ows/1.1}Get")):
        urls[f"wmts operation {n}"] = get.get(XLINK)
    urls["wmts metadata"] = root.find("{*}ServiceMetadataURL").get(XLINK)
    return urls


def test_every_emitted_url_carries_the_version_after_a_tilejson_read(changing):
    server, _ = changing
    client = app_over(changing_catalog(server)).test_client()
    server.traffic.reset()
    listed = client.get("/api/images").get_json()["features"]
    # Never used by this worker: no version yet, and no HEAD per listed image to learn one.
    assert all(token_of(f["properties"][k]) is None for f in listed for k in ("tiles", "tilejson"))
    assert server.traffic.requests == 0
    token = token_of(client.get("/api/images/changing/tilejson.json").get_json()["tiles"][0])
    assert token
    urls = emitted_urls(client)
    assert {name: token_of(url) for name, url in urls.items()} == dict.fromkeys(urls, token)
    # Each is a working URL of this version, answered immutable.
    tile = TMS.tile(*centre(server.root / "changing.tif"), 16)
    for url in (urls["feature thumbnail"], urls["tilejson tiles"].format(z=tile.z, x=tile.x, y=tile.y)):
        r = client.get(urllib.parse.urlsplit(url).path + "?v=" + token)
        assert r.status_code == 200 and r.headers["Cache-Control"] == IMMUTABLE
    # The other image, never used, is still listed without a version.
    other = client.get("/api/images?ids=other").get_json()["features"][0]["properties"]
    assert token_of(other["tiles"]) is None
    # One Feature asks (one HEAD at the file's first use) and carries it.
    assert token_of(client.get("/api/images/other").get_json()["properties"]["tiles"])


def test_a_file_replaced_upstream_gets_a_new_version_and_new_pixels(changing):
    server, path = changing
    client = app_over(changing_catalog(server), OAM_PREVIEW_UPSTREAM_RECHECK=0.05).test_client()
    tile = TMS.tile(*centre(path), 17)
    tiles = client.get("/api/images/changing/tilejson.json").get_json()["tiles"][0]
    first = token_of(tiles)
    url = f"/api/images/changing/tiles/{tile.z}/{tile.x}/{tile.y}.png"
    before = client.get(f"{url}?v={first}")
    assert before.headers["Cache-Control"] == IMMUTABLE

    write_version(path, 1)
    time.sleep(0.1)
    old = client.get(f"{url}?v={first}")  # the old URL still works: the new pixels, not for ever
    assert old.status_code == 200 and old.headers["Cache-Control"] == DEFAULT
    assert not np.array_equal(pixels(old), pixels(before))
    second = token_of(client.get("/api/images/changing/tilejson.json").get_json()["tiles"][0])
    assert second and second != first
    after = client.get(f"{url}?v={second}")
    assert after.headers["Cache-Control"] == IMMUTABLE and after.data == old.data
    assert after.headers["ETag"] != before.headers["ETag"]
    assert set(map(token_of, emitted_urls(client).values())) == {second}


def test_no_recheck_keeps_the_version_it_learnt(changing):
    server, path = changing
    client = app_over(changing_catalog(server), OAM_PREVIEW_UPSTREAM_RECHECK=0).test_client()
    first = token_of(client.get("/api/images/changing/tilejson.json").get_json()["tiles"][0])
    write_version(path, 1)
    assert token_of(client.get("/api/images/changing/tilejson.json").get_json()["tiles"][0]) == first


def test_a_failed_version_head_is_no_error(tiff_dir, monkeypatch):
    """The first HEAD fails (503 to each path's first request): the answers are 200 all the same,
    their URLs without ``v``; the next recheck learns the version. (The Feature first: a route
    that reads sends GDAL's open beside the HEAD, and either may be first.) The recheck interval
    passes on a clock the test moves: a busy machine taking longer than it between the first two
    requests made the second one recheck already."""
    real_monotonic, ahead = time.monotonic, [0.0]
    monkeypatch.setattr(time, "monotonic", lambda: real_monotonic() + ahead[0])
    with FaultServer(tiff_dir, mode="flaky-1") as fault:
        client = create_app(
            {"OAM_PREVIEW_UPSTREAM_RECHECK": 600},
            catalog=load_document(catalog_doc(fault.url, ["cogeo.tif?versions=1"])),
        ).test_client()
        r = client.get("/api/images/cogeo")
        assert r.status_code == 200 and token_of(r.get_json()["properties"]["tilejson"]) is None
        r = client.get("/api/images/cogeo/tilejson.json")
        assert r.status_code == 200 and token_of(r.get_json()["tiles"][0]) is None
        assert r.headers["Cache-Control"] == DEFAULT
        ahead[0] = 601.0
        assert token_of(client.get("/api/images/cogeo/tilejson.json").get_json()["tiles"][0])


def test_a_version_seen_by_another_worker_is_rechecked_soon(changing):
    """Worker B knows version 1; a client brings B a URL of version 2 that worker C gave it:
    B rechecks (its interval is long) rather than keep old pixels under the new URL."""
    server, path = changing
    b = app_over(changing_catalog(server), OAM_PREVIEW_UPSTREAM_RECHECK=1000).test_client()
    tile = TMS.tile(*centre(path), 17)
    url = f"/api/images/changing/tiles/{tile.z}/{tile.x}/{tile.y}.png"
    first = token_of(b.get("/api/images/changing/tilejson.json").get_json()["tiles"][0])
    before = b.get(f"{url}?v={first}")
    write_version(path, 1)
    as_a_new_process(server)
    c = app_over(changing_catalog(server), OAM_PREVIEW_UPSTREAM_RECHECK=1000).test_client()
    second = token_of(c.get("/api/images/changing/tilejson.json").get_json()["tiles"][0])
    assert second != first
    time.sleep(HINT_RECHECK + 0.1)
    after = b.get(f"{url}?v={second}")
    assert after.headers["Cache-Control"] == IMMUTABLE
    assert after.data == c.get(f"{url}?v={second}").data != before.data


def test_the_shared_cache_keys_on_the_version_not_on_a_workers_count(changing, tmp_path):
    """A worker that first uses the file after it changed (generation 0, as the first worker's
    was) must not get from Redis what the first one rendered of the old file."""
    need_module("redis")
    from .support.processes import free_port
    from .support.redis_server import RedisServer

    server, path = changing
    tile = TMS.tile(*centre(path), 17)
    url = f"/api/images/changing/tiles/{tile.z}/{tile.x}/{tile.y}.png"
    with RedisServer(free_port(), tmp_path) as redis_server:
        before = (
            app_over(changing_catalog(server), OAM_PREVIEW_CACHE_URL=redis_server.url).test_client().get(url)
        )
        write_version(path, 1)
        as_a_new_process(server)
        late = app_over(changing_catalog(server), OAM_PREVIEW_CACHE_URL=redis_server.url).test_client()
        after = late.get(url)
        assert after.status_code == 200 and after.data != before.data
        again = app_over(changing_catalog(server), OAM_PREVIEW_CACHE_URL=redis_server.url).test_client()
        assert again.get(url).data == after.data
        assert again.get("/healthz").get_json()["cache"]["shared"]["hits"] >= 1


def test_concurrent_first_uses_wait_for_the_one_head(changing):
    """Eight requests at once for a file new to the worker: one HEAD, and the same version for
    all (else their cache keys would differ and the tile would be rendered twice)."""
    server, _ = changing
    opener = Opener(Settings(upstream_allow=LOOPBACK_ALLOW))
    url = f"{server.url}/changing.tif"
    barrier = threading.Barrier(8)
    seen: list[Version] = []

    def first_use() -> None:
        barrier.wait()
        seen.append(opener.checked(url))

    server.traffic.reset()
    threads = [threading.Thread(target=first_use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 8 and len(set(seen)) == 1 and seen[0].token
    assert server.traffic.requests == 1


def test_a_file_is_not_opened_before_its_version_is_known(changing):
    """The catalog's header reads open files before any tile: the version comes first, so a
    later change is seen as one (a dataset of the old file is dropped, not read as the new)."""
    server, path = changing
    opener = Opener(Settings(upstream_allow=LOOPBACK_ALLOW, upstream_recheck=0.05))
    url = f"{server.url}/changing.tif"
    with opener.open(url) as dataset:
        width = dataset.width
    first = opener.known(url)
    assert first.token and width == 1024
    write_version(path, 1)
    time.sleep(0.1)
    second = opener.checked(url)
    assert second.token != first.token and second.generation == first.generation + 1
