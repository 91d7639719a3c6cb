"""STAC API catalogs read page by page from a real local STAC API server (tests/support/stac_api_server.py):
GET and POST next links, missing numberMatched, retries, expired tokens, the record cap,
OpenAerialMap's STAC conventions, and conditional refreshes answered by 304."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from oam_preview.catalog import CatalogError, load
from oam_preview.catalog.fetch import RETRY_BACKOFF
from oam_preview.catalog.store import CatalogStore

from .support.stac_api_server import StacApiServer, oam_item

DATA = Path(__file__).resolve().parent / "data" / "catalogs"
ITEMS = 1000


@pytest.fixture
def api() -> Iterator[StacApiServer]:
    with StacApiServer([oam_item(n) for n in range(ITEMS)], page_size=100) as server:
        yield server


def ids(n: int) -> list[str]:
    return [f"oam-{i:05d}" for i in range(n)]


def test_search_is_followed_through_get_next_links(api: StacApiServer) -> None:
    catalog = load(api.url + "/search")
    assert [i.id for i in catalog.images] == ids(ITEMS) and catalog.skipped == ()
    assert api.hits[("GET", "/search")] == 10


def test_search_is_followed_through_post_next_links_with_merge(api: StacApiServer) -> None:
    api.post_links = True
    catalog = load(api.url + "/search?limit=50")
    assert [i.id for i in catalog.images] == ids(ITEMS)
    # 20 pages of 50: the first a GET, the others POSTs whose body kept limit=50 only
    # because the token of each next link was merged into the body sent before.
    assert api.hits[("GET", "/search")] == 1
    assert api.hits[("POST", "/search")] == 19


@pytest.mark.parametrize("matched", [None, "context", "numberMatched"])
def test_collection_items_with_or_without_number_matched(api: StacApiServer, matched: str | None) -> None:
    api.matched = matched
    catalog = load(api.url + "/collections/openaerialmap/items")
    assert len(catalog) == ITEMS
    assert api.hits[("GET", "/collections/openaerialmap/items")] == 10


def test_progress_line_on_a_terminal(api: StacApiServer, monkeypatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    api.matched = "context"
    load(api.url + "/search")
    assert terminal.getvalue().rstrip().endswith(f"STAC items: {ITEMS}/{ITEMS}")


def test_a_page_that_fails_once_is_retried(api: StacApiServer) -> None:
    api.fail_once = {300, 700}
    catalog = load(api.url + "/search")
    assert [i.id for i in catalog.images] == ids(ITEMS)
    assert api.hits[("GET", "/search")] == 12


def test_a_page_that_keeps_failing_fails_the_load_and_a_refresh_keeps_the_last_catalog(
    api: StacApiServer,
) -> None:
    store = CatalogStore.for_source(api.url + "/search", ttl=600, footprints=False)
    assert store.reload() and len(store.catalog) == ITEMS
    good = store.catalog
    api.hits.clear()

    # A page that fails every time: retried a bounded number of times.
    class Always(set):
        def discard(self, value: object) -> None:  # the page never recovers
            pass

    api.fail_once = Always({500})
    assert not store.reload()
    assert store.catalog is good
    status = store.status()
    assert "STAC API page 6" in (status.last_error or "")
    assert status.consecutive_failures == 1 and status.images == ITEMS
    assert api.hits[("GET", "/search")] == 5 + 1 + len(RETRY_BACKOFF)


def test_an_expired_token_fails_the_load_clearly(api: StacApiServer) -> None:
    api.token_ttl = -1.0  # every token is already expired when it comes back
    with pytest.raises(CatalogError, match=r"STAC API page 2 .*400"):
        load(api.url + "/search")
    assert api.hits[("GET", "/search")] == 2  # a 400 is not retried


def test_the_record_cap_stops_paging_with_a_warning(api: StacApiServer, caplog) -> None:
    with caplog.at_level(logging.WARNING):
        catalog = load(api.url + "/search", max_records=250)
    assert [i.id for i in catalog.images] == ids(250)
    assert "OAM_PREVIEW_CATALOG_MAX_RECORDS" in caplog.text
    assert api.hits[("GET", "/search")] == 3  # no page is read past the cap


@pytest.mark.parametrize("href", ["file:///etc/passwd", "/etc/passwd?x=1#", "ftp://127.0.0.1/x"])
def test_a_page_cannot_make_the_server_read_local_files(api: StacApiServer, href: str) -> None:
    page = {
        "type": "FeatureCollection",
        "features": [oam_item(0)],
        "links": [{"rel": "next", "href": href}],
    }
    api.documents["/evil.json"] = json.dumps(page).encode()
    if href.startswith("/"):  # relative: resolved against the page's URL, so it stays on http
        with pytest.raises(CatalogError, match="404"):
            load(api.url + "/evil.json")
        assert api.hits[("GET", "/etc/passwd")] == 1
        return
    with pytest.raises(CatalogError, match="http"):
        load(api.url + "/evil.json")


def test_only_next_links_are_followed(api: StacApiServer) -> None:
    page = {
        "type": "FeatureCollection",
        "features": [oam_item(0)],
        "links": [{"rel": rel, "href": api.url + "/search"} for rel in ("self", "prev", "root", "item")],
    }
    api.documents["/one.json"] = json.dumps(page).encode()
    assert len(load(api.url + "/one.json")) == 1
    assert api.hits[("GET", "/search")] == 0


def test_a_page_linking_itself_stops(api: StacApiServer, caplog) -> None:
    page = {
        "type": "FeatureCollection",
        "features": [oam_item(0)],
        "links": [{"rel": "next", "href": api.url + "/loop.json"}],
    }
    api.documents["/loop.json"] = json.dumps(page).encode()
    with caplog.at_level(logging.WARNING):
        catalog = load(api.url + "/loop.json")
    assert len(catalog) == 1 and "already read" in caplog.text
    assert api.hits[("GET", "/loop.json")] == 1


def test_oam_style_items(api: StacApiServer) -> None:
    catalog = load(api.url + "/search?limit=10")
    image = catalog.get("oam-00008")
    assert image is not None
    assert image.provider == "Producer 3"  # oam:producer_name beats providers[0]
    assert image.platform == "satellite"
    assert image.gsd == pytest.approx(0.1)  # metres: proj:code is EPSG:3857
    assert image.license == "CC-BY-4.0"
    assert image.source_url == "https://example.org/oam/8.tif"
    props = image.feature_properties()
    assert props["source_thumbnail"] == "https://example.org/oam/8_thumb.png"
    assert props["stac_asset"] == "image" and props["collection"] == "openaerialmap"
    assert "oam:producer_name" not in props and props["platform"] == "satellite"


def test_an_oam_stac_item() -> None:
    (image,) = load(str(DATA / "oam_stac_item.json")).images
    assert image.platform == "uav" and image.provider == "Survey team 5" and image.license == "CC-BY-4.0"
    assert image.feature_properties()["source_thumbnail"].endswith("_thumb.png")
    assert 0.02 < image.gsd < 0.05  # 3e-7 degrees at 34.7° N


# -- conditional refresh ---------------------------------------------------------------------


def geojson_doc(n: int) -> bytes:
    features = [
        {
            "type": "Feature",
            "id": f"g{i}",
            "geometry": None,
            "bbox": [i, 0, i + 1, 1],
            "properties": {"source_url": f"https://example.org/{i}.tif"},
        }
        for i in range(n)
    ]
    return json.dumps({"type": "FeatureCollection", "features": features}).encode()


def test_an_unchanged_catalog_costs_one_304_and_no_parse(api: StacApiServer) -> None:
    api.documents["/catalog.json"] = geojson_doc(3)
    store = CatalogStore.for_source(api.url + "/catalog.json", ttl=600, footprints=False)
    assert store.reload()
    first = store.catalog
    assert first.revision is not None and first.revision.etag
    assert store.reload()
    assert store.catalog is first  # the same object: nothing was parsed or rebuilt
    assert api.not_modified == 1 and api.hits[("GET", "/catalog.json")] == 2
    api.documents["/catalog.json"] = geojson_doc(4)
    assert store.reload()
    assert len(store.catalog) == 4 and api.not_modified == 1


def test_a_paged_api_is_read_again_in_full(api: StacApiServer) -> None:
    store = CatalogStore.for_source(api.url + "/search", ttl=600, footprints=False)
    assert store.reload() and store.reload()
    assert store.catalog.revision is None
    assert api.hits[("GET", "/search")] == 20 and api.not_modified == 0


def test_the_app_reads_a_stac_api_with_its_record_cap(api: StacApiServer) -> None:
    from oam_preview import create_app

    app = create_app(
        {
            "OAM_PREVIEW_CATALOG": api.url + "/search",
            "OAM_PREVIEW_CATALOG_MAX_RECORDS": "250",
            "OAM_PREVIEW_CATALOG_TTL": 0,
            "OAM_PREVIEW_BASEMAP_URL": "",
        }
    )
    health = app.test_client().get("/healthz").get_json()["catalog"]
    assert health["images"] == 250 and health["footprints_pending"] == 0
    doc = app.test_client().get("/api/images?platform=UAV&order=best&limit=5").get_json()
    assert doc["numberMatched"] == 84  # every third of 250: ids 0, 3, …, 249
    assert [f["properties"]["gsd"] for f in doc["features"]] == pytest.approx([0.05] * 5)


def test_max_records_setting_is_validated() -> None:
    from oam_preview.config import Settings

    assert Settings.from_mapping({"OAM_PREVIEW_CATALOG_MAX_RECORDS": "7"}).catalog_max_records == 7
    with pytest.raises(ValueError, match="MAX_RECORDS"):
        Settings.from_mapping({"OAM_PREVIEW_CATALOG_MAX_RECORDS": "0"})
