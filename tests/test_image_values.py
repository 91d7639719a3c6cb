"""Values checked against the image they are applied to, from a request or a catalog record:
``nodata`` within the data type, ``rescale`` once or once per band shown, statistics that any
expression's values can be summed into, and catalog URLs that can be requested.

Every case here was a 500 (or an uninitialised band cached as public) before.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any

import pytest

from oam_preview import create_app
from oam_preview.catalog import load_document
from oam_preview.tiler.rendering import nodata_fits

from .support.catalog_documents import COGEO_BOUNDS
from .support.fileserver import FileServer

COGEO_TILE = "/api/images/cogeo/tiles/18/224757/101422.png"
COGEO_POINT = "/api/images/cogeo/point/128.658,37.6685"
#: A tile and a point inside dem.tif (float32, grey), a point inside rgb_uint16.tif (uint16, RGB).
DEM_TILE = "/api/images/dem/tiles/16/34059/23336.png"
DEM_POINT = "/api/images/dem/point/7.097,45.92"
UINT16_POINT = "/api/images/rgb_uint16/point/-80.0,33.2"
COGEO_GEOMETRY = {
    "type": "Polygon",
    "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]] for w, s, e, n in [COGEO_BOUNDS]],
}


def error_of(r: Any) -> dict[str, str]:
    assert r.status_code == 400, (r.status_code, r.data[:300])
    assert r.headers["Cache-Control"] == "no-store"
    return r.get_json()["error"]


def strict_json(body: bytes) -> Any:
    """``body`` parsed as JSON proper: ``NaN`` and ``Infinity`` are Python's, not JSON."""

    def refuse(name: str) -> None:
        raise AssertionError(f"{name} in a JSON document")

    return json.loads(body, parse_constant=refuse)


@pytest.mark.parametrize(
    ("value", "dtype", "fits"),
    [
        (0, "uint8", True), (255, "uint8", True), (-1, "uint8", False), (256, "uint8", False),
        (math.nan, "uint8", False), (1e308, "uint8", False), (0.5, "uint8", False),
        (65535, "uint16", True), (1e10, "uint16", False), (-32768, "int16", True),
        (math.nan, "float32", True), (-3.4e38, "float32", True), (1e39, "float32", False),
        (1e308, "float64", True), (math.nan, "float64", True),
    ],
)  # fmt: skip
def test_nodata_fits_its_data_type(value, dtype, fits):
    assert nodata_fits(value, dtype) is fits


# -- the request's nodata -------------------------------------------------------------------


@pytest.mark.parametrize("nodata", ["nan", "-1", "256", "1e308", "0.5"])
@pytest.mark.parametrize(
    "url", [COGEO_TILE, "/api/images/cogeo/thumbnail.png", COGEO_POINT, "/api/images/cogeo/statistics"]
)
def test_a_nodata_outside_the_data_type_is_a_400(client, url, nodata):
    error = error_of(client.get(url, query_string={"nodata": nodata}))
    assert error["code"] == "bad_request" and "uint8" in error["message"] and "nodata" in error["message"]


@pytest.mark.parametrize(
    "url", ["/api/images/rgb_uint16/thumbnail.png", UINT16_POINT, "/api/images/rgb_uint16/statistics"]
)
def test_a_nodata_past_uint16_is_a_400(client, url):
    error = error_of(client.get(url, query_string={"nodata": "1e10"}))
    assert "0 to 65535" in error["message"]


@pytest.mark.parametrize("nodata", ["nan", "-9999", "1e30"])
def test_a_float_image_takes_nan_and_any_float(client, nodata):
    for url in (DEM_TILE, "/api/images/dem/thumbnail.png", DEM_POINT, "/api/images/dem/statistics"):
        r = client.get(url, query_string={"nodata": nodata, "rescale": "1600,2100"})
        assert r.status_code == 200, (url, r.data[:200])


def test_an_export_checks_nodata_at_submission(client):
    body = {"ids": ["cogeo"], "minzoom": 18, "maxzoom": 18, "bbox": [128.6585, 37.6683, 128.6587, 37.6685]}
    r = client.post("/api/exports", json={**body, "nodata": -1})
    assert r.status_code == 400 and "uint8" in r.get_json()["error"]["message"]


