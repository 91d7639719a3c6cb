"""Catalogs read over HTTP from local servers: OAM API paging, STAC links, GeoTIFF URL lists."""

from __future__ import annotations

import copy
import http.server
import json
import logging
import shutil
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from oam_preview.catalog import CatalogError, load
from oam_preview.catalog.fetch import RETRY_BACKOFF
from oam_preview.catalog.oam import page_url

from .support.fileserver import FileServer
from .support.geotiffs import GENERATED, write_all
from .support.loopback import LoopbackServer

DATA = Path(__file__).resolve().parent / "data"

#: path -> handler(query) -> (status, JSON-able body or bytes)
Routes = dict[str, Callable[[dict[str, str]], tuple[int, object]]]


class JsonServer:
    """A threaded HTTP server answering GETs from a routes table; records the paths asked."""

    def __init__(self, routes: Routes) -> None:
        self.routes = routes
        self.requests: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                parts = urllib.parse.urlsplit(self.path)
                server.requests.append(self.path)
                route = server.routes.get(parts.path)
                if route is None:
                    status, body = 404, {"error": "not found"}
                else:
                    status, body = route(dict(urllib.parse.parse_qsl(parts.query)))
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = LoopbackServer(Handler)

    @property
    def url(self) -> str:
        return self.server.url

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def serve() -> Iterator[Callable[[Routes], JsonServer]]:
    servers: list[JsonServer] = []

    def start(routes: Routes) -> JsonServer:
        servers.append(JsonServer(routes))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


# -- OpenAerialMap API paging ---------------------------------------------------------------


@pytest.fixture
def oam_records() -> list[dict]:
    """25 records made from a 10-record /meta page (ids made unique)."""
    path = DATA / "catalogs" / "oam_meta_page.json"
    real = json.loads(path.read_text())["results"]
    records = []
    for n in range(25):
        record = copy.deepcopy(real[n % len(real)])
        record["_id"] = f"{record['_id']}-{n:02d}"
        records.append(record)
    return records


def meta_api(records: list[dict], default_limit: int = 10) -> Callable:
    """``/meta`` as OAM answers it: ``page`` (from 1) and ``limit``, ``meta.found``."""

    def answer(query: dict[str, str]) -> tuple[int, object]:
        page, limit = int(query.get("page", 1)), int(query.get("limit", default_limit))
        results = records[(page - 1) * limit : page * limit]
        meta = {"provided_by": "test", "license": "CC-BY 4.0", "page": page, "limit": limit}
        return 200, {"meta": {**meta, "found": len(records)}, "results": results}

    return answer


def test_oam_api_is_followed_page_by_page(serve, oam_records):
    server = serve({"/meta": meta_api(oam_records)})
    catalog = load(server.url + "/meta?order_by=acquisition_end&limit=10")
    assert [i.id for i in catalog.images] == [r["_id"] for r in oam_records]
    assert catalog.skipped == ()
    asked = [urllib.parse.parse_qs(urllib.parse.urlsplit(p).query) for p in server.requests]
    assert [q.get("page", ["1"])[0] for q in asked] == ["1", "2", "3"]
    assert all(q["limit"] == ["10"] and q["order_by"] == ["acquisition_end"] for q in asked)
    assert all(0.01 < i.gsd < 0.05 for i in catalog.images)  # degrees converted on every page


def test_oam_api_paging_starts_from_the_given_page(serve, oam_records):
    server = serve({"/meta": meta_api(oam_records)})
    catalog = load(server.url + "/meta?limit=10&page=2")
    assert [i.id for i in catalog.images] == [r["_id"] for r in oam_records[10:]]


def test_oam_api_paging_stops_when_the_server_ignores_page(serve, oam_records, caplog):
    def ignores_page(query):
        return 200, {"meta": {"found": 25, "limit": 10, "page": 1}, "results": oam_records[:10]}

    server = serve({"/meta": ignores_page})
    with caplog.at_level(logging.WARNING):
        catalog = load(server.url + "/meta")
    assert len(catalog) == 10 and len(server.requests) == 2
    assert "repeats an earlier page" in caplog.text


def test_oam_api_page_failure_fails_the_load(serve, oam_records):
    pages = meta_api(oam_records)

    def third_page_broken(query):
        return (500, {"error": "boom"}) if query.get("page") == "3" else pages(query)

    server = serve({"/meta": third_page_broken})
    with pytest.raises(CatalogError, match="page 3"):
        load(server.url + "/meta")
    assert sum("page=3" in p for p in server.requests) == 1 + len(RETRY_BACKOFF)  # bounded retries


