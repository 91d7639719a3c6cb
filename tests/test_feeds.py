"""Feeds of newly added images (/api/images.atom, /api/images/feed.geojson): "added" is when the
catalog first saw a record, kept across refreshes and restarts; the Atom parses with feedparser."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from oam_preview.catalog import Catalog, load_document
from oam_preview.catalog.added import FileAddedLog, RedisAddedLog, added_log
from oam_preview.catalog.store import CatalogStore
from oam_preview.config import Settings
from oam_preview.web.blueprint import create_blueprint
from oam_preview.web.services import Services

from .support.footprint_catalog import FEATURES, box_feature
from .support.processes import free_port
from .support.redis_server import RedisServer
from .support.system import need_module

feedparser = need_module("feedparser")

T0 = datetime(2025, 1, 1, tzinfo=UTC)
#: Captured long ago, published late: newest *added*, oldest captured.
LATE = box_feature(
    "late-upload",
    (85.32, 27.69, 85.33, 27.70),
    platform="uav",
    gsd=0.04,
    provider="Archive <&> Team",
    acquisition_start="2015-04-26",
    title='Old "quake" survey <b>&amp;</b>\x01',
)
FIJI = box_feature("fiji", (179.9, -17.0, 180.1, -16.9), platform="uav", acquisition_start="2022-03-04")


def catalog_of(*features: dict[str, Any]) -> Catalog:
    return load_document({"type": "FeatureCollection", "features": list(features)})


class Source:
    """A catalog source whose next load is whatever the test says (a refresh)."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def __call__(self, source: str) -> Catalog:
        return self.catalog


def feed_app(source: Source, state: Path) -> tuple[Any, CatalogStore]:
    """An app over a refreshable store whose "added" times are kept in ``state``."""
    store = CatalogStore.for_source("https://catalog.example/feed.json", 0, loader=source, footprints=False)
    assert store.reload()
    settings = Settings(basemap_url="")
    services = Services.build(settings, store, added=FileAddedLog(state))
    app = Flask(__name__)
    app.register_blueprint(create_blueprint(services=services))
    return app.test_client(), store


