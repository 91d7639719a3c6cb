"""Catalog loaders on the real catalog files: ids, URLs, footprints and normalised fields."""

from __future__ import annotations

import json
import logging
import math
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from shapely.geometry import MultiPolygon, Polygon

from oam_preview.catalog import CatalogError, load, load_document
from oam_preview.catalog.fetch import resolve_href
from oam_preview.catalog.model import ID_PATTERN, slugify
from oam_preview.catalog.records import gsd_in_metres
from oam_preview.geo.geometry import degrees_to_metres, footprint_from_bbox, metres_per_degree

DATA = Path(__file__).resolve().parent / "data" / "catalogs"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# -- Every real catalog file ---------------------------------------------------------


def test_oam_api_response_page():
    catalog = load(str(DATA / "oam_meta_page.json"))
    assert len(catalog) == 10 and catalog.skipped == ()
    image = catalog.get("5f00a0b0c0d0e0f0a0b0c000")
    assert image.source_url == (
        "https://oin-example.s3.amazonaws.com/5f00a0b0c0d0e0f0a0b0d000/0/5f00a0b0c0d0e0f0a0b0c000.tif"
    )
    assert image.title == "Bridge over the Rio Verde"
    assert image.bbox == pytest.approx((-78.5153, -0.2235, -78.5093, -0.2185))
    assert isinstance(image.footprint, Polygon)
    # gsd 1.347e-07 is in degrees (EPSG:4326 record): 1.5 cm on the ground.
    assert image.gsd == pytest.approx(0.015, rel=0.005)  # written with 111,320 m a degree: a sphere
    assert image.acquisition_start == utc("2017-01-10T05:00:00")
    assert image.acquisition_end == utc("2017-01-10T17:30:00")
    assert image.license == "CC-BY 4.0"  # from the envelope's meta
    assert image.provider == "Survey team 1"
    assert image.platform == "uav"
    assert image.properties["oam_tms"].endswith("/{z}/{x}/{y}.png")
    assert "contact" not in image.properties
    assert "thumbnail" not in image.properties  # the server's own property name
    # "UAV" in the old records is normalised; every gsd is a plausible UAV value in metres.
    assert {i.platform for i in catalog.images} == {"uav"}
    assert all(0.01 < i.gsd < 0.05 for i in catalog.images)
    assert all(i.acquisition_start <= i.acquisition_end for i in catalog.images)


def test_oam_meta_single_record_response():
    doc = json.loads((DATA / "oam_meta_page.json").read_text())
    doc["results"] = doc["results"][4]  # /meta/{id} answers one object
    catalog = load_document(doc)
    assert [i.id for i in catalog.images] == ["5f00a0b0c0d0e0f0a0b0c004"]


def test_oin_meta_json():
    catalog = load(str(DATA / "oin_meta_finca_la_escalera.json"))
    (image,) = catalog.images
    assert image.id == "oin_meta_finca_la_escalera"  # slug of the document's file name
    assert image.source_url.endswith("/6f407df9-a342-4fe8-a802-6cd81ca8974a.tif")
    assert image.title == "Finca La escalera"
    assert image.gsd == pytest.approx(0.01338)  # UTM record: already metres
    assert image.license == "CC-BY 4.0"
    assert image.provider == "Aeracoop"
    assert image.properties["sensor"] == "DJI Mavic"
    assert image.bbox == pytest.approx((-0.6393963, 38.1446218, -0.6371749, 38.1459867))


def test_oin_meta_named_like_oin_drops_suffix(tmp_path):
    path = tmp_path / "6f407df9-a342_meta.json"
    path.write_bytes((DATA / "oin_meta_finca_la_escalera.json").read_bytes())
    assert [i.id for i in load(str(path)).images] == ["6f407df9-a342"]


def test_oam_record_in_degrees_with_large_gsd():
    (image,) = load(str(DATA / "oam_meta_NE1_50M_SR.json")).images
    assert image.id == "oam_meta_NE1_50M_SR"
    assert image.bbox == pytest.approx((129, 29, 146, 54))
    # 0.0333° pixels (geographic projection) at latitude 41.5: about 3.2 km.
    assert image.gsd == pytest.approx(degrees_to_metres(1 / 30, 41.5), rel=1e-6)
    assert 3000 < image.gsd < 3400
    assert "oam_tms" not in image.properties  # tms: null


