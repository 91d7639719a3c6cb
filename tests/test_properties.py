"""Property-based tests over every route: no input yields a 500, a traceback or a non-JSON error.

The image routes are asked of ``cogeo`` (a real COG on the test server) and of
ids hypothesis makes up; a few hundred examples in all, so this stays fast.
A response is acceptable when it is a success or a 3xx/4xx whose body is
API.md's JSON error. Upstream errors (502/504) are acceptable only for the
catalog's fault images, never for a well-formed request of ``cogeo``.
"""

from __future__ import annotations

import urllib.parse

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from .support.routes import ROUTES
from .support.strategies import numberish, text

SETTINGS = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

image_id = st.one_of(
    st.just("cogeo"),
    st.sampled_from(
        ["..", ".", "%2e%2e", "..%2F..%2Fetc%2Fpasswd", "a" * 129, "a" * 5000, "%00", "cogeo%00"]
    ),
    text,
)
fmt = st.one_of(st.sampled_from(["png", "jpg", "jpeg", "webp", "auto", "PNG", "gif", "tiff", ""]), text)


def quote(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def check(response, allow_upstream: bool = False) -> None:
    """API.md's promise: no 500 and no traceback; every error is the JSON error document."""
    assert response.status_code != 500, response.data[:300]
    assert b"Traceback" not in response.data
    if response.status_code >= 400:
        if response.status_code in (502, 504):
            assert allow_upstream, response.data[:300]
        assert response.headers["Content-Type"] == "application/json"
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        if response.request.method != "HEAD":
            body = response.get_json()
            assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}


@SETTINGS
@given(z=numberish, x=numberish, y=numberish, fmt=fmt, retina=st.booleans(), image=image_id)
@example(z="-1", x="0", y="0", fmt="png", retina=False, image="cogeo")
@example(z="30", x=str(2**30 - 1), y=str(2**30 - 1), fmt="png", retina=True, image="cogeo")
@example(z="31", x="0", y="0", fmt="png", retina=False, image="cogeo")
@example(z="99999999999", x="0", y="0", fmt="png", retina=False, image="cogeo")
@example(z="1", x="0.5", y="0", fmt="png", retina=False, image="cogeo")
@example(z="0", x="0", y="0", fmt="png@2x", retina=True, image="cogeo")
def test_tiles(client, z, x, y, fmt, retina, image):
    name = f"{quote(y)}{'@2x' if retina else ''}.{quote(fmt)}"
    check(client.get(f"/api/images/{quote(image)}/tiles/{quote(z)}/{quote(x)}/{name}"))


@SETTINGS
@given(image=image_id, fmt=fmt, max_size=st.one_of(st.none(), numberish))
@example(image="cogeo", fmt="png", max_size="1025")
@example(image="cogeo", fmt="png", max_size="15")
@example(image="cogeo", fmt="webp", max_size="-0")
def test_thumbnails(client, image, fmt, max_size):
    query = "" if max_size is None else f"?max_size={quote(max_size)}"
    check(client.get(f"/api/images/{quote(image)}/thumbnail.{quote(fmt)}{query}"))


@SETTINGS
@given(
    params=st.dictionaries(
        st.sampled_from(
            ["bbox", "q", "acquired_after", "acquired_before", "limit", "offset", "unknown", "url"]
        ),
        st.one_of(numberish, text, st.lists(numberish, min_size=1, max_size=5).map(",".join)),
        max_size=5,
    )
)
@example(params={"bbox": "170,-20,-170,0"})
@example(params={"bbox": "1e309,0,1,1"})
@example(params={"bbox": "-180,-90,180,90,0"})
@example(params={"limit": "1001"})
@example(params={"offset": "99999999999999999999"})
@example(params={"acquired_after": "2020-02-30"})
@example(params={"acquired_after": "9999-12-31T23:59:59+14:00"})
@example(params={"acquired_before": "0001-01-01T00:00:00-12:00"})
@example(params={"q": "x" * 501})
def test_catalog_queries(client, params):
    query = urllib.parse.urlencode(params)
    r = client.get(f"/api/images?{query}")
    check(r)
    if r.status_code == 200:
        assert r.get_json()["type"] == "FeatureCollection"


@SETTINGS
@given(image=image_id, doc=st.sampled_from(["tilejson.json", "WMTSCapabilities.xml", ""]))
def test_image_documents(client, image, doc):
    path = f"/api/images/{quote(image)}" + (f"/{doc}" if doc else "")
    check(client.get(path), allow_upstream=image not in ("cogeo",) and image.isidentifier())


@SETTINGS
@given(
    # Non-empty segments: "//x" would be a network-path reference, a host for the test client.
    path=st.lists(text.filter(bool).map(quote), min_size=1, max_size=6).map("/".join),
    method=st.sampled_from(["GET", "HEAD", "OPTIONS", "POST", "PUT", "DELETE", "PATCH", "TRACE"]),
)
@example(path="api/images/cogeo/thumbnail.png", method="DELETE")
@example(path="api/images/%2E%2E/%2E%2E/etc/passwd", method="GET")
@example(path="vendor/leaflet/..%2F..%2F..%2Fetc%2Fpasswd", method="GET")
@example(path="static/..%2F..%2Fsetup.cfg", method="GET")
@example(path=".", method="GET")
def test_any_path_and_method(client, path, method):
    r = client.open("/" + path, method=method)
    check(r, allow_upstream=True)
    assert b"root:" not in r.data and b"[metadata]" not in r.data


@pytest.mark.parametrize("length", [2_000, 8_000, 60_000])
def test_very_long_urls(client, length):
    for path in (
        "/api/images/" + "a" * length,
        "/api/images?q=" + "a" * length,
        "/api/images/cogeo/tiles/" + "1" * length + "/0/0.png",
        "/api/images/cogeo/thumbnail.png?max_size=" + "9" * length,
    ):
        check(client.get(path))


def test_every_route_answers_head_and_options(client):
    for path in ROUTES:
        head = client.head(path)
        assert head.status_code == 200 and head.data == b"", path
        options = client.options(path, headers={"Access-Control-Request-Method": "GET"})
        assert options.status_code == 200 and "GET" in options.headers["Access-Control-Allow-Methods"]