def test_page_url_keeps_other_parameters():
    url = page_url("https://api.openaerialmap.org/meta?limit=100&page=1&bbox=1,2,3,4", 7)
    assert urllib.parse.parse_qs(urllib.parse.urlsplit(url).query) == {
        "limit": ["100"],
        "page": ["7"],
        "bbox": ["1,2,3,4"],
    }


# -- STAC with relative links ---------------------------------------------------------------


def stac_item(item_id: str, href: str) -> dict:
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": item_id,
        "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]},
        "bbox": [0, 0, 1, 1],
        "properties": {"datetime": "2021-06-01T12:00:00Z"},
        "assets": {"visual": {"href": href, "type": "image/tiff; application=geotiff"}},
        "links": [{"rel": "root", "href": "../../catalog.json"}],
    }


def stac_tree() -> dict[str, object]:
    """A static catalog: root -> collection -> 2 items, with a cycle and one dead link."""
    return {
        "/catalog.json": {
            "type": "Catalog",
            "stac_version": "1.0.0",
            "id": "root",
            "description": "test",
            "links": [
                {"rel": "self", "href": "./catalog.json"},
                {"rel": "child", "href": "./drone/collection.json"},
                {"rel": "child", "href": "./catalog.json"},  # a cycle: read once
                {"rel": "item", "href": "loose/item.json"},
            ],
        },
        "/drone/collection.json": {
            "type": "Collection",
            "stac_version": "1.0.0",
            "id": "drone",
            "license": "CC-BY-4.0",
            "providers": [{"name": "Drone Club"}],
            "links": [
                {"rel": "parent", "href": "../catalog.json"},
                {"rel": "item", "href": "a/a.json"},
                {"rel": "item", "href": "./b/b.json"},
                {"rel": "item", "href": "missing/missing.json"},
            ],
        },
        "/drone/a/a.json": stac_item("a", "./a.tif"),
        "/drone/b/b.json": stac_item("b", "https://cdn.example.org/b.tif"),
        "/loose/item.json": stac_item("loose", "../images/loose.tif"),
    }


def test_stac_catalog_over_http_with_relative_links(serve, caplog):
    tree = stac_tree()
    server = serve({path: (lambda q, doc=doc: (200, doc)) for path, doc in tree.items()})
    with caplog.at_level(logging.WARNING):
        catalog = load(server.url + "/catalog.json")
    assert [i.id for i in catalog.images] == ["loose", "a", "b"]
    assert catalog.get("a").source_url == server.url + "/drone/a/a.tif"
    assert catalog.get("b").source_url == "https://cdn.example.org/b.tif"
    assert catalog.get("loose").source_url == server.url + "/images/loose.tif"
    assert catalog.get("a").license == "CC-BY-4.0" and catalog.get("a").provider == "Drone Club"
    assert catalog.get("loose").license is None  # not under the collection
    (skipped,) = catalog.skipped
    assert skipped[0] == server.url + "/drone/missing/missing.json"
    assert "missing.json" in caplog.text
    assert server.requests.count("/catalog.json") == 1


def test_stac_catalog_on_disk_with_relative_links(tmp_path):
    for path, doc in stac_tree().items():
        target = tmp_path / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(doc))
    catalog = load(str(tmp_path / "catalog.json"))
    assert [i.id for i in catalog.images] == ["loose", "a", "b"]
    assert catalog.get("a").source_url == str(tmp_path / "drone" / "a" / "a.tif")
    assert catalog.get("loose").source_url == str(tmp_path / "images" / "loose.tif")


def test_remote_stac_cannot_point_at_local_files(serve):
    item = stac_item("local", "file:///etc/passwd")
    server = serve({"/item.json": lambda q: (200, item)})
    catalog = load(server.url + "/item.json")
    assert len(catalog) == 0 and "http(s)" in catalog.skipped[0][1]


# -- Text file of GeoTIFF URLs --------------------------------------------------------------


def write_geotiff(path: Path, crs: str, west: float, north: float, size: float) -> None:
    """A small 3-band uint8 GeoTIFF of 64x32 pixels of ``size`` CRS units."""
    data = np.arange(64 * 32 * 3, dtype="uint8").reshape(3, 32, 64)
    profile = {
        "driver": "GTiff",
        "width": 64,
        "height": 32,
        "count": 3,
        "dtype": "uint8",
        "crs": crs,
        "transform": Affine(size, 0.0, west, 0.0, -size, north),
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)