def test_oam_tiler_footprint_multipolygon():
    (image,) = load(str(DATA / "oam_tiler_footprint_5aebf2ee8153990013b938ef.json")).images
    assert image.id == "5aebf2ee8153990013b938ef"
    # s3:// is kept as written; without an operator's profile it is read at the bucket's public
    # https address (tests/test_cloud_sources.py).
    assert image.source_url == "s3://oin-hotosm/5aebf2ee8153990013b938ee/0/5aebf2ee8153990013b938ef.tif"
    assert isinstance(image.footprint, MultiPolygon) and image.footprint.is_valid
    assert len(image.footprint.geoms) > 1
    assert any(p.interiors for p in image.footprint.geoms)  # holes kept
    assert image.gsd == pytest.approx(0.06079)
    assert image.bbox == pytest.approx((55.4455, -4.6467, 55.4742, -4.5963), abs=1e-3)


def test_stac_spec_simple_item():
    (image,) = load(str(DATA / "stac_spec_simple_item.json")).images
    assert image.id == "20201211_223832_CS2"
    assert image.source_url == (
        "https://storage.googleapis.com/open-cogs/stac-examples/20201211_223832_CS2.tif"
    )
    assert image.properties["stac_asset"] == "visual"
    assert image.acquisition_start == image.acquisition_end == utc("2020-12-11T22:38:32.125")


def test_stac_item_collection_without_media_types():
    catalog = load(str(DATA / "pystac_sample_item_collection.json"))
    assert len(catalog) == 10 and catalog.skipped == ()
    image = catalog.get("G1994512890-LPCLOUD")
    # No visual/image/data asset and no types: the first .tif asset.
    assert image.properties["stac_asset"] == "B09"
    assert image.source_url.endswith(".B09.tif")
    assert image.bbox == pytest.approx((-177.000255, -45.241333, -176.422307, -44.251417), abs=1e-5)
    assert image.properties["eo:cloud_cover"] == 17
    late = catalog.get("G1994877008-LPCLOUD")
    assert late.acquisition_start < late.acquisition_end  # start_/end_datetime


def test_oam_stac_item_matches_meta_record():
    (item,) = load(str(DATA / "oam_stac_item.json")).images
    meta = load(str(DATA / "oam_meta_page.json")).get(item.id)
    assert item.source_url == meta.source_url
    assert item.properties["stac_asset"] == "image"
    assert item.title == "Cinder cone north flank" == meta.title
    # STAC gsd 2.95e-07 with proj:code EPSG:4326 is degrees too: same metres as /meta.
    assert item.gsd == pytest.approx(meta.gsd)
    assert item.license == "CC-BY-4.0" and item.provider == "Survey team 5"
    assert item.bbox == pytest.approx(meta.bbox)


def test_oam_stac_collection_without_items_is_empty():
    catalog = load(str(DATA / "oam_stac_collection.json"))
    assert len(catalog) == 0 and catalog.skipped == ()


# -- Normalisation helpers -------------------------------------------------------------


def test_metres_per_degree_reference_values():
    assert metres_per_degree(0) == pytest.approx((111319.49, 110574.28), abs=0.01)
    east, north = metres_per_degree(60)
    assert east == pytest.approx(55800.0, rel=2e-3) and north == pytest.approx(111412, rel=1e-4)


def test_gsd_units():
    wgs84 = "EPSG:4326"
    # OAM: gsd in CRS units, whatever the size.
    assert gsd_in_metres(1 / 30, wgs84, 0.0, in_crs_units=True) > 3000
    assert gsd_in_metres(0.5, "EPSG:32630", 40.0, in_crs_units=True) == 0.5
    assert gsd_in_metres(1.0, "EPSG:2249", 42.0, in_crs_units=True) == pytest.approx(0.3048006)
    # STAC: metres, unless a geographic image claims sub-millimetre pixels.
    assert gsd_in_metres(0.5, wgs84, 0.0, in_crs_units=False) == 0.5
    assert gsd_in_metres(3e-7, wgs84, 0.0, in_crs_units=False) == pytest.approx(0.033, rel=0.01)
    # Unknown CRS: the same 1 mm rule; degrees without a latitude are unknown.
    assert gsd_in_metres(3e-7, None, 0.0, in_crs_units=True) == pytest.approx(0.033, rel=0.01)
    assert gsd_in_metres(3e-7, None, None, in_crs_units=True) is None
    assert gsd_in_metres(0.05, "not a crs", None, in_crs_units=True) == 0.05


