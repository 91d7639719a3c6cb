"""``GET /api/images`` selection and order (ids, gsd_min/gsd_max, platform, order) through the
Flask test client, and :class:`ImageQuery` / :meth:`Catalog.select` that the mosaic reuses."""

from __future__ import annotations

import urllib.parse
from typing import Any

import pytest

from oam_preview import create_app
from oam_preview.catalog import Catalog, load_document
from oam_preview.catalog.query import ImageQuery
from oam_preview.errors import BadRequest

#: (id, gsd m, acquisition_end date, platform, lon): catalog order is this order.
ROWS = [
    ("a", 0.05, "2020-03-01", "uav", 10.0),
    ("b", 0.30, "2021-06-01", "aircraft", 11.0),
    ("c", None, "2019-01-01", "satellite", 12.0),
    ("d", 0.05, "2022-01-01", "UAV", 13.0),
    ("e", 1.50, None, "satellite", 14.0),
    ("f", 0.30, "2021-06-01", None, 15.0),
]


def listing_catalog() -> Catalog:
    features: list[dict[str, Any]] = []
    for fid, gsd, day, platform, lon in ROWS:
        props: dict[str, Any] = {"source_url": f"https://example.org/{fid}.tif", "title": f"Image {fid}"}
        if gsd is not None:
            props["gsd"] = gsd
        if day is not None:
            props["acquisition_start"] = props["acquisition_end"] = day
        if platform is not None:
            props["platform"] = platform
        features.append(
            {
                "type": "Feature",
                "id": fid,
                "geometry": None,
                "bbox": [lon, 0.0, lon + 0.5, 0.5],
                "properties": props,
            }
        )
    return load_document({"type": "FeatureCollection", "features": features})


@pytest.fixture(scope="module")
def listing() -> Any:
    return create_app({"OAM_PREVIEW_BASEMAP_URL": ""}, catalog=listing_catalog()).test_client()


def ids_of(client: Any, query: str) -> list[str]:
    r = client.get(f"/api/images?{query}")
    assert r.status_code == 200, r.get_json()
    return [f["id"] for f in r.get_json()["features"]]


def code_of(client: Any, query: str) -> tuple[int, str, str]:
    r = client.get(f"/api/images?{query}")
    error = r.get_json()["error"]
    return r.status_code, error["code"], error["message"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["a", "b", "c", "d", "e", "f"]),
        ("order=catalog", ["a", "b", "c", "d", "e", "f"]),
        ("ids=d,a,zz,c", ["d", "a", "c"]),  # given order kept, unknown ids ignored
        ("ids=d,a,d", ["d", "a"]),
        ("gsd_min=0.3", ["b", "e", "f"]),  # inclusive; unknown gsd never matches
        ("gsd_max=0.3", ["a", "b", "d", "f"]),
        ("gsd_min=0.05&gsd_max=0.05", ["a", "d"]),
        ("platform=UAV", ["a", "d"]),  # case-insensitive
        ("platform=satellite", ["c", "e"]),
        # newest: latest acquisition_end first, then finest gsd; undated last
        ("order=newest", ["d", "b", "f", "a", "c", "e"]),
        ("order=oldest", ["c", "a", "b", "f", "d", "e"]),
        # best: finest gsd first, then newest; unknown gsd last
        ("order=best", ["d", "a", "b", "f", "e", "c"]),
        ("ids=c,a,b&order=newest", ["b", "a", "c"]),
        ("ids=e,b,a&order=catalog&gsd_max=1", ["b", "a"]),
        ("platform=uav&order=newest", ["d", "a"]),
        ("bbox=12.9,0,14.2,1&order=best", ["d", "e"]),
        ("bbox=12.9,0,14.2,1&ids=e,d,a", ["e", "d"]),
        ("acquired_after=2021-01-01&order=oldest", ["b", "f", "d"]),
        ("q=image%20d", ["d"]),
    ],
)
def test_selection_and_order(listing: Any, query: str, expected: list[str]) -> None:
    assert ids_of(listing, query) == expected


