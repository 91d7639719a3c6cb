"""Footprints from GeoTIFF headers, filled in the background for records that came without one,
read over HTTP from the project's file server through a real Opener."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from oam_preview import create_app
from oam_preview.catalog.query import ImageQuery
from oam_preview.catalog.store import CatalogStore
from oam_preview.config import Settings
from oam_preview.remote.opener import Opener

from .support.fileserver import FileServer
from .support.loopback import LOOPBACK_ALLOW


class CountingOpener:
    """A real :class:`Opener` that counts the datasets it lends, by URL."""

    def __init__(self) -> None:
        self.opener = Opener(Settings(upstream_allow=LOOPBACK_ALLOW, upstream_timeout=3))
        self.opened: dict[str, int] = {}
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def open(self, url: str) -> Iterator[Any]:
        with self._lock:
            self.opened[url] = self.opened.get(url, 0) + 1
        with self.opener.open(url) as dataset:
            yield dataset


def write_catalog(path: Path, server_url: str, names: list[str]) -> None:
    features = [
        {
            "type": "Feature",
            "id": Path(name).stem,
            "geometry": None,
            "properties": {"source_url": f"{server_url}/{name}", "title": name},
        }
        for name in names
    ]
    features.append(  # one that came with its footprint: never read
        {
            "type": "Feature",
            "id": "placed",
            "geometry": None,
            "bbox": [10, 10, 11, 11],
            "properties": {"source_url": f"{server_url}/cogeo.tif"},
        }
    )
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))


def settle(store: CatalogStore, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while store.status().footprints_pending:
        assert time.monotonic() < deadline, store.status()
        time.sleep(0.05)


@pytest.fixture
def catalog_file(tmp_path: Path, tiff_server: FileServer) -> Path:
    path = tmp_path / "catalog.json"
    write_catalog(path, tiff_server.url, ["cogeo.tif", "synthetic_cog.tif", "stripped.tif", "missing.tif"])
    return path


def filled_store(catalog_file: Path) -> tuple[CatalogStore, CountingOpener]:
    """A store of ``catalog_file`` loaded, its background footprints all read."""
    opener = CountingOpener()
    store = CatalogStore.for_source(str(catalog_file), ttl=0, opener=opener)
    assert store.reload()
    settle(store)
    return store, opener


def test_missing_footprints_come_from_the_headers_in_the_background(catalog_file: Path) -> None:
    store, opener = filled_store(catalog_file)
    catalog = store.catalog
    for fid in ("cogeo", "synthetic_cog", "stripped"):
        image = catalog.get(fid)
        assert image is not None and image.footprint is not None and image.bbox is not None, fid
        assert image.gsd is not None and image.gsd > 0
    assert catalog.get("missing").footprint is None  # unreadable: stays listed, without one
    assert catalog.get("placed").bbox == (10, 10, 11, 11)
    # Kathmandu (the synthetic COG's place): now found by a bbox search.
    hits = catalog.select(ImageQuery(bbox=(85.2, 27.5, 85.5, 27.9)))
    assert "synthetic_cog" in [i.id for i in hits] and "placed" not in [i.id for i in hits]
    assert set(opener.opened.values()) == {1} and len(opener.opened) == 4
    assert store.status().footprints_pending == 0


def test_footprints_are_kept_for_the_next_catalog_version(catalog_file: Path) -> None:
    store, opener = filled_store(catalog_file)
    first = store.catalog
    assert store.reload()  # a local file: parsed again, a new version
    second = store.catalog
    assert second is not first
    assert second.get("cogeo").footprint is not None  # at once, from what the first version read
    settle(store)
    # Known headers are not read again; the failed one is tried again for the new version.
    assert [url for url, n in opener.opened.items() if n == 2] == [first.get("missing").source_url]


def test_healthz_shows_pending_footprints(catalog_file: Path) -> None:
    store = CatalogStore.for_source(str(catalog_file), ttl=0, opener=CountingOpener())
    assert store.reload()
    client = create_app({"OAM_PREVIEW_BASEMAP_URL": ""}, catalog=store).test_client()
    body = client.get("/healthz").get_json()
    assert "footprints_pending" in body["catalog"]
    settle(store)
    assert client.get("/healthz").get_json()["catalog"]["footprints_pending"] == 0
    assert client.get("/api/images?bbox=80,20,90,30").get_json()["numberMatched"] >= 1


def test_a_fixed_catalog_is_left_alone(catalog_file: Path) -> None:
    """A catalog built by the host app is served as given: no background reads."""
    from oam_preview.catalog import load

    catalog = load(str(catalog_file))
    store = CatalogStore.fixed(catalog)
    assert store.catalog is catalog and store.status().footprints_pending == 0