@given(st.text(max_size=300))
def test_slugify_always_makes_an_id(name):
    assert ID_PATTERN.match(slugify(name))
    assert slugify(name) not in (".", "..")


def test_slugify_examples():
    assert slugify("RGB.byte") == "RGB.byte"
    assert slugify("Finca La escalera (é)") == "Finca-La-escalera-e"
    long_a, long_b = "x" * 200 + "a", "x" * 200 + "b"
    assert len(slugify(long_a)) == 128 and slugify(long_a) != slugify(long_b)


def test_resolve_href_keeps_remote_catalogs_remote(tmp_path):
    remote = "https://example.org/stac/catalog.json"
    assert resolve_href(remote, "./items/a.json") == "https://example.org/stac/items/a.json"
    assert resolve_href(remote, "s3://bucket/k/a.tif") == "s3://bucket/k/a.tif"
    assert resolve_href(remote, "AZ://container/k.tif") == "az://container/k.tif"
    for href in ("file:///etc/passwd", "ftp://host/a.tif"):
        with pytest.raises(ValueError):
            resolve_href(remote, href)
    local = str(tmp_path / "catalog.json")
    assert resolve_href(local, "items/a%20b.json") == str(tmp_path / "items" / "a b.json")
    assert resolve_href(local, "https://x.org/a.tif") == "https://x.org/a.tif"


def test_antimeridian_bbox_footprint():
    footprint = footprint_from_bbox([170, -10, -170, 10])
    assert isinstance(footprint, MultiPolygon)
    assert math.isclose(footprint.area, 400.0)


# -- Broken records are skipped, by name, and never stop the others ------------------------


def oam_record(**changes):
    record = {
        "_id": "good",
        "uuid": "https://example.org/good.tif",
        "title": "Good",
        "bbox": [10, 10, 11, 11],
        "gsd": 0.1,
        "acquisition_start": "2020-01-02T00:00:00Z",
        "acquisition_end": "2020-01-01T00:00:00Z",
    }
    record.update(changes)
    return {k: v for k, v in record.items() if v is not None}


BROKEN_OAM = {
    "no-uuid": oam_record(_id="no-uuid", uuid=None),
    "bad-id/../x": oam_record(_id="bad-id/../x"),
    "bad-gsd": oam_record(_id="bad-gsd", gsd=-1),
    "text-gsd": oam_record(_id="text-gsd", gsd="ten"),
    "bad-date": oam_record(_id="bad-date", acquisition_start="yesterday"),
    "bad-wkt": oam_record(_id="bad-wkt", bbox=None, footprint="POLYGON((1 2, 3"),
    "bad-geojson": oam_record(_id="bad-geojson", bbox=None, geojson={"type": "Polygon"}),
    "bad-bbox": oam_record(_id="bad-bbox", bbox=[1, 2, 3]),
    "flat": oam_record(_id="flat", bbox=None, footprint="LINESTRING(0 0, 1 1)"),
    "local-file": oam_record(_id="local-file", uuid="file:///etc/passwd"),
}


def test_broken_oam_records_are_skipped_by_name(caplog):
    results = [oam_record(), "not an object", *BROKEN_OAM.values(), oam_record()]
    doc = {"meta": {"found": len(results)}, "results": results}
    with caplog.at_level(logging.WARNING):
        catalog = load_document(doc, "https://example.org/meta")
    assert [i.id for i in catalog.images] == ["good"]
    good = catalog.images[0]
    assert good.acquisition_start < good.acquisition_end  # given the wrong way round
    names = [name for name, _ in catalog.skipped]
    assert names[0] == "page 1 record #1"
    for record_id in BROKEN_OAM:
        assert any(name.startswith(record_id + " ") for name in names), record_id
        assert any(record_id in r.getMessage() for r in caplog.records), record_id
    assert ("good", "duplicate id; the first record wins") in catalog.skipped
    assert len(catalog.skipped) == 1 + len(BROKEN_OAM) + 1