@pytest.mark.parametrize(
    ("query", "word"),
    [
        ("gsd_min=fine", "gsd_min"),
        ("gsd_max=-1", "gsd_max"),
        ("gsd_min=nan", "gsd_min"),
        ("gsd_min=2&gsd_max=1", "gsd_min"),
        ("order=random", "order"),
        ("ids=a,b/../c", "ids"),
        ("ids=" + ",".join(f"i{n}" for n in range(1001)), "1000"),
        ("platform=" + "x" * 101, "platform"),
        ("limit=1001", "limit"),
        ("limit=-1", "limit"),
        ("offset=x", "offset"),
        ("bbox=1,2,3", "bbox"),
        ("acquired_after=yesterday", "acquired_after"),
        ("acquired_after=2022-01-01&acquired_before=2021-01-01", "acquired_after"),
        ("q=" + "x" * 501, "q"),
    ],
)
def test_bad_values_are_400(listing: Any, query: str, word: str) -> None:
    status, code, message = code_of(listing, query)
    assert (status, code) == (400, "bad_request")
    assert word in message


def test_paging_is_stable_and_next_links_keep_the_parameters(listing: Any) -> None:
    query = "order=best&gsd_max=2&platform=satellite&limit=1"
    seen: list[str] = []
    url = f"/api/images?{query}"
    while url:
        doc = listing.get(url).get_json()
        assert doc["numberMatched"] == 1  # e only: c has no gsd
        seen += [f["id"] for f in doc["features"]]
        nxt = [link["href"] for link in doc["links"] if link["rel"] == "next"]
        url = nxt[0].replace("http://localhost", "") if nxt else ""
    assert seen == ["e"]

    pages: list[str] = []
    url = "/api/images?order=newest&limit=2&ids=f,e,d,c,b,a"
    while url:
        doc = listing.get(url).get_json()
        pages += [f["id"] for f in doc["features"]]
        nxt = [link["href"] for link in doc["links"] if link["rel"] == "next"]
        if nxt:
            args = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(nxt[0]).query))
            assert args["order"] == "newest" and args["ids"] == "f,e,d,c,b,a" and args["limit"] == "2"
        url = nxt[0].replace("http://localhost", "") if nxt else ""
    # b and f tie (same date and gsd): the ids' order breaks the tie, on every page
    assert pages == ids_of(listing, "order=newest&ids=f,e,d,c,b,a") == ["d", "f", "b", "a", "c", "e"]


def test_feature_carries_platform(listing: Any) -> None:
    doc = listing.get("/api/images?ids=d").get_json()
    assert doc["features"][0]["properties"]["platform"] == "uav"


def test_image_query_from_args_and_select() -> None:
    catalog = listing_catalog()
    query = ImageQuery.from_args({"ids": "c,a", "order": "catalog"})
    assert query.ids == ("c", "a") and query.order == "catalog"
    assert [i.id for i in catalog.select(query)] == ["c", "a"]
    assert ImageQuery.from_args({}, default_order="newest").order == "newest"
    assert catalog.select(query) is catalog.select(ImageQuery(ids=("c", "a")))  # memoised, equal queries
    with pytest.raises(BadRequest):
        ImageQuery.from_args({"order": "worst"})


def test_select_and_search_over_20000_images() -> None:
    """A small bbox selects only the few images it touches; a search counts every match."""
    features = [
        {
            "type": "Feature",
            "id": f"i{n}",
            "geometry": None,
            "bbox": [-170 + (n % 340), -80 + (n // 340) % 160, -169.9 + (n % 340), -79.9 + (n // 340) % 160],
            "properties": {"source_url": f"https://example.org/{n}.tif", "gsd": 0.1 + n % 7},
        }
        for n in range(20_000)
    ]
    catalog = load_document({"type": "FeatureCollection", "features": features})
    hits = catalog.select(ImageQuery(bbox=(-170, -80, -169.5, -79.5), order="best"))
    assert 1 <= len(hits) < 100
    assert catalog.search(ImageQuery(order="newest"), 10, 19_995).matched == 20_000
