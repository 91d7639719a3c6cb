"""The imagery index for editors: /api/imagery/index.geojson (editor-layer-index) and
/api/imagery/josm.xml (JOSM), validated against ELI's documented schema and JOSM's own maps.xsd,
and read by GDAL's TMS driver from the URLs they give."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from shapely.geometry import shape

from oam_preview import create_app
from oam_preview.catalog import load_document

from .support.apps import served
from .support.footprint_catalog import FEATURES, box_feature
from .support.gdal_client import read_tms
from .support.geotiffs import DATA
from .support.system import missing, need_module

ELI_SCHEMA = DATA / "schemas" / "eli-imagery.schema.json"
JOSM_JAR = Path("/usr/share/josm/josm.jar")
JOSM_NS = "{http://josm.openstreetmap.de/maps-1.0}"

HOSTILE_TITLE = "Flight <1> & \"two\" 'three' ]]> \x00\x07\x1b end"
HOSTILE_PROVIDER = "Drones <&> \x07Co"


def index_catalog() -> Any:
    """The footprint tests' catalog, an image across the antimeridian (Fiji) and one whose title
    and provider hold markup, quotes and control characters."""
    features = [
        *FEATURES,
        box_feature(
            "fiji",
            (179.9, -17.0, 180.1, -16.9),
            platform="uav",
            gsd=0.1,
            provider="Pacific Drones",
            license="CC-BY-4.0",
            acquisition_start="2022-03-04",
        ),
        box_feature(
            "hostile",
            (85.33, 27.70, 85.34, 27.71),
            title=HOSTILE_TITLE,
            provider=HOSTILE_PROVIDER,
            license="https://example.org/licence?a=1&b=<2>",
            acquisition_start="2022-05-06",
            acquisition_end="2022-05-07",
        ),
        {  # no footprint: an editor could not place it, so the index leaves it out
            "type": "Feature",
            "id": "nowhere",
            "geometry": None,
            "properties": {"source_url": "http://127.0.0.1:9/nowhere.tif", "title": "nowhere"},
        },
    ]
    return load_document({"type": "FeatureCollection", "features": features})


@pytest.fixture(scope="module")
def index_client() -> Any:
    app = create_app(
        {
            "OAM_PREVIEW_BASEMAP_URL": "",
            "OAM_PREVIEW_INDEX_BEST": "valley-uav, fiji",
            "OAM_PREVIEW_PRIVACY_POLICY_URL": "https://example.org/privacy?x=1&y=2",
        },
        catalog=index_catalog(),
    )
    return app.test_client()


@pytest.fixture(scope="module")
def eli_validator() -> Any:
    jsonschema = need_module("jsonschema")
    schema = json.loads(ELI_SCHEMA.read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


@pytest.fixture(scope="module")
def josm_schema() -> Any:
    etree = need_module("lxml.etree")
    if not JOSM_JAR.exists():
        missing("josm (Debian's package: its jar holds maps.xsd)")
    with zipfile.ZipFile(JOSM_JAR) as jar:
        xsd = jar.read("data/maps.xsd")
    return etree.XMLSchema(etree.fromstring(xsd))


def eli(client: Any, query: str = "") -> dict[str, Any]:
    response = client.get(f"/api/imagery/index.geojson{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/geo+json"
    return json.loads(response.get_data())


def josm(client: Any, josm_schema: Any, query: str = "") -> Any:
    from lxml import etree

    response = client.get(f"/api/imagery/josm.xml{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/xml"
    root = etree.fromstring(response.get_data())  # well-formed, or this raises
    josm_schema.assertValid(root)
    return root


def entries_by_id(root: Any) -> dict[str, Any]:
    return {e.findtext(f"{JOSM_NS}id"): e for e in root.iter(f"{JOSM_NS}entry")}


def test_eli_index_validates_and_lists_the_listing(index_client: Any, eli_validator: Any) -> None:
    doc = eli(index_client, "?limit=1000")
    eli_validator.validate(doc)
    listing = json.loads(index_client.get("/api/images?limit=1000").get_data())
    placed = [f["id"] for f in listing["features"] if f["geometry"] is not None]
    assert [f["properties"]["id"] for f in doc["features"]] == [f"oam-preview-{i}" for i in placed]
    assert "oam-preview-nowhere" not in {f["properties"]["id"] for f in doc["features"]}
    assert doc["numberMatched"] == listing["numberMatched"]
    by_id = {f["properties"]["id"]: f for f in doc["features"]}
    valley = by_id["oam-preview-valley-uav"]["properties"]
    assert valley["type"] == "tms" and valley["category"] == "photo"
    assert valley["url"] == "http://localhost/api/images/valley-uav/tiles/{zoom}/{x}/{y}.png"
    assert (valley["start_date"], valley["end_date"]) == ("2023-04-01", "2023-04-01")
    assert valley["attribution"] == {"text": "Drone Team"}
    assert valley["privacy_policy_url"] == "https://example.org/privacy?x=1&y=2"
    assert 0 <= valley["min_zoom"] <= valley["max_zoom"] == 22  # 5 cm at 27.7° N: 5.7 cm in Web Mercator
    # `best` only where the operator said so.
    assert {i for i, f in by_id.items() if f["properties"].get("best")} == {
        "oam-preview-valley-uav",
        "oam-preview-fiji",
    }
    fiji = by_id["oam-preview-fiji"]["properties"]
    assert fiji["license_url"] == fiji["attribution"]["url"] == "https://spdx.org/licenses/CC-BY-4.0.html"


def test_the_index_takes_the_listings_filters_and_order(index_client: Any, josm_schema: Any) -> None:
    for query in (
        "?platform=uav&order=newest",
        "?bbox=85.3,27.69,85.35,27.71&order=best",
        "?acquired_after=2021-01-01&acquired_before=2022-12-31",
        "?q=drone&order=oldest",
        "?limit=2&offset=1",
    ):
        listing = json.loads(index_client.get(f"/api/images{query}").get_data())
        expected = [f"oam-preview-{f['id']}" for f in listing["features"] if f["geometry"]]
        assert expected, query
        assert [f["properties"]["id"] for f in eli(index_client, query)["features"]] == expected, query
        assert list(entries_by_id(josm(index_client, josm_schema, query))) == expected, query


def test_an_empty_query_gives_empty_valid_documents(
    index_client: Any, eli_validator: Any, josm_schema: Any
) -> None:
    doc = eli(index_client, "?q=nothing-matches-this")
    eli_validator.validate(doc)
    assert doc["features"] == [] and doc["numberMatched"] == 0
    assert len(josm(index_client, josm_schema, "?q=nothing-matches-this")) == 0


def test_bad_queries_are_400s(index_client: Any) -> None:
    for route in ("/api/imagery/index.geojson", "/api/imagery/josm.xml"):
        for query in ("?bbox=1,2,3", "?mosaic=maybe", "?limit=5000", "?order=random"):
            response = index_client.get(route + query)
            assert response.status_code == 400, (route, query)
            assert response.get_json()["error"]["code"] == "bad_request"
        response = index_client.get(route + "?mosaic=1&q=nothing-matches-this")
        assert response.status_code == 404
        assert "selects no image" in response.get_json()["error"]["message"]


def test_hostile_strings_are_escaped(index_client: Any, eli_validator: Any, josm_schema: Any) -> None:
    doc = eli(index_client, "?ids=hostile")
    eli_validator.validate(doc)
    properties = doc["features"][0]["properties"]
    assert properties["name"] == HOSTILE_TITLE  # JSON carries every character, escaped
    assert properties["attribution"] == {
        "text": HOSTILE_PROVIDER,
        "url": "https://example.org/licence?a=1&b=<2>",
    }
    entry = entries_by_id(josm(index_client, josm_schema, "?ids=hostile"))["oam-preview-hostile"]
    # XML 1.0 cannot carry C0 controls even escaped: dropped, the rest kept as it was.
    assert entry.findtext(f"{JOSM_NS}name") == "Flight <1> & \"two\" 'three' ]]>  end"
    assert entry.findtext(f"{JOSM_NS}attribution-text") == "Drones <&> Co"  # the licence is its URL
    assert entry.findtext(f"{JOSM_NS}attribution-url") == "https://example.org/licence?a=1&b=<2>"
    assert entry.findtext(f"{JOSM_NS}date") == "2022-05-06;2022-05-07"


def test_an_image_across_the_antimeridian_has_a_valid_shape_in_both(
    index_client: Any, eli_validator: Any, josm_schema: Any
) -> None:
    doc = eli(index_client, "?ids=fiji")
    eli_validator.validate(doc)
    geometry = shape(doc["features"][0]["geometry"])
    assert geometry.geom_type == "MultiPolygon" and geometry.is_valid
    assert geometry.bounds == (-180.0, -17.0, 180.0, -16.9)  # split at ±180, never past it
    assert geometry.area == pytest.approx(0.02)
    entry = entries_by_id(josm(index_client, josm_schema, "?ids=fiji"))["oam-preview-fiji"]
    bounds = entry.find(f"{JOSM_NS}bounds")
    # JOSM's bounds cross the antimeridian when min-lon > max-lon; one shape per side.
    assert (bounds.get("min-lon"), bounds.get("max-lon")) == ("179.9", "-179.9")
    shapes = bounds.findall(f"{JOSM_NS}shape")
    assert len(shapes) == 2
    for s in shapes:
        lons = {float(p.get("lon")) for p in s.findall(f"{JOSM_NS}point")}
        assert lons <= {179.9, 180.0} or lons <= {-180.0, -179.9}


def test_mosaic_1_adds_the_mosaic_of_the_query(
    index_client: Any, eli_validator: Any, josm_schema: Any
) -> None:
    doc = eli(index_client, "?mosaic=1&platform=uav")
    eli_validator.validate(doc)
    first = doc["features"][0]["properties"]
    assert first["id"].startswith("oam-preview-mosaic-")
    url = urllib.parse.urlsplit(first["url"])
    assert url.path == "/api/mosaic/tiles/{zoom}/{x}/{y}.png"
    assert dict(urllib.parse.parse_qsl(url.query)) == {"order": "newest", "platform": "uav"}
    assert (first["start_date"], first["end_date"]) == ("2022-03-04", "2024-01-03")
    # The Fiji survey is in the query: the mosaic's bounds take the whole width.
    assert shape(doc["features"][0]["geometry"]).bounds[::2] == (-180.0, 180.0)
    other = eli(index_client, "?mosaic=1&platform=aircraft")["features"][0]["properties"]
    assert other["id"] != first["id"]  # a query's mosaic has its own id
    root = josm(index_client, josm_schema, "?mosaic=1&platform=uav")
    assert next(iter(entries_by_id(root))) == first["id"]


def test_the_urls_carry_the_known_version(client: Any, josm_schema: Any) -> None:
    """Once the file's version is known, the index's URLs carry it (``v=``), as the Feature's do."""
    feature = client.get("/api/images/cogeo").get_json()  # its first use: one HEAD
    tiles = feature["properties"]["tiles"]
    assert "v=" in tiles
    doc = eli(client, "?ids=cogeo&colormap_name=viridis&bidx=1")
    expected = client.get("/api/images/cogeo?colormap_name=viridis&bidx=1").get_json()["properties"]["tiles"]
    assert doc["features"][0]["properties"]["url"] == expected.replace("{z}", "{zoom}")
    entry = entries_by_id(josm(client, josm_schema, "?ids=cogeo"))["oam-preview-cogeo"]
    assert entry.findtext(f"{JOSM_NS}url") == tiles.replace("{z}", "{zoom}")


