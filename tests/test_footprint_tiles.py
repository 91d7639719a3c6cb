"""Footprints as Mapbox Vector Tiles: ``/api/footprints/{z}/{x}/{y}.mvt``, its TileJSON, PMTiles.

Tiles are decoded with ``mapbox-vector-tile`` (the encoder's own decoder) here; QGIS
(test_footprint_qgis.py) and protomaps-leaflet in Chromium
(browser/test_footprint_tiles_page.py) read them as clients.
"""

from __future__ import annotations

import gzip
import json
import urllib.parse
from typing import Any

import mapbox_vector_tile
import pytest
from pmtiles.reader import MmapSource, Reader, all_tiles
from pmtiles.tile import Compression, TileType

from oam_preview import create_app
from oam_preview.catalog import Catalog, load_document
from oam_preview.catalog.query import ImageQuery
from oam_preview.geo.tiles import TMS
from oam_preview.offline.footprint_archive import write_pmtiles
from oam_preview.tiler.footprint_tiles import EXTENT, FIELDS, MAXZOOM, FootprintSet, encode_tile

from .support.catalog_documents import feature as scale_feature
from .support.catalog_documents import synthetic_images
from .support.footprint_catalog import FEATURES, box_feature, small_catalog

MVT = "application/vnd.mapbox-vector-tile"
#: A z0 tile over 20,000 records stays under this (issue 21).
Z0_BUDGET = 500_000


@pytest.fixture(scope="module")
def fp_client() -> Any:
    return create_app({"OAM_PREVIEW_BASEMAP_URL": ""}, catalog=small_catalog()).test_client()


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int, int]:
    t = TMS.tile(lon, lat, z)
    return z, t.x, t.y


def decode(body: bytes) -> list[dict[str, Any]]:
    """The features of the ``footprints`` layer, y down in tile units."""
    layers = mapbox_vector_tile.decode(body, default_options={"y_coord_down": True})
    assert set(layers) <= {"footprints"}
    return layers.get("footprints", {}).get("features", [])


def get_tile(client: Any, z: int, x: int, y: int, query: str = "") -> list[dict[str, Any]]:
    r = client.get(f"/api/footprints/{z}/{x}/{y}.mvt{query}")
    assert r.status_code == 200, r.data[:300]
    assert r.headers["Content-Type"] == MVT
    return decode(r.data)


def ids(features: list[dict[str, Any]]) -> set[str]:
    return {f["properties"]["id"] for f in features if "id" in f["properties"]}


def test_a_city_tile_has_the_footprints_as_polygons_with_their_properties(fp_client):
    features = get_tile(fp_client, *tile_of(85.33, 27.70, 12))
    by_id = {f["properties"]["id"]: f for f in features if "id" in f["properties"]}
    assert set(by_id) == {"country-sat", "city-aircraft", "valley-uav"}  # the tiny ones: a cluster
    clusters = [f for f in features if "point_count" in f["properties"]]
    assert [(c["geometry"]["type"], c["properties"]["point_count"]) for c in clusters] == [("Point", 3)]
    valley = by_id["valley-uav"]
    assert valley["geometry"]["type"] == "Polygon"
    assert valley["properties"] == {
        "id": "valley-uav",
        "title": "Image valley-uav",
        "acquisition_start": "2023-04-01T06:00:00Z",
        "acquisition_end": "2023-04-01T07:00:00Z",
        "gsd": 0.05,
        "provider": "Drone Team",
        "platform": "uav",
    }
    assert set(by_id["city-aircraft"]["properties"]) <= set(FIELDS)
    # The country scene covers the tile: clipped to it and its buffer, a simple box.
    ring = by_id["country-sat"]["geometry"]["coordinates"][0]
    xs, ys = [p[0] for p in ring], [p[1] for p in ring]
    assert min(xs) < 0 and max(xs) > EXTENT and min(ys) < 0 and max(ys) > EXTENT
    assert min(xs) >= -EXTENT // 16 and max(xs) <= EXTENT + EXTENT // 16
    assert len(ring) <= 6


