"""An operator's credential profile (``OAM_PREVIEW_SOURCES``) marking every image under its bucket
or prefix private or embargoed, as a record's ``private``/``embargo_until`` does, against moto's
S3 server on loopback; the embargo's end on a clock the test controls."""

from __future__ import annotations

import gzip
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import mapbox_vector_tile
import pytest
import rasterio
from rasterio.warp import transform_bounds

from oam_preview import create_app
from oam_preview.catalog import privacy
from oam_preview.catalog.model import Image
from oam_preview.catalog.sources import load_document
from oam_preview.catalog.store import CatalogStore
from oam_preview.config import Settings
from oam_preview.remote import cloud_routes
from oam_preview.remote.opener import Opener
from oam_preview.remote.profiles import Sources

from .support.cloud_stores import MotoS3
from .support.export_jobs import mbtiles_tiles
from .support.geotiffs import write_cog
from .support.loopback import LOOPBACK_ALLOW
from .support.private_access import BEFORE, EMBARGO_END, privacy_clock
from .support.processes import free_port
from .support.redis_server import RedisServer
from .support.system import need_module

#: 2028-01-01T00:00:00Z, a record's embargo later than the profile's (EMBARGO_END, 2027-01-01).
RECORD_EMBARGO_END = 1830297600
TOKEN = "profile-token-0123456789"
#: image id -> (object in bucket alpha, the record's own properties).
RECORDS: dict[str, tuple[str, dict[str, Any]]] = {
    "plain": ("open/plain.tif", {}),
    "hidden": ("private/hidden.tif", {}),
    "embargoed": ("embargoed/e.tif", {"embargo_until": "2026-06-01"}),  # earlier: the profile's wins
    "late": ("embargoed/late.tif", {"embargo_until": "2028-01-01"}),  # later: the record's wins
}


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Any:
    need_module("moto")
    directory = tmp_path_factory.mktemp("moto")
    cog = write_cog(directory / "a.tif", 512, 512).read_bytes()
    server = MotoS3(directory)
    for key, _ in RECORDS.values():
        server.put("alice", "alpha", key, cog)
    yield server
    server.close()


