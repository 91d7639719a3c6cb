"""The live catalog store: background refresh every ttl seconds, failures, recovery."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from shapely.geometry import box

from oam_preview.catalog import Catalog, Image
from oam_preview.catalog.store import CatalogStore, is_remote_source

TTL = 0.2  # seconds


def catalog_of(*ids: str) -> Catalog:
    images = [Image(id=i, source_url=f"https://example.org/{i}.tif", footprint=box(0, 0, 1, 1)) for i in ids]
    return Catalog.from_images(images, [("bad", "broken record")])


def wait_for(condition: Callable[[], bool], timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


class ScriptedSource:
    """A loader that answers from a script: a Catalog, or an exception to raise."""

    def __init__(self, *answers: Catalog | Exception) -> None:
        self.answers = list(answers)
        self.calls = 0

    def __call__(self) -> Catalog:
        answer = self.answers[min(self.calls, len(self.answers) - 1)]
        self.calls += 1
        if isinstance(answer, Exception):
            raise answer
        return answer


@pytest.fixture
def started() -> list[CatalogStore]:
    stores: list[CatalogStore] = []
    yield stores
    for store in stores:
        store.stop()


def test_refresh_failure_keeps_the_last_good_catalog_then_recovers(started):
    source = ScriptedSource(
        catalog_of("a"),
        RuntimeError("upstream down"),
        RuntimeError("still down"),
        catalog_of("a", "b"),
    )
    store = CatalogStore("https://example.org/meta", source, ttl=TTL)
    assert store.reload()
    first = store.catalog
    assert store.start()
    started.append(store)
    wait_for(lambda: store.status().consecutive_failures >= 1)
    assert store.catalog is first  # requests keep being served from the good one
    status = store.status()
    assert status.last_error == "upstream down" and status.images == 1 and status.refreshing
    wait_for(lambda: len(store.catalog) == 2, timeout=3 * TTL + 1.5)
    status = store.status().to_dict()
    assert status["images"] == 2 and status["consecutive_failures"] == 0
    assert status["last_success"] > status["last_error_at"]
    assert status["skipped"] == 1
    assert status["skipped_records"] == [{"name": "bad", "reason": "broken record"}]


def test_requests_never_wait_on_a_refresh(started):
    release = threading.Event()
    loading = threading.Event()

    def slow_loader() -> Catalog:
        loading.set()
        release.wait(2.0)
        return catalog_of("new")

    store = CatalogStore.fixed(catalog_of("old"))
    store._loader = slow_loader  # the fixed store's source, swapped for a slow one
    store.ttl = TTL
    store.start()
    started.append(store)
    assert loading.wait(2.0)
    began = time.monotonic()
    assert store.catalog.get("old") is not None and store.status().images == 1
    assert time.monotonic() - began < 0.05
    release.set()
    wait_for(lambda: store.catalog.get("new") is not None)


def test_stop_ends_the_refresh_thread():
    source = ScriptedSource(catalog_of("a"))
    store = CatalogStore("https://example.org/x.json", source, ttl=TTL)
    store.start()
    wait_for(lambda: source.calls >= 1)
    store.stop()
    assert not store.status().refreshing
    calls = source.calls
    time.sleep(2 * TTL)
    assert source.calls == calls


def test_only_url_sources_are_refreshed(tmp_path):
    assert is_remote_source("https://api.openaerialmap.org/meta")
    assert not is_remote_source(str(tmp_path))
    local = CatalogStore.for_source(str(tmp_path / "c.json"), ttl=TTL, loader=lambda s: catalog_of())
    assert local.ttl == 0 and not local.start()
    seen = []
    remote = CatalogStore.for_source(
        "https://example.org/c.json", ttl=TTL, loader=lambda s: seen.append(s) or catalog_of("r")
    )
    assert remote.ttl == TTL and remote.reload() and seen == ["https://example.org/c.json"]


def test_status_never_shows_credentials_or_query_strings():
    from oam_preview.catalog.store import redact

    assert (
        redact("https://user:secret@example.org:8443/cat.json?token=abc")
        == "https://example.org:8443/cat.json?…"
    )
    assert redact("https://example.org/cat.json") == "https://example.org/cat.json"
    assert redact("/srv/catalog.geojson") == "/srv/catalog.geojson"