def test_the_polygon_is_where_the_footprint_is(fp_client):
    z, x, y = tile_of(85.33, 27.70, 13)
    feature = next(f for f in get_tile(fp_client, z, x, y) if f["properties"].get("id") == "valley-uav")
    ring = feature["geometry"]["coordinates"][0]
    b = TMS.xy_bounds(x, y, z)
    w, s = TMS.xy(85.30, 27.68)
    e, n = TMS.xy(85.36, 27.72)
    unit = (b.right - b.left) / EXTENT

    def clipped(v: float) -> int:  # to the tile and its 8 px buffer
        return max(-EXTENT // 32, min(EXTENT + EXTENT // 32, round(v)))

    expected_x = sorted({clipped((w - b.left) / unit), clipped((e - b.left) / unit)})
    expected_y = sorted({clipped((b.top - n) / unit), clipped((b.top - s) / unit)})
    assert sorted({p[0] for p in ring}) == expected_x
    assert sorted({p[1] for p in ring}) == expected_y


def test_a_small_footprint_is_a_point_then_a_polygon_when_zoomed_in(fp_client):
    def tiny(z: int) -> list[dict[str, Any]]:
        features = get_tile(fp_client, *tile_of(85.3101, 27.70002, z))
        return [
            f
            for f in features
            if not f["properties"].get("id", "tiny").startswith(("country", "city", "valley"))
        ]

    # 5 m footprints 10 m apart: a fraction of a pixel at zoom 12, 2 px apart at zoom 15.
    assert [(f["geometry"]["type"], f["properties"]) for f in tiny(12)] == [("Point", {"point_count": 3})]
    at_15 = tiny(15)
    assert {f["geometry"]["type"] for f in at_15} == {"Point"}
    assert sum(f["properties"].get("point_count", 1) for f in at_15) == 3
    # 8 px at zoom 18: polygons, one each.
    at_18 = tiny(18)
    assert sorted((f["properties"]["id"], f["geometry"]["type"]) for f in at_18) == [
        (f"tiny-{i}", "Polygon") for i in range(3)
    ]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?platform=uav", {"valley-uav"}),
        ("?ids=city-aircraft,country-sat", {"city-aircraft", "country-sat"}),
        ("?gsd_min=0.1", {"country-sat", "city-aircraft"}),
        ("?acquired_after=2021-01-01&acquired_before=2022-01-01", {"city-aircraft"}),
        ("?q=valley", {"valley-uav"}),
        ("?bbox=85.34,27.70,85.50,27.80", {"country-sat", "city-aircraft", "valley-uav"}),
        ("?bbox=86,28,87,29", {"country-sat"}),
    ],
)
def test_the_listing_filters_select_the_footprints(fp_client, query, expected):
    features = get_tile(fp_client, *tile_of(85.33, 27.70, 12), query)
    assert ids(features) == expected
    listed = fp_client.get("/api/images" + query).get_json()["features"]
    assert expected <= {f["id"] for f in listed}


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/api/footprints/0/0/0.mvt?gsd_min=-1", 400, "bad_request"),
        ("/api/footprints/0/0/0.mvt?bbox=1,2,3", 400, "bad_request"),
        ("/api/footprints/0/0/0.mvt?acquired_after=yesterday", 400, "bad_request"),
        ("/api/footprints/0/0/0.pbf", 400, "bad_request"),
        ("/api/footprints/0/0/0.png", 400, "bad_request"),  # an image tile's name: not here
        ("/api/footprints/0/0/0@2x.mvt", 400, "bad_request"),
        ("/api/footprints/a/0/0.mvt", 400, "bad_request"),
        ("/api/footprints/2/4/0.mvt", 400, "bad_request"),
        ("/api/footprints/19/0/0.mvt", 404, "zoom_out_of_range"),
        ("/api/footprints/99999/0/0.mvt", 404, "zoom_out_of_range"),
        ("/api/footprints/tilejson.json?order=random", 400, "bad_request"),
    ],
)
def test_bad_requests_are_api_errors(fp_client, path, status, code):
    r = fp_client.get(path)
    assert r.status_code == status
    assert r.get_json()["error"]["code"] == code


def test_an_empty_tile_is_a_valid_tile_with_no_features(fp_client):
    r = fp_client.get("/api/footprints/3/0/0.mvt")
    assert r.status_code == 200 and decode(r.data) == []
    assert get_tile(fp_client, 0, 0, 0, "?platform=balloon") == []


def test_tiles_are_cacheable_with_an_etag(fp_client):
    path = "/api/footprints/{}/{}/{}.mvt?platform=uav".format(*tile_of(85.33, 27.70, 12))
    r = fp_client.get(path)
    assert r.headers["ETag"] and "max-age" in r.headers["Cache-Control"]
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    again = fp_client.get(path, headers={"If-None-Match": r.headers["ETag"]})
    assert again.status_code == 304 and again.headers["ETag"] == r.headers["ETag"]
    other = fp_client.get(path.replace("uav", "aircraft"))
    assert other.headers["ETag"] != r.headers["ETag"]
    assert fp_client.head(path).status_code == 200