def gdal_tms_read(template: str, tiff_dir: Path) -> None:
    """Read cogeo's area through GDAL's TMS driver at ``template`` ({zoom}/{x}/{y}); compare it
    with the file warped to Web Mercator."""
    out, ref = read_tms(template, tiff_dir)
    assert (out[3] == 255).all()
    assert np.abs(out[:3].astype(int) - ref.astype(int)).mean() < 3


def test_gdal_reads_a_tile_url_from_each_document(app: Any, tiff_dir: Path) -> None:
    from lxml import etree

    with served(app) as base:
        client = app.test_client()
        client.get("/api/images/cogeo")  # the version known: the URLs carry v=
        eli_url = json.loads(urllib.request.urlopen(f"{base}/api/imagery/index.geojson?ids=cogeo").read())[
            "features"
        ][0]["properties"]["url"]
        root = etree.fromstring(urllib.request.urlopen(f"{base}/api/imagery/josm.xml?ids=cogeo").read())
        josm_url = root.findtext(f"{JOSM_NS}entry/{JOSM_NS}url")
        mosaic_url = json.loads(
            urllib.request.urlopen(f"{base}/api/imagery/index.geojson?ids=cogeo&mosaic=1").read()
        )["features"][0]["properties"]["url"]
        assert eli_url == josm_url and eli_url.startswith(base) and "v=" in eli_url
        for template in (eli_url, mosaic_url):
            gdal_tms_read(template, tiff_dir)