# -- rescale ------------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [2, 4, 250])
def test_rescale_neither_once_nor_once_per_band_is_a_400_never_cached(client, count):
    # Two ranges on RGB read the third band from uninitialised memory, a different tile on every
    # render, cached as public.
    r = client.get(COGEO_TILE, query_string=[("rescale", f"0,{100 + i}") for i in range(count)])
    assert "rescale" in error_of(r)["message"]


def test_three_ranges_on_a_grey_image_is_a_400(client):
    ranges = [("rescale", "1600,2100")] * 3
    for url in (DEM_TILE, "/api/images/dem/thumbnail.png"):
        assert "shows 1, not 3" in error_of(client.get(url, query_string=ranges))["message"]
    assert client.get(DEM_TILE, query_string=[("rescale", "1600,2100")]).status_code == 200
    three = [("rescale", f"0,{v}") for v in (200, 220, 240)]
    assert client.get(COGEO_TILE, query_string=three).status_code == 200


@pytest.mark.parametrize(
    ("ids", "rescale"), [(["cogeo"], [[0, 1], [0, 2]]), (["dem"], [[0, 1], [0, 2], [0, 3]])]
)
def test_an_export_checks_rescale_at_submission(client, ids, rescale):
    r = client.post("/api/exports", json={"ids": ids, "minzoom": 12, "maxzoom": 12, "rescale": rescale})
    assert r.status_code == 400 and "rescale" in r.get_json()["error"]["message"]


# -- statistics of any expression ----------------------------------------------------------------


@pytest.mark.parametrize("image", ["cogeo", "dem", "rgb_uint16"])
@pytest.mark.parametrize("expression", ["b1/0", "b1>b2", "b1>1800", "-b1/0", "(b1-b1)/0", "b1**1000"])
def test_statistics_of_any_expression_are_finite_json(client, image, expression):
    if expression == "b1>b2" and image == "dem":
        expression = "b1>=b1"
    r = client.get(f"/api/images/{image}/statistics", query_string={"expression": expression})
    assert r.status_code == 200, r.data[:300]
    doc = strict_json(r.data)
    figures = next(v for k, v in doc.items() if k != "id")
    for name in ("min", "max", "mean", "std", "percentile_2", "percentile_98"):
        assert math.isfinite(figures[name]), name
    counts, edges = figures["histogram"]
    assert sum(counts) == figures["count"] and len(edges) == 11 and all(map(math.isfinite, edges))
    assert figures["min"] <= figures["mean"] <= figures["max"]


def test_a_boolean_expression_has_the_statistics_of_zeros_and_ones(client):
    doc = client.get("/api/images/dem/statistics", query_string={"expression": "b1>=b1"}).get_json()
    figures = doc["b1>=b1"]
    assert (figures["min"], figures["max"], figures["mean"], figures["std"]) == (1.0, 1.0, 1.0, 0.0)


# -- the catalog's values -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def hinted(tiff_server: FileServer):
    """An app over records with hostile hints and URLs: cogeo (uint8) hinted ``nan``, ``-1`` and
    ``300``; rgb_uint16 hinted ``1e10``; dem (float32) hinted ``nan`` (which fits)."""
    url = tiff_server.url

    def feature(fid: str, name: str, **props: Any) -> dict[str, Any]:
        geometry = COGEO_GEOMETRY if name == "cogeo.tif" else None
        return {"type": "Feature", "id": fid, "geometry": geometry,
                "properties": {"source_url": f"{url}/{name}", **props}}  # fmt: skip

    doc = {
        "type": "FeatureCollection",
        "features": [
            feature("nan-hint", "cogeo.tif", nodata="nan", acquisition_start="2024-01-01"),
            feature("negative-hint", "cogeo.tif", nodata=-1, acquisition_start="2023-01-01"),
            feature("large-hint", "cogeo.tif", nodata=300, acquisition_start="2022-01-01"),
            feature("uint16-hint", "rgb_uint16.tif", nodata=1e10),
            feature("float-hint", "dem.tif", nodata="nan"),
            feature("plain", "cogeo.tif"),
            feature("space", "cog eo.tif"),
            feature("crlf", "cogeo.tif\r\nX-Injected: 1"),
            feature("newline", "cogeo.tif\nGET /x"),
            feature("tab", "cog\teo.tif"),
            feature("accent", "cogé.tif"),
        ],
    }
    catalog = load_document(doc)
    return catalog, create_app({"OAM_PREVIEW_BASEMAP_URL": ""}, catalog=catalog).test_client()