def test_oam_record_with_invalid_footprint_is_fixed():
    bowtie = "POLYGON((0 0, 1 1, 1 0, 0 1, 0 0))"
    doc = {"meta": {}, "results": [oam_record(bbox=None, footprint=bowtie)]}
    (image,) = load_document(doc).images
    assert image.footprint.is_valid and image.footprint.area == pytest.approx(0.5)


def test_oam_record_across_the_antimeridian():
    ring = "POLYGON((179 -17, -179 -17, -179 -16, 179 -16, 179 -17))"
    doc = {"meta": {}, "results": [oam_record(bbox=None, footprint=ring)]}
    (image,) = load_document(doc).images
    assert isinstance(image.footprint, MultiPolygon)
    west, _, east, _ = image.bbox
    assert west == pytest.approx(179) and east == pytest.approx(-179)


def stac_item(item_id="item", **changes):
    item = {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": item_id,
        "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]},
        "bbox": [0, 0, 1, 1],
        "properties": {"datetime": "2021-01-01T00:00:00Z"},
        "assets": {"visual": {"href": "https://example.org/a.tif", "type": "image/tiff"}},
        "links": [],
    }
    item.update(changes)
    return item


def test_broken_stac_items_are_skipped_by_name(caplog):
    broken = {
        "no-assets": stac_item("no-assets", assets={}),
        "only-png": stac_item("only-png", assets={"thumbnail": {"href": "t.png", "type": "image/png"}}),
        "bad-geometry": stac_item("bad-geometry", geometry={"type": "Polygon", "coordinates": 1}),
        "bad-date": stac_item("bad-date", properties={"datetime": "2021-13-45"}),
        "no-props": stac_item("no-props", properties=None),
        "bad-gsd": stac_item("bad-gsd", properties={"datetime": None, "gsd": 0}),
    }
    doc = {"type": "FeatureCollection", "features": [stac_item(), *broken.values(), 7]}
    with caplog.at_level(logging.WARNING):
        catalog = load_document(doc, "https://example.org/search")
    assert [i.id for i in catalog.images] == ["item"]
    names = [name for name, _ in catalog.skipped]
    assert names[: len(broken)] == list(broken)
    assert names[-1].endswith("feature #7")
    assert all(any(name in r.getMessage() for r in caplog.records) for name in broken)


def test_stac_asset_choice_prefers_cloud_optimized():
    assets = {
        "thumbnail": {"href": "t.png", "type": "image/png"},
        "plain": {"href": "https://example.org/p.tif", "type": "image/tiff; application=geotiff"},
        "cog": {
            "href": "https://example.org/c.tif",
            "type": "image/tiff; application=geotiff; profile=cloud-optimized",
        },
    }
    (image,) = load_document(stac_item(assets=assets)).images
    assert image.source_url == "https://example.org/c.tif"
    assets["data"] = {"href": "https://example.org/d.tif"}
    assert load_document(stac_item(assets=assets)).images[0].properties["stac_asset"] == "data"


def test_stac_id_outside_the_id_alphabet_is_slugified():
    (image,) = load_document(stac_item("S2A:tile/2021 01")).images
    assert image.id == "S2A-tile-2021-01" and image.properties["stac_id"] == "S2A:tile/2021 01"


def test_geojson_feature_collection_still_loads():
    doc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": "a",
                "geometry": None,
                "bbox": [1, 2, 3, 4],
                "properties": {"source_url": "https://example.org/a.tif", "gsd": 0.2},
            }
        ],
    }
    (image,) = load_document(doc).images
    assert image.bbox == (1, 2, 3, 4) and image.gsd == 0.2


def test_unrecognised_sources_fail_as_a_whole(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{"hello": "world"}')
    with pytest.raises(CatalogError, match="unrecognised"):
        load(str(path))
    path.write_text("<html><body>Not found</body></html>")
    with pytest.raises(CatalogError, match="neither JSON nor a list"):
        load(str(path))
    with pytest.raises(CatalogError):
        load(str(tmp_path / "missing.json"))
    with pytest.raises(CatalogError):
        load("ftp://example.org/catalog.json")