@pytest.fixture
def geotiff_dir(tmp_path) -> Path:
    root = tmp_path / "tiffs"
    (root / "sub").mkdir(parents=True)
    write_geotiff(root / "utm_image.tif", "EPSG:32630", 500000, 4200000, 0.5)
    write_geotiff(root / "sub" / "wgs84.TIFF", "EPSG:4326", 10.0, 50.0, 0.0001)
    write_geotiff(root / "dateline.tif", "EPSG:4326", 179.999, -16.0, 0.0001)
    (root / "notes.txt").write_text("not an image")
    (root / "broken.tif").write_bytes(b"II*\x00 this is not a tiff")
    (root / ".hidden.tif").write_bytes(b"")
    return root


def test_url_list_of_geotiffs(geotiff_dir, tmp_path, caplog):
    with FileServer(geotiff_dir) as files:
        listing = tmp_path / "www"
        listing.mkdir()
        (listing / "list.txt").write_text(
            "# images\n"
            f"{files.url}/utm_image.tif\n"
            "\n"
            f"{files.url}/sub/wgs84.TIFF\n"
            "dateline.tif\n"  # relative to the list's URL
            f"{files.url}/broken.tif\n"
            f"{files.url}/absent.tif\n"
            "file:///etc/passwd\n"  # a remote list may not name local files
        )
        (listing / "dateline.tif").write_bytes((geotiff_dir / "dateline.tif").read_bytes())
        with FileServer(listing) as lists, caplog.at_level(logging.WARNING):
            catalog = load(lists.url + "/list.txt")
    assert [i.id for i in catalog.images] == ["utm_image", "wgs84", "dateline"]
    utm = catalog.get("utm_image")
    assert utm.source_url == files.url + "/utm_image.tif"
    assert utm.gsd == pytest.approx(0.5)
    assert utm.title == "utm_image.tif"
    wgs84 = catalog.get("wgs84")
    assert wgs84.bbox == pytest.approx((10.0, 49.9968, 10.0064, 50.0))
    assert wgs84.gsd == pytest.approx(0.0001 * 111_300 * 0.8, rel=0.1)  # degrees → metres
    dateline = catalog.get("dateline")
    assert dateline.source_url == lists.url + "/dateline.tif"
    assert dateline.bbox[0] > dateline.bbox[2]  # crosses the antimeridian
    skipped = dict(catalog.skipped)
    assert set(skipped) == {
        f"{files.url}/broken.tif",
        f"{files.url}/absent.tif",
        "file:///etc/passwd",
    }
    assert "http(s)" in skipped["file:///etc/passwd"]
    assert all(name in caplog.text for name in skipped)


def test_directory_of_geotiffs(geotiff_dir):
    catalog = load(str(geotiff_dir))
    assert sorted(i.id for i in catalog.images) == ["dateline", "utm_image", "wgs84"]
    assert catalog.get("utm_image").source_url == str(geotiff_dir / "utm_image.tif")
    assert [name for name, _ in catalog.skipped] == ["broken.tif"]


def test_directory_of_the_test_geotiffs(tmp_path):
    """Every committed and generated fixture, as a directory catalog: one image each, none skipped."""
    for src in (DATA / "geotiff").glob("*.tif"):
        shutil.copy(src, tmp_path / src.name)
    write_all(tmp_path)
    catalog = load(str(tmp_path))
    assert len(catalog) == 8 + len(GENERATED) and catalog.skipped == ()
    assert catalog.get("landsat_stripped").bbox == pytest.approx((-78.959, 23.565, -76.575, 25.551), abs=1e-3)
    assert catalog.get("landsat_stripped").gsd == pytest.approx(300, rel=1e-3)
    west, _, east, _ = catalog.get("cog_dateline").bbox
    assert (west, east) == pytest.approx((177.999, -178.514), abs=1e-3)
    assert catalog.get("no_georef").footprint is None  # listed: its thumbnail still works
    assert catalog.get("gcps").bbox == pytest.approx((75.6, 9.3, 78.1, 11.2), abs=0.02)  # from its GCPs
    # Corners off the Earth: the footprint is the bbox of the visible disk.
    west, south, east, north = catalog.get("goes").bbox
    assert -150 < west < -140 and -10 < east < 0 and -70 < south < -60 and 60 < north < 70
    assert catalog.get("south_pole").bbox[1] == -90.0  # contains the pole