def test_tilejson_has_vector_layers_and_a_tiles_url_with_the_filters(fp_client):
    doc = fp_client.get("/api/footprints/tilejson.json?platform=UAV&gsd_max=1").get_json()
    assert doc["tilejson"] == "3.0.0"
    assert (doc["minzoom"], doc["maxzoom"]) == (0, MAXZOOM)
    [layer] = doc["vector_layers"]
    assert layer["id"] == "footprints"
    assert {"id", "title", "acquisition_start", "acquisition_end", "gsd", "provider", "platform"} <= set(
        layer["fields"]
    )
    [url] = doc["tiles"]
    path, _, query = url.partition("?")
    assert path.endswith("/api/footprints/{z}/{x}/{y}.mvt")
    assert urllib.parse.parse_qs(query) == {"gsd_max": ["1.0"], "order": ["catalog"], "platform": ["uav"]}
    w, s, e, n = doc["bounds"]
    assert (85.29 < w < 85.31) and (27.67 < s < 27.69) and (85.35 < e < 85.37) and (27.71 < n < 27.73)
    empty = fp_client.get("/api/footprints/tilejson.json?platform=balloon")
    assert empty.status_code == 200 and empty.get_json()["bounds"][0] == -180


def test_every_image_is_in_exactly_one_tile_proper_at_each_zoom():
    """Across tiles, clusters use one grid: what a tile holds inside its own square, counted with
    clusters' ``point_count``, is each image once (the buffers only repeat)."""
    images = synthetic_images(2000)
    catalog = load_document(
        {"type": "FeatureCollection", "features": [scale_feature(i, "http://x") for i in images]}
    )
    footprints = FootprintSet.build(catalog, ImageQuery())
    for z in (1, 2):
        total = 0
        for x in range(2**z):
            for y in range(2**z):
                for f in decode(encode_tile(footprints, z, x, y)):
                    px, py = f["geometry"]["coordinates"]
                    if 0 <= px < EXTENT and 0 <= py < EXTENT:
                        total += f["properties"].get("point_count", 1)
        assert total == len(images), z


@pytest.fixture(scope="module")
def scale_catalog() -> Catalog:
    images = synthetic_images(20_000)
    doc = {"type": "FeatureCollection", "features": [scale_feature(i, "http://127.0.0.1:9") for i in images]}
    return load_document(doc)


def test_a_world_tile_over_20000_records_is_small(scale_catalog):
    client = create_app(catalog=scale_catalog).test_client()
    r = client.get("/api/footprints/0/0/0.mvt")
    assert r.status_code == 200
    features = decode(r.data)
    print(f"\nz0 over 20,000 records: {len(r.data)} bytes, {len(features)} features")
    assert len(r.data) < Z0_BUDGET
    assert sum(f["properties"].get("point_count", 1) for f in features) == 20_000
    one = client.get("/api/footprints/0/0/0.mvt?ids=synthetic-00042")
    [only] = decode(one.data)
    assert only["properties"]["id"] == "synthetic-00042" and only["geometry"]["type"] == "Point"


def test_write_pmtiles_holds_the_routes_tiles(fp_client, tmp_path):
    path = tmp_path / "footprints.pmtiles"
    count = write_pmtiles(path, small_catalog(), ImageQuery(platform="uav"), minzoom=0, maxzoom=12)
    with path.open("rb") as f:
        reader = Reader(MmapSource(f))
        header, metadata = reader.header(), reader.metadata()
        assert header["tile_type"] == TileType.MVT and header["tile_compression"] == Compression.GZIP
        assert (header["min_zoom"], header["max_zoom"]) == (0, 12)
        assert header["min_lon_e7"] == pytest.approx(85.30e7, abs=10) and header["max_lat_e7"] > 27.72e7 - 10
        assert metadata["vector_layers"][0]["id"] == "footprints"
        assert metadata["query"] == {"order": "catalog", "platform": "uav"}
        tiles = dict(all_tiles(reader.get_bytes))
        assert len(tiles) == count >= 13  # at least one tile a zoom
        for (z, x, y), data in tiles.items():
            served = fp_client.get(f"/api/footprints/{z}/{x}/{y}.mvt?platform=uav").data
            assert gzip.decompress(data) == served, (z, x, y)
        z, x, y = tile_of(85.33, 27.70, 12)
        assert ids(decode(gzip.decompress(reader.get(z, x, y)))) == {"valley-uav"}


def test_write_pmtiles_refuses_what_it_cannot_write(tmp_path):
    with pytest.raises(ValueError, match="no image"):
        write_pmtiles(tmp_path / "x.pmtiles", small_catalog(), ImageQuery(platform="balloon"))
    with pytest.raises(ValueError, match="zooms"):
        write_pmtiles(tmp_path / "x.pmtiles", small_catalog(), ImageQuery(), 5, 2)