def atom(client: Any, query: str = "") -> Any:
    response = client.get(f"/api/images.atom{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/atom+xml"
    parsed = feedparser.parse(response.get_data())
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    return parsed


def test_the_added_log_keeps_first_seen_times_across_refreshes_and_restarts(tmp_path: Path) -> None:
    state = tmp_path / "state" / "added.json"
    log = FileAddedLog(state)
    log.observe(catalog_of(*FEATURES), now=T0)
    assert set(log.added().values()) == {T0}
    # A refresh with one more record: only it is new.
    log.observe(catalog_of(*FEATURES, LATE), now=T0 + timedelta(days=1))
    # A restart (a new process): the times are read back, the old ones unchanged.
    again = FileAddedLog(state)
    again.observe(catalog_of(LATE, *FEATURES[:2]), now=T0 + timedelta(days=2))
    added = again.added()
    assert added["late-upload"] == T0 + timedelta(days=1)
    assert added["country-sat"] == T0
    assert added["tiny-0"] == T0  # gone from the catalog, remembered: it comes back as not new
    # A damaged state file starts again rather than failing the catalog.
    state.write_text("{not json")
    broken = FileAddedLog(state)
    broken.observe(catalog_of(LATE), now=T0 + timedelta(days=3))
    assert broken.added() == {"late-upload": T0 + timedelta(days=3)}


def test_the_state_file_is_per_source_and_a_memory_catalog_keeps_none(tmp_path: Path) -> None:
    one = added_log("https://a.example/catalog.json", str(tmp_path), "")
    two = added_log("https://b.example/catalog.json", str(tmp_path), "")
    assert isinstance(one, FileAddedLog) and isinstance(two, FileAddedLog) and one.path != two.path
    assert not isinstance(added_log("memory", str(tmp_path), ""), FileAddedLog)


def test_the_feeds_list_newly_added_images_first(tmp_path: Path) -> None:
    source = Source(catalog_of(*FEATURES))
    client, store = feed_app(source, tmp_path / "added.json")
    source.catalog = catalog_of(*FEATURES, LATE)
    assert store.reload()  # a refresh finds one more record
    parsed = atom(client, "?platform=uav")
    ids = [e.id.rsplit("/", 1)[1] for e in parsed.entries]
    # Newest added first, whatever its capture date; the rest in the query's order (newest captured).
    assert ids == ["late-upload", "tiny-2", "tiny-1", "tiny-0", "valley-uav"]
    first = parsed.entries[0]
    assert first.title == 'Old "quake" survey <b>&amp;</b>'  # text, the control character dropped
    assert first.published_parsed >= parsed.entries[1].published_parsed
    assert first.author == "Archive <&> Team"
    assert "Captured 2015-04-26" in first.summary
    assert first.media_thumbnail[0]["url"].endswith("/api/images/late-upload/thumbnail.png")
    assert {link.rel for link in first.links} >= {"alternate", "related", "enclosure"}
    assert first.where["type"] == "Polygon"
    assert first.where["coordinates"][0][0] == (85.32, 27.69)
    assert parsed.feed.updated_parsed == first.updated_parsed
    # The GeoJSON feed: the same images and order, with `added`.
    doc = json.loads(client.get("/api/images/feed.geojson?platform=uav").get_data())
    assert [f["id"] for f in doc["features"]] == ids
    added = [datetime.fromisoformat(f["properties"]["added"]) for f in doc["features"]]
    assert added == sorted(added, reverse=True) and added[0] > added[1]
    assert doc["features"][0]["properties"]["tiles"].endswith("/tiles/{z}/{x}/{y}.png")
    # A restart over the same state file: the same added times, so the same feed.
    restarted, _ = feed_app(Source(catalog_of(*FEATURES, LATE)), tmp_path / "added.json")
    again = json.loads(restarted.get("/api/images/feed.geojson?platform=uav").get_data())
    assert [f["properties"]["added"] for f in again["features"]] == [
        f["properties"]["added"] for f in doc["features"]
    ]


def test_feed_filters_limit_and_empty_results(tmp_path: Path) -> None:
    client, _ = feed_app(Source(catalog_of(*FEATURES, LATE, FIJI)), tmp_path / "added.json")
    parsed = atom(client, "?bbox=85.3,27.68,85.36,27.72&acquired_after=2020-01-01&limit=2")
    assert [e.id.rsplit("/", 1)[1] for e in parsed.entries] == ["tiny-2", "tiny-1"]
    assert atom(client, "?platform=aircraft").entries[0].id.endswith("/city-aircraft")
    empty = atom(client, "?q=nothing-matches")
    assert empty.entries == [] and empty.feed.id.endswith("q=nothing-matches")
    # Across the antimeridian: one GeoRSS polygon per side, each within ±180.
    fiji = atom(client, "?ids=fiji").entries[0]
    assert fiji.where["type"] in ("Polygon", "MultiPolygon")
    for route in ("/api/images.atom", "/api/images/feed.geojson"):
        for bad in ("?bbox=1,2", "?limit=-1", "?acquired_after=yesterday"):
            response = client.get(route + bad)
            assert response.status_code == 400, (route, bad)
            assert response.get_json()["error"]["code"] == "bad_request"


def test_the_fleet_shares_added_times_in_redis(tmp_path: Path) -> None:
    need_module("redis")
    with RedisServer(free_port(), tmp_path) as server:
        first = RedisAddedLog(server.url, "catalog")
        first.observe(catalog_of(*FEATURES), now=T0)
        second = RedisAddedLog(server.url, "catalog")  # another worker or machine, later
        second.observe(catalog_of(*FEATURES, LATE), now=T0 + timedelta(hours=1))
        assert second.added()["country-sat"] == T0  # the first writer won
        assert second.added()["late-upload"] == T0 + timedelta(hours=1)
        assert isinstance(added_log("https://x.example/c.json", "", server.url), RedisAddedLog)


@pytest.fixture(autouse=True)
def _no_user_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Nothing here writes to the user's cache directory."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