@pytest.fixture()
def clock(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The privacy rule's clock, set by the test (Unix seconds): this module's starts at BEFORE."""
    return privacy_clock(monkeypatch, BEFORE)


def profile_file(path: Path, moto: MotoS3, marks: bool = True) -> str:
    """alice's keys on three prefixes of bucket alpha; with ``marks``, private/ is private and
    embargoed/ embargoed until 2027-01-01 (a TOML date), open/ has no mark either way."""
    alice_id, alice_secret = moto.keys["alice"]
    keys = f'endpoint = "{moto.url}"\naccess_key_id = "{alice_id}"\nsecret_access_key = "{alice_secret}"\n'
    text = ""
    for name, prefix, mark in (
        ("open", "open/", ""),
        ("hidden", "private/", "private = true\n"),
        ("embargoed", "embargoed/", "embargo_until = 2027-01-01\n"),
    ):
        text += f'[profiles.{name}]\nprefixes = ["s3://alpha/{prefix}"]\n{keys}{mark if marks else ""}\n'
    path.write_text(text)
    return str(path)


def access_file(path: Path) -> str:
    digest = hashlib.sha256(TOKEN.encode()).hexdigest()
    path.write_text(f'[tokens.partner]\nsha256 = "{digest}"\nimages = ["hidden", "embargoed", "late"]\n')
    return str(path)


def app_for(sources: str, access: str) -> Any:
    features = [
        {"type": "Feature", "id": i, "geometry": None, "properties": {"source_url": f"s3://alpha/{k}", **p}}
        for i, (k, p) in RECORDS.items()
    ]
    settings = {
        "OAM_PREVIEW_UPSTREAM_ALLOW": LOOPBACK_ALLOW,
        "OAM_PREVIEW_SOURCES": sources,
        "OAM_PREVIEW_ACCESS": access,
        "OAM_PREVIEW_BASEMAP_URL": "",
    }
    return create_app(settings, catalog=load_document({"type": "FeatureCollection", "features": features}))


def listed(client: Any, **headers: str) -> set[str]:
    return {f["id"] for f in client.get("/api/images", headers=headers).json["features"]}


def test_a_profiles_marks_fold_into_the_record_the_stricter_winning():
    image = Image("x", "s3://b/k.tif", properties={"embargo_until": "2027-01-01"})
    assert privacy.marked(image, {}) is image
    assert privacy.marked(image, {"embargo_until": "2026-01-01"}) is image  # the record's is later
    later = privacy.marked(image, {"embargo_until": "2027-06-01T12:00:00Z"})
    assert later.properties["embargo_until"] == "2027-06-01T12:00:00Z"
    hidden = privacy.marked(image, {"private": True})
    assert hidden.properties["private"] is True and hidden.properties["embargo_until"] == "2027-01-01"
    assert privacy.marked(hidden, {"private": True}) is hidden  # marking twice is marking once
    # Marked again without the mark (taken off the profile): the record's own values, as they were.
    assert privacy.marked(hidden, {}) == image and privacy.marked(later, {}) == image
    assert privacy.marked(later, {"private": True}).properties == {
        "embargo_until": "2027-01-01",
        "private": True,
    }
    # A record's own private stays private whatever the profile says (it never says "public").
    own = Image("y", "s3://b/k.tif", properties={"private": True})
    assert privacy.marked(own, {"embargo_until": "2020-01-01"}).properties["private"] is True
    assert privacy.private_at(privacy.marked(own, {"embargo_until": "2020-01-01"}), EMBARGO_END)


def test_profile_marks_are_checked_when_the_file_is_read(tmp_path):
    (tmp_path / "s.toml").write_text(
        "[profiles.p]\nprefixes = ['s3://paid/x/']\nprivate = true\n"
        "[profiles.q]\nprefixes = ['s3://paid/y/']\nembargo_until = 2027-01-01T06:00:00Z\n"
        "[profiles.r]\nprefixes = ['s3://paid/']\nprivate = false\n"
    )
    sources = Sources.load(str(tmp_path / "s.toml"))
    assert sources.marks_for("s3://paid/x/a.tif") == {"private": True}
    assert sources.marks_for("s3://paid/y/a.tif") == {"embargo_until": "2027-01-01T06:00:00+00:00"}
    assert sources.marks_for("s3://paid/z/a.tif") == {}  # private = false: no mark
    assert sources.marks_for("https://example.org/paid/x/a.tif") == {}
    for bad, says in (
        ("private = 'yes'", "private is true or false"),
        ("embargo_until = 'next spring'", "embargo_until is a date"),
        ("embargo_until = 12:00:00", "embargo_until is a date"),
    ):
        (tmp_path / "bad.toml").write_text(f"[profiles.x]\nprefixes = ['s3://aaa']\n{bad}\n")
        with pytest.raises(ValueError, match="OAM_PREVIEW_SOURCES profile 'x'") as raised:
            Sources.load(str(tmp_path / "bad.toml"))
        assert says in str(raised.value)


def test_a_private_profile_hides_its_images_from_anonymous_clients(moto, tmp_path, clock):
    client = app_for(profile_file(tmp_path / "s.toml", moto), access_file(tmp_path / "a.toml")).test_client()
    assert listed(client) == {"plain"}
    for image_id in ("hidden", "embargoed", "late"):
        for path in ("", "/thumbnail.png", "/tilejson.json"):
            response = client.get(f"/api/images/{image_id}{path}")
            assert response.status_code == 404, (image_id, path)
            assert response.json["error"]["code"] == "not_found"
    # The token in scope sees them, privately, and the page's marks are in their properties.
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    assert listed(client, **bearer) == set(RECORDS)
    thumbnail = client.get("/api/images/hidden/thumbnail.png?max_size=64", headers=bearer)
    assert thumbnail.status_code == 200, thumbnail.data
    assert thumbnail.headers["Cache-Control"].startswith("private")
    feature = client.get("/api/images/embargoed", headers=bearer).json
    assert feature["properties"]["embargo_until"] == "2027-01-01"
    assert client.get("/api/images/hidden", headers=bearer).json["properties"]["private"] is True
    # An anonymous export leaves it out; the token's own export has it (test_private_exports).
    assert client.post("/api/exports", json={"ids": ["hidden"]}).status_code == 404


def test_a_profiles_embargo_ends_at_its_date_and_a_records_later_one_holds(moto, tmp_path, clock):
    client = app_for(profile_file(tmp_path / "s.toml", moto), access_file(tmp_path / "a.toml")).test_client()
    assert client.get("/api/images/embargoed/thumbnail.png?max_size=64").status_code == 404
    clock["t"] = EMBARGO_END + 1  # no restart, no reload
    assert listed(client) == {"plain", "embargoed"}
    response = client.get("/api/images/embargoed/thumbnail.png?max_size=64")
    assert response.status_code == 200, response.data
    assert not response.headers.get("Cache-Control", "").startswith("private")
    assert client.get("/api/images/late").status_code == 404  # the record's own 2028 embargo
    assert client.get("/api/images/hidden").status_code == 404  # private has no date
    clock["t"] = RECORD_EMBARGO_END + 1
    assert listed(client) == {"plain", "embargoed", "late"}


def test_a_profile_without_marks_changes_nothing(moto, tmp_path, clock):
    app = app_for(profile_file(tmp_path / "s.toml", moto, marks=False), access_file(tmp_path / "a.toml"))
    client = app.test_client()
    # Only the records' own embargoes (2026-06-01 passed at BEFORE; 2028-01-01 not) count.
    assert listed(client) == {"plain", "hidden", "embargoed"}
    feature = client.get("/api/images/hidden").json
    assert "private" not in feature["properties"] and "embargo_until" not in feature["properties"]
    assert client.get("/api/images/hidden/thumbnail.png?max_size=64").status_code == 200
    assert client.get("/api/images/late").status_code == 404


def test_a_loading_store_keeps_the_marks_through_reloads_and_background_footprints(tmp_path, tiff_server):
    """The server's own path: a store of a catalog file whose footprints are read in the
    background, marked after its first load (as Services.build does), then reloaded."""
    features = [
        {
            "type": "Feature",
            "id": name,
            "geometry": None,
            "properties": {"source_url": f"{tiff_server.url}/{name}.tif"},
        }
        for name in ("cogeo", "synthetic_cog")
    ]
    (tmp_path / "catalog.json").write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    opener = Opener(Settings(upstream_allow=LOOPBACK_ALLOW, upstream_timeout=3))
    store = CatalogStore.for_source(str(tmp_path / "catalog.json"), ttl=0, opener=opener)
    assert store.reload()
    store.mark_with(lambda href: {"private": True} if href.endswith("/cogeo.tif") else {})
    for _ in range(2):
        deadline = time.monotonic() + 30
        while store.status().footprints_pending:
            assert time.monotonic() < deadline, store.status()
            time.sleep(0.05)
        catalog = store.catalog
        assert all(image.footprint is not None for image in catalog.images)
        assert [i.id for i in catalog.images if privacy.private_at(i, BEFORE)] == ["cogeo"]
        assert [i.id for i in catalog.select()] == ["synthetic_cog"]
        assert store.reload()  # a new catalog of the file: marked as it is made current


def test_a_mark_added_to_or_taken_off_the_profiles_file_applies_with_no_restart(
    moto, tmp_path, clock, monkeypatch
):
    """The real app; the profiles file edited while it runs (each request looks at it: the
    interval between two looks set to none here, 5 s in a server)."""
    monkeypatch.setattr(cloud_routes, "WATCH_INTERVAL", 0.0)
    sources = profile_file(tmp_path / "s.toml", moto)
    client = app_for(sources, access_file(tmp_path / "a.toml")).test_client()
    assert listed(client) == {"plain"}
    assert client.get("/api/images/hidden/thumbnail.png?max_size=64").status_code == 404
    profile_file(tmp_path / "s.toml", moto, marks=False)  # both marks taken off
    assert listed(client) == {"plain", "hidden", "embargoed"}  # "late": its record's own 2028
    thumbnail = client.get("/api/images/hidden/thumbnail.png?max_size=64")
    assert thumbnail.status_code == 200, thumbnail.data
    assert not thumbnail.headers.get("Cache-Control", "").startswith("private")
    hidden = client.get("/api/images/hidden").json["properties"]
    assert "private" not in hidden and "embargo_until" not in hidden
    # The record's own embargo (2026-06-01, passed) is back, not the profile's 2027 one.
    assert client.get("/api/images/embargoed").json["properties"]["embargo_until"] == "2026-06-01"
    assert client.get("/api/images/late").status_code == 404
    profile_file(tmp_path / "s.toml", moto)  # and put back
    assert listed(client) == {"plain"}
    assert client.get("/api/images/hidden/thumbnail.png?max_size=64").status_code == 404
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    feature = client.get("/api/images/embargoed", headers=bearer).json["properties"]
    assert feature["embargo_until"] == "2027-01-01"


def cli_catalog(moto: MotoS3, directory: Path) -> Path:
    """``plain`` (2020, under open/) and ``hidden`` (2021, under private/, other pixels: the
    mosaic's top image when it is in it), with their footprints; as a catalog file."""
    cog = write_cog(directory / "other.tif", 512, 512, seed=7)
    moto.put("alice", "alpha", "private/other.tif", cog.read_bytes())
    with rasterio.open(cog) as ds:
        w, s, e, n = transform_bounds(ds.crs, "EPSG:4326", *ds.bounds)
    polygon = {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}
    features = [
        {
            "type": "Feature",
            "id": image_id,
            "geometry": polygon,
            "properties": {"source_url": f"s3://alpha/{key}", "acquisition_start": day},
        }
        for image_id, key, day in (
            ("plain", "open/plain.tif", "2020-01-01"),
            ("hidden", "private/other.tif", "2021-01-01"),
        )
    ]
    path = directory / "catalog.json"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def test_seed_and_export_on_the_command_line_respect_a_profiles_private_mark(moto, tmp_path, clock):
    need_module("redis")
    from click.testing import CliRunner
    from pmtiles.reader import MmapSource, Reader, all_tiles

    from oam_preview.cli import main

    catalog = str(cli_catalog(moto, tmp_path))
    env = {
        "OAM_PREVIEW_SOURCES": profile_file(tmp_path / "s.toml", moto),
        "OAM_PREVIEW_UPSTREAM_ALLOW": LOOPBACK_ALLOW,
        "OAM_PREVIEW_BASEMAP_URL": "",
    }
    cli = CliRunner(env=env)
    # A private image named: not found, as for an anonymous client.
    for args in (
        ["export", "hidden", "-o", str(tmp_path / "hidden.mbtiles"), "--zoom", "17", "--catalog", catalog],
        ["seed", "hidden", "--zoom", "17", "--catalog", catalog, "--cache-url", "redis://127.0.0.1:1/0"],
    ):
        refused = cli.invoke(main, args)
        assert refused.exit_code != 0 and "no image with id 'hidden'" in refused.output, refused.output
    # The mosaic's package: the public image's pixels only, as the server's anonymous tiles.
    out = tmp_path / "mosaic.mbtiles"
    made = cli.invoke(main, ["export", "--mosaic", "", "-o", str(out), "--zoom", "17", "--catalog", catalog])
    assert made.exit_code == 0, made.output
    app = create_app({**env, "OAM_PREVIEW_CATALOG": catalog}).test_client()
    package = mbtiles_tiles(out)
    assert package
    for (z, x, y), data in package.items():
        served = app.get(f"/api/mosaic/tiles/{z}/{x}/{y}.png")
        assert served.headers["X-Mosaic-Images"] == "plain" and served.data == data
    # Footprints: the public one's only.
    footprints = tmp_path / "fp.pmtiles"
    args = ["export", "--footprints", "-o", str(footprints), "--zoom", "10", "--catalog", catalog]
    assert cli.invoke(main, args).exit_code == 0
    with footprints.open("rb") as f:
        tiles = dict(all_tiles(Reader(MmapSource(f)).get_bytes))
    found = set()
    for data in tiles.values():
        layers = mapbox_vector_tile.decode(gzip.decompress(data))
        found |= {feature["properties"].get("id") for feature in layers["footprints"]["features"]}
    assert found == {"plain"}
    # Seeding the mosaic puts the tiles an anonymous request asks in the shared cache, no other.
    with RedisServer(free_port(), tmp_path) as redis:
        seeded = cli.invoke(
            main, ["seed", "--mosaic", "", "--zoom", "17", "--catalog", catalog, "--cache-url", redis.url]
        )
        assert seeded.exit_code == 0, seeded.output
        cached = int(seeded.output.split("tiles: ")[1].split(" cached")[0])
        assert cached == len(package)
        server = create_app(
            {**env, "OAM_PREVIEW_CATALOG": catalog, "OAM_PREVIEW_CACHE_URL": redis.url}
        ).test_client()
        assert server.get("/api/images/plain/tilejson.json").status_code == 200  # its version known
        for z, x, y in package:
            served = server.get(f"/api/mosaic/tiles/{z}/{x}/{y}.png")
            assert served.headers["X-Mosaic-Images"] == "plain"
        assert server.get("/healthz").get_json()["cache"]["renders"] == 0  # every one from the seed