def test_export_footprints_writes_a_pmtiles_file(tmp_path):
    from click.testing import CliRunner

    from oam_preview.cli import main

    from .support.footprint_catalog import FEATURES

    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps({"type": "FeatureCollection", "features": FEATURES}))
    out = tmp_path / "fp.pmtiles"
    args = [
        "export",
        "--footprints",
        "-o",
        str(out),
        "--catalog",
        str(catalog),
        "--mosaic",
        "platform=uav",
        "--zoom",
        "0-8",
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    with out.open("rb") as f:
        reader = Reader(MmapSource(f))
        assert (reader.header()["min_zoom"], reader.header()["max_zoom"]) == (0, 8)
        assert reader.metadata()["query"] == {"order": "catalog", "platform": "uav"}
    bad = CliRunner().invoke(main, [*args[:6], "--mosaic", "gsd_min=-1"])
    assert bad.exit_code == 2 and "gsd_min" in bad.output
    assert (
        CliRunner().invoke(main, ["export", "--footprints", "-o", str(tmp_path / "x.mbtiles")]).exit_code == 2
    )


def test_a_footprint_across_the_antimeridian_is_in_the_tiles_of_both_sides():
    doc = {
        "type": "FeatureCollection",
        "features": [box_feature("fiji", (179.0, -18.0, 181.0, -16.0), platform="aircraft")],
    }
    footprints = FootprintSet.build(load_document(doc), ImageQuery())
    for lon in (179.5, -179.5):
        features = decode(encode_tile(footprints, *tile_of(lon, -17.0, 6)))
        # The catalog splits it into two parts, one each side: each tile holds its own part.
        assert [(f["properties"]["id"], f["geometry"]["type"]) for f in features] == [("fiji", "Polygon")]
        xs = [p[0] for p in features[0]["geometry"]["coordinates"][0]]
        assert (max(xs) <= EXTENT + EXTENT // 32) if lon > 0 else (min(xs) >= -EXTENT // 32)


@pytest.mark.parametrize("z", range(10))
def test_a_small_footprint_across_the_antimeridian_is_drawn_each_side_below_zoom_10(z):
    """Its Web Mercator envelope spans the world: drawn as one footprint it was a polygon
    simplified away (issue 30). Each side's part is drawn as its own size says: points at first."""
    small = box_feature("fiji", (179.99, -17.01, 180.01, -16.99), platform="uav")
    doc = {"type": "FeatureCollection", "features": [*FEATURES, small]}
    footprints = FootprintSet.build(load_document(doc), ImageQuery())
    for lon in (179.995, -179.995):
        tile = tile_of(lon, -17.0, z)
        drawn = [f for f in decode(encode_tile(footprints, *tile)) if f["properties"].get("id") == "fiji"]
        if z == 0:  # the world tile: the part at each of its edges
            assert sorted(f["geometry"]["coordinates"][0] for f in drawn) == [0, EXTENT]
            assert {f["geometry"]["type"] for f in drawn} == {"Point"}
            continue
        [feature] = drawn
        expected = "Polygon" if z == 9 else "Point"  # 4.5 px wide at zoom 9: a polygon
        assert feature["geometry"]["type"] == expected, (z, lon)
        b = TMS.xy_bounds(tile[1], tile[2], z)
        edge = EXTENT if lon > 0 else 0  # the side of the tile the antimeridian is on
        assert (b.right if lon > 0 else b.left) == pytest.approx(TMS.xy(180.0 if lon > 0 else -180.0, 0)[0])
        xs = (
            [feature["geometry"]["coordinates"][0]]
            if expected == "Point"
            else [p[0] for p in feature["geometry"]["coordinates"][0]]
        )
        assert all(abs(x - edge) <= EXTENT // 8 for x in xs), (z, lon, xs)


def test_the_world_tile_counts_every_image_across_the_antimeridian_too():
    """A world tile over 35 images, one of them across the antimeridian (issue 30: it held 34)."""
    features = [scale_feature(i, "http://x") for i in synthetic_images(34)]
    features.append(box_feature("dateline", (179.5, 60.0, 180.5, 60.5), platform="aircraft"))
    catalog = load_document({"type": "FeatureCollection", "features": features})
    world = decode(encode_tile(FootprintSet.build(catalog, ImageQuery()), 0, 0, 0))
    # The dateline image once at each edge of the world; clusters count their images.
    assert [f["properties"].get("id") for f in world].count("dateline") == 2
    assert sum(f["properties"].get("point_count", 1) for f in world) == 36