@pytest.mark.parametrize("fid", ["nan-hint", "negative-hint", "large-hint"])
def test_an_unfit_hint_is_left_out_with_a_warning(hinted, fid, caplog):
    _, client = hinted
    plain = client.get("/api/images/plain/tiles/18/224757/101422.png")
    with caplog.at_level(logging.WARNING, logger="oam_preview"):
        for url in (
            f"/api/images/{fid}/tiles/18/224757/101422.png",
            f"/api/images/{fid}/thumbnail.png",
            f"/api/images/{fid}/point/128.658,37.6685",
            f"/api/images/{fid}/statistics",
        ):
            r = client.get(url)
            assert r.status_code == 200, (url, r.data[:300])
            if r.mimetype == "application/json":
                strict_json(r.data)
    tile = client.get(f"/api/images/{fid}/tiles/18/224757/101422.png")
    assert tile.data == plain.data  # shown without the hint
    warnings = [r.getMessage() for r in caplog.records if fid in r.getMessage()]
    assert len(warnings) == 1 and "nodata" in warnings[0] and "uint8" in warnings[0]


def test_a_hint_past_uint16_is_left_out(hinted):
    _, client = hinted
    for url in ("/api/images/uint16-hint/thumbnail.png", "/api/images/uint16-hint/statistics"):
        assert client.get(url).status_code == 200


def test_a_fitting_hint_still_applies(hinted):
    _, client = hinted
    r = client.get("/api/images/float-hint/statistics")
    assert r.status_code == 200 and r.get_json()["b1"]["count"] > 0


def test_a_mosaic_over_unfit_hints_draws_every_image(hinted):
    _, client = hinted
    query = "ids=nan-hint,negative-hint,large-hint&order=catalog"
    r = client.get(f"/api/mosaic/tiles/18/224757/101422.png?{query}")
    assert r.status_code == 200, r.data[:300]
    assert r.headers["X-Mosaic-Images"] == "nan-hint" and r.headers["X-Mosaic-Coverage"] == "0"
    assert "no-store" not in r.headers["Cache-Control"]  # nothing failed
    point = client.get(f"/api/mosaic/point/128.658,37.6685?{query}")
    assert point.status_code == 200 and point.get_json()["id"] == "nan-hint"


@pytest.mark.parametrize("fid", ["space", "crlf", "newline", "tab", "accent"])
def test_a_url_that_cannot_be_requested_is_skipped_at_load(hinted, fid):
    catalog, client = hinted
    assert catalog.get(fid) is None
    (reason,) = [why for name, why in catalog.skipped if f"({fid})" in name]
    assert "percent-encode" in reason
    for url in (f"/api/images/{fid}/tiles/18/224757/101422.png", f"/api/images/{fid}/thumbnail.png"):
        r = client.get(url)
        assert r.status_code == 404 and r.get_json()["error"]["code"] == "not_found"


def test_a_mosaic_tile_survives_an_image_that_meets_a_bug(tiff_server: FileServer):
    """A blueprint's own records are not checked as a catalog load checks them: a URL with a space
    fails in the HTTP client, not as an API error. The mosaic draws that image as a coverage
    mark and shows the next one (before: a 500 for the whole tile)."""
    from shapely.geometry import shape

    from oam_preview.catalog import Catalog
    from oam_preview.catalog.records import build_image

    footprint = shape(COGEO_GEOMETRY)
    images = [
        build_image(image_id=fid, source_url=f"{tiff_server.url}/{name}", title=fid, footprint=footprint)
        for fid, name in (("unrequestable", "cog eo.tif"), ("plain", "cogeo.tif"))
    ]
    client = create_app({"OAM_PREVIEW_BASEMAP_URL": ""}, catalog=Catalog.from_images(images)).test_client()
    query = "ids=unrequestable,plain&order=catalog"
    r = client.get(f"/api/mosaic/tiles/18/224757/101422.png?{query}")
    assert r.status_code == 200, r.data[:300]
    assert r.headers["X-Mosaic-Images"] == "plain" and r.headers["X-Mosaic-Coverage"] == "1"
    assert r.headers["Cache-Control"] == "no-store"  # a part failed: kept nowhere
    point = client.get(f"/api/mosaic/point/128.658,37.6685?{query}")
    assert point.status_code == 200 and point.get_json()["checked"] == ["unrequestable"]
