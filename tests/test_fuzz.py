"""The fuzzing tier: hostile values in every query parameter of the image, mosaic, listing and
export routes, and in catalog records, answer a JSON 4xx or a 200, never a 5xx, with bounded work.

Work is counted, not timed: every text numexpr is handed is recorded and must hold no number
past :data:`~oam_preview.tiler.band_math.MAX_CONSTANT` (written, or a power of numbers), and one
request hands it a bounded number of texts. The app reads the tests' real file server with a
generous upstream timeout, so a 504 on a busy machine is not mistaken for a finding; catalog
records may point at files that are not there, so their routes may answer 502 (JSON), never 500.

Examples are few per test (``max_examples``) to keep ``make test`` short; ``@example`` pins the
findings of issue 30.
"""

from __future__ import annotations

import ast
import json
import math
import urllib.parse
from collections.abc import Iterator
from typing import Any

import numexpr
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from oam_preview import create_app
from oam_preview.catalog import Catalog, load_document
from oam_preview.catalog.records import CatalogError
from oam_preview.tiler.band_math import MAX_CONSTANT, MAX_LENGTH

from .support.catalog_documents import COGEO_BOUNDS
from .support.fileserver import FileServer
from .support.strategies import numberish, text

SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
#: Texts numexpr may be handed by one request: a trial of each output (integers, then floats)
#: and one evaluation per output per image read (a mosaic reads at most 8).
MAX_NUMEXPR_CALLS = 3 * 2 + 3 * 8

#: Images of the tests' catalog with a tile, a point inside and what they are.
IMAGES = {
    "cogeo": ("18/224757/101422", "128.658,37.6685"),  # uint8 RGB
    "dem": ("16/34059/23336", "7.097,45.9205"),  # float32 grey, nodata -9999
    "rgb_uint16": ("9/142/205", "-80.06,33.17"),  # uint16, three bands
    "cog_cmap": ("14/4577/6211", "-79.41,39.845"),  # uint8 palette
}

# -- values --------------------------------------------------------------------------------------

number = st.one_of(
    numberish,
    st.sampled_from(["nan", "-nan", "inf", "-inf", "1e308", "-1", "0", "255", "256", "65536", "1e10",
                     "0.5", "-0", "-9999", "3.4e38", "1e39", "9" * 30, "0x1", "1_000"]),
)  # fmt: skip
rescale = st.one_of(st.tuples(number, number).map(",".join), number, text)
#: Band math, grown as a tree from bands, numbers (huge ones too), operators and functions.
formula = st.recursive(
    st.one_of(
        st.sampled_from(["b1", "b2", "b3", "b4", "b0", "b99", "B1", "x", "nan", "True"]),
        st.sampled_from(["9", "99", "1e308", "1e15", "1e16", "0.5", "10", "2", "0", "7"]),
        st.integers(min_value=-(10**20), max_value=10**20).map(str),
    ),
    lambda inner: st.one_of(
        st.tuples(
            inner,
            st.sampled_from(
                ["+", "-", "*", "/", "**", "%", "//", "<", ">=", "==", "&", "|", "^", "<<", " and "]
            ),
            inner,
        ).map("".join),  # fmt: skip
        st.tuples(st.sampled_from(["-", "~", "+", "not ", "-" * 50, "~" * 300]), inner).map("".join),
        st.tuples(
            st.sampled_from(["sqrt", "sin", "where", "log", "abs", "sum", "__import__", "eval"]), inner
        ).map(lambda p: f"{p[0]}({p[1]})"),  # fmt: skip
        inner.map(lambda e: f"({e})"),
        st.tuples(inner, inner).map(";".join),
    ),
    max_leaves=12,
)
expression = st.one_of(
    formula,
    st.text(alphabet="b123456789e.+-*/%()<>=!&|~^;, ", max_size=80),
    text,
)
#: JSON colormaps: mappings and intervals with odd keys, bounds and colours, and broken JSON.
colour = st.one_of(
    st.lists(st.one_of(st.integers(-1, 256), st.floats(), st.booleans()), max_size=5),
    st.sampled_from(["#fff", "#ff000080", "#12", "red", "#GGGGGG", ""]),
)
colormap = st.one_of(
    st.dictionaries(st.one_of(st.integers(-(10**20), 10**20).map(str), text), colour, max_size=4),
    st.lists(
        st.tuples(st.lists(st.one_of(st.integers(-(10**20), 10**20), st.floats()), max_size=3), colour),
        max_size=4,
    ),
).map(lambda doc: json.dumps(doc, allow_nan=True))
algorithm_params = st.one_of(
    st.dictionaries(
        st.sampled_from(["azimuth", "angle_altitude", "z_exaggeration", "buffer", "interval", "baseval",
                         "nodata_height", "sun", ""]),
        st.one_of(st.integers(-(10**20), 10**20), st.floats(), st.booleans(), st.none(), text),
        max_size=4,
    ).map(lambda doc: json.dumps(doc, allow_nan=True)),
    text,
)  # fmt: skip
rendering = st.lists(
    st.one_of(
        st.tuples(st.just("nodata"), number),
        st.tuples(
            st.just("bidx"),
            st.one_of(st.lists(st.integers(-2, 6), max_size=4).map(lambda b: ",".join(map(str, b))), text),
        ),  # fmt: skip
        st.tuples(st.just("rescale"), rescale),
        st.tuples(st.just("expression"), expression),
        st.tuples(st.just("colormap_name"), st.sampled_from(["viridis", "VIRIDIS", "nope", "", "cfastie"])),
        st.tuples(st.just("colormap"), st.one_of(colormap, text)),
        st.tuples(
            st.just("collar"), st.one_of(st.sampled_from(["black", "White", "both", "grey", ""]), text)
        ),
        st.tuples(st.just("collar_tolerance"), st.one_of(st.integers(-5, 300).map(str), number, text)),
        st.tuples(
            st.just("algorithm"),
            st.sampled_from(
                [
                    "hillshade",
                    "slope",
                    "terrainrgb",
                    "terrarium",
                    "normalizedIndex",
                    "contours",
                    "HILLSHADE",
                    "",
                ]
            ),
        ),  # fmt: skip
        st.tuples(st.just("algorithm_params"), algorithm_params),
        st.tuples(st.just("v"), st.one_of(text, st.just("x"))),
        # An image's renders by name: its product type's (browse, ndvi, hillshade), or none such.
        st.tuples(
            st.just("render"),
            st.one_of(
                st.sampled_from(["browse", "default", "ndvi", "hillshade", "nope", "", " ", "x" * 65]), text
            ),
        ),
    ),
    max_size=8,
)


# -- the app and what numexpr is handed ---------------------------------------------------------


@pytest.fixture(scope="module")
def fuzz_app(catalog: Catalog, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The tests' catalog with a generous upstream timeout (a busy machine is no finding) and
    exports capped at one tile (a valid submission is 413, or one tiny job)."""
    return create_app(
        {
            "OAM_PREVIEW_UPSTREAM_TIMEOUT": 30,
            "OAM_PREVIEW_BASEMAP_URL": "",
            "OAM_PREVIEW_EXPORT_MAX_TILES": 1,
            "OAM_PREVIEW_EXPORT_DIR": str(tmp_path_factory.mktemp("fuzz-exports")),
        },
        catalog=catalog,
    )


@pytest.fixture(scope="module")
def numexpr_texts() -> Iterator[list[str]]:
    """Every text numexpr is handed while the module runs (band_math's trials and rio-tiler's
    ``apply_expression`` both call ``numexpr.evaluate``); the tests clear it per request."""
    seen: list[str] = []
    evaluate = numexpr.evaluate

    def recorded(text: str, *args: Any, **kwargs: Any) -> Any:
        seen.append(text)
        return evaluate(text, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(numexpr, "evaluate", recorded)
        yield seen


def largest_number(text: str) -> float:
    """The largest magnitude of a number in ``text``, written or a power of written numbers
    (what Python computes exactly when numexpr's parser evaluates the text), as a base-10 log."""
    largest = -math.inf
    for node in ast.walk(ast.parse(text, mode="eval")):
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and node.value:
            largest = max(largest, math.log10(abs(node.value)))
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
            base, exponent = node.left, node.right
            if isinstance(base, ast.Constant) and isinstance(exponent, ast.Constant) and base.value:
                largest = max(largest, exponent.value * math.log10(abs(base.value)))
    return largest


def check(response: Any, texts: list[str], upstream: bool = False) -> None:
    """A 200 (or 202/304) or API.md's JSON 4xx (a 502/504 only where ``upstream`` allows, a
    catalog record's broken file); numexpr handed a bounded number of bounded texts."""
    status = response.status_code
    allowed = status < 500 or (upstream and status in (502, 504))
    assert allowed, (status, response.data[:300])
    assert b"Traceback" not in response.data
    if status >= 400:
        assert response.headers["Content-Type"] == "application/json"
        error = json.loads(response.data)["error"]
        assert set(error) == {"code", "message"} and error["code"] != "internal"
    elif response.mimetype == "application/json":
        json.loads(response.data, parse_constant=lambda name: pytest.fail(f"{name} in JSON"))
    assert len(texts) <= MAX_NUMEXPR_CALLS, len(texts)
    for sent in texts:
        assert len(sent) <= MAX_LENGTH and largest_number(sent) <= math.log10(MAX_CONSTANT), sent
    texts.clear()


def route(image: str, kind: str) -> str:
    tile, point = IMAGES[image]
    return {
        "tile": f"/api/images/{image}/tiles/{tile}.png",
        "tile@2x": f"/api/images/{image}/tiles/{tile}@2x.webp",
        "thumbnail": f"/api/images/{image}/thumbnail.png?max_size=64",
        "point": f"/api/images/{image}/point/{point}",
        "statistics": f"/api/images/{image}/statistics",
        "tilejson": f"/api/images/{image}/tilejson.json",
        "wmts": f"/api/images/{image}/WMTSCapabilities.xml",
        "feature": f"/api/images/{image}",
        "mosaic": f"/api/mosaic/tiles/{tile}.png?ids={image}",
        "mosaic point": f"/api/mosaic/point/{point}?ids={image}",
        "mosaic tilejson": f"/api/mosaic/tilejson.json?ids={image}",
        "mosaic wmts": f"/api/mosaic/WMTSCapabilities.xml?ids={image}",
    }[kind]


def with_query(url: str, pairs: list[tuple[str, str]]) -> str:
    query = urllib.parse.urlencode(pairs)
    return url + ("&" if "?" in url else "?") + query if query else url


# -- the image and mosaic routes ----------------------------------------------------------------


@SETTINGS
@given(
    image=st.sampled_from(sorted(IMAGES)),
    kind=st.sampled_from(["tile", "tile@2x", "thumbnail", "point", "statistics", "tilejson", "wmts",
                          "feature", "mosaic", "mosaic point", "mosaic tilejson", "mosaic wmts"]),
    pairs=rendering,
)  # fmt: skip
@example(image="cogeo", kind="tile", pairs=[("expression", "b1+9**9**7")])
@example(image="cogeo", kind="mosaic", pairs=[("expression", "9**9**8")])
@example(image="cogeo", kind="statistics", pairs=[("expression", "-" * 400 + "b1")])
@example(image="cogeo", kind="tile", pairs=[("nodata", "nan")])
@example(image="cogeo", kind="point", pairs=[("nodata", "-1")])
@example(image="rgb_uint16", kind="statistics", pairs=[("nodata", "1e10")])
@example(image="cogeo", kind="tile", pairs=[("rescale", "0,1"), ("rescale", "0,2")])
@example(image="dem", kind="thumbnail", pairs=[("rescale", "0,1")] * 3)
@example(image="dem", kind="statistics", pairs=[("expression", "b1/0")])
@example(image="dem", kind="statistics", pairs=[("expression", "b1*1e308*1e308")])
@example(image="cogeo", kind="statistics", pairs=[("expression", "b1>b2")])
@example(
    image="dem",
    kind="tile",
    pairs=[("algorithm", "hillshade"), ("algorithm_params", '{"z_exaggeration": 1e6}')],
)
@example(image="dem", kind="tile@2x", pairs=[("algorithm", "terrainrgb")])  # WebP: 400, not lossy heights
@example(
    image="dem",
    kind="mosaic",
    pairs=[("algorithm", "terrarium"), ("algorithm_params", '{"nodata_height": 0}')],
)
@example(
    image="cogeo",
    kind="tile",
    pairs=[("algorithm", "slope"), ("bidx", "1"), ("colormap", "[[[0, 1e15], [0, 0, 0]]]")],
)
@example(image="rgb_uint16", kind="tile", pairs=[("algorithm", "normalizedIndex"), ("bidx", "1,3")])
@example(image="rgb_uint16", kind="tile", pairs=[("colormap", '{"1": [0, 0, 0]}')])  # three bands: 400
@example(image="cog_cmap", kind="thumbnail", pairs=[("colormap", '{"1": "#fff"}')])
@example(image="dem", kind="statistics", pairs=[("algorithm", "hillshade"), ("colormap", "[" * 5000)])
@example(image="dem", kind="wmts", pairs=[("render", "browse"), ("rescale", "0,1")])
@example(image="rgb_uint16", kind="mosaic", pairs=[("render", "ndvi"), ("bidx", "1")])
def test_rendering_parameters(fuzz_app, numexpr_texts, image, kind, pairs):
    numexpr_texts.clear()
    check(fuzz_app.test_client().get(with_query(route(image, kind), pairs)), numexpr_texts)


@SETTINGS
@given(
    pairs=st.lists(
        st.tuples(
            st.sampled_from(["bbox", "q", "acquired_after", "acquired_before", "ids", "gsd_min", "gsd_max",
                             "platform", "order", "limit", "offset"]),
            st.one_of(number, text, st.lists(number, min_size=1, max_size=5).map(",".join),
                      st.sampled_from(["cogeo", "cogeo,dem", "newest", "best", "catalog", "oldest", "uav"])),
        ),
        max_size=6,
    ),
    path=st.sampled_from(["/api/images", "/api/mosaic/tiles/18/224757/101422.png",
                          "/api/mosaic/tilejson.json", "/api/mosaic/WMTSCapabilities.xml",
                          "/api/mosaic/point/128.658,37.6685"]),
    extra=rendering,
)  # fmt: skip
@example(pairs=[("ids", ",".join(["cogeo"] * 1000))], path="/api/images", extra=[])
@example(pairs=[("bbox", "170,-20,-170,0"), ("order", "best")], path="/api/mosaic/tilejson.json", extra=[])
def test_listing_and_mosaic_filters(fuzz_app, numexpr_texts, pairs, path, extra):
    numexpr_texts.clear()
    check(fuzz_app.test_client().get(with_query(path, pairs + extra)), numexpr_texts)


# -- export submissions -------------------------------------------------------------------------

json_value = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(10**20), 10**20), st.floats(), text),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(text, inner, max_size=3)),
    max_leaves=8,
)


@SETTINGS
@given(
    body=st.fixed_dictionaries(
        {},
        optional={
            "ids": st.one_of(st.lists(st.sampled_from(["cogeo", "dem", "nope", "..", "a" * 200]), max_size=3),
                             json_value),
            "mosaic": st.one_of(st.sampled_from(["ids=cogeo", "bbox=1,2", "order=best", ""]), json_value),
            "format": st.one_of(st.sampled_from(["mbtiles", "pmtiles", "zip"]), json_value),
            "tile_format": st.one_of(st.sampled_from(["png", "jpg", "webp", "gif"]), json_value),
            "bbox": st.one_of(st.lists(st.floats(), min_size=4, max_size=4), json_value),
            "minzoom": st.one_of(st.integers(-1, 30), json_value),
            "maxzoom": st.one_of(st.integers(-1, 30), json_value),
            "nodata": st.one_of(number, json_value),
            "bidx": st.one_of(st.lists(st.integers(-1, 5), max_size=4), json_value),
            "rescale": st.one_of(st.lists(st.lists(st.floats(), min_size=2, max_size=2), max_size=5),
                                 rescale, json_value),
            "expression": st.one_of(expression, json_value),
            "colormap_name": st.one_of(st.sampled_from(["viridis", "nope"]), json_value),
            "colormap": st.one_of(colormap, json_value),
            "algorithm": st.one_of(st.sampled_from(["hillshade", "terrainrgb", "nope"]), json_value),
            "algorithm_params": st.one_of(algorithm_params, json_value),
        },
    ),
)  # fmt: skip
@example(body={"ids": ["cogeo"], "expression": "b1+9**9**7"})
@example(body={"ids": ["cogeo"], "rescale": [[0, 1], [0, 2]], "minzoom": 18, "maxzoom": 18})
@example(body={"ids": ["cogeo"], "nodata": "nan", "minzoom": 18, "maxzoom": 18})
@example(body={"ids": ["dem"], "rescale": [[0, 1], [0, 2], [0, 3]]})
@example(body={"ids": ["dem"], "algorithm": "terrainrgb", "tile_format": "webp"})
@example(
    body={"ids": ["dem"], "algorithm": "hillshade", "algorithm_params": [1], "colormap": {"1": [0, 0, 0]}}
)
def test_export_submissions(fuzz_app, numexpr_texts, body):
    numexpr_texts.clear()
    check(fuzz_app.test_client().post("/api/exports", json=body), numexpr_texts)


# -- catalog records ----------------------------------------------------------------------------

W, S, E, N = COGEO_BOUNDS
COGEO_POLYGON = {"type": "Polygon", "coordinates": [[[W, S], [E, S], [E, N], [W, N], [W, S]]]}
geometry = st.one_of(
    st.none(),
    st.just(COGEO_POLYGON),
    st.builds(
        lambda c: {"type": "Polygon", "coordinates": [c]},
        st.lists(st.lists(st.floats(), min_size=2, max_size=3), max_size=6),
    ),  # fmt: skip
    st.builds(lambda c: {"type": "Point", "coordinates": c}, st.lists(st.floats(), max_size=3)),
    json_value,
)
href = st.one_of(
    st.sampled_from(["cogeo.tif", "dem.tif", "rgb_uint16.tif", "missing.tif", "cog eo.tif",
                     "cogeo.tif\r\nX-Injected: 1", "cogeo.tif\n", "\tcogeo.tif", "cogé.tif", "%00.tif",
                     "file:///etc/passwd", "s3://bucket/key.tif", "http://[::1", "javascript:alert(1)", "",
                     "../../../etc/passwd", "//example.invalid/x.tif", "cogeo.tif?x=1#y"]),
    text,
    json_value,
)  # fmt: skip
hint = st.one_of(number, st.sampled_from(["nan", "NaN", "inf", -1, 256, 1e308, 1e10, True, [0]]), json_value)
record_properties = st.fixed_dictionaries(
    {"source_url": href},
    optional={
        "nodata": hint,
        "gsd": st.one_of(number, json_value),
        "acquisition_start": st.one_of(
            st.sampled_from(["2020-02-30", "9999-12-31T23:59:59+14:00", "x"]), json_value
        ),  # fmt: skip
        "acquisition_end": json_value,
        "title": json_value,
        "platform": json_value,
        "provider": json_value,
        "license": json_value,
    },
)
geojson_feature = st.fixed_dictionaries(
    {"type": st.just("Feature"), "properties": record_properties},
    optional={
        "id": st.one_of(st.sampled_from(["cogeo", "a", "..", "", "a" * 200]), json_value),
        "geometry": geometry,
        "bbox": json_value,
    },  # fmt: skip
)
stac_item = st.builds(
    lambda fid, when, asset_href, asset_nodata, props, geom: {
        "type": "Feature", "stac_version": "1.0.0", "id": fid, "geometry": geom, "bbox": [W, S, E, N],
        "properties": {"datetime": when, **props},
        "assets": {"visual": {"href": asset_href, "type": "image/tiff; application=geotiff",
                              "nodata": asset_nodata, "raster:bands": [{"nodata": asset_nodata}]}},
        "links": [],
    },
    st.one_of(st.sampled_from(["item-a", "item-b"]), json_value),
    st.one_of(st.just("2021-01-01T00:00:00Z"), json_value),
    href,
    hint,
    st.dictionaries(st.sampled_from(["gsd", "nodata", "platform", "title"]), json_value, max_size=3),
    st.one_of(st.just(COGEO_POLYGON), geometry),
)  # fmt: skip
catalog_doc = st.one_of(
    st.lists(geojson_feature, min_size=1, max_size=4).map(
        lambda fs: {"type": "FeatureCollection", "features": fs}
    ),
    st.lists(stac_item, min_size=1, max_size=3).map(lambda fs: {"type": "FeatureCollection", "features": fs}),
    stac_item,
)


@pytest.fixture(scope="module")
def server(tiff_server: FileServer) -> FileServer:
    return tiff_server


@SETTINGS
@given(doc=catalog_doc)
@example(doc={"type": "FeatureCollection", "features": [
    {"type": "Feature", "id": "nan-hint", "geometry": COGEO_POLYGON,
     "properties": {"source_url": "cogeo.tif", "nodata": "nan"}},
    {"type": "Feature", "id": "crlf", "geometry": COGEO_POLYGON,
     "properties": {"source_url": "cogeo.tif\r\nX-Injected: 1"}},
    {"type": "Feature", "id": "space", "geometry": None, "properties": {"source_url": "cog eo.tif"}},
]})  # fmt: skip
def test_catalog_records(server, numexpr_texts, doc):
    """A hostile record is skipped at load or served without a 500: its feature, pixels, the
    listing and the mosaic over it. Relative hrefs lead to the test server, as a remote catalog's."""
    try:
        catalog = load_document(doc, base=f"{server.url}/catalog.json")
    except CatalogError:
        return  # the whole document refused, with its reason: an answer too
    app = create_app({"OAM_PREVIEW_UPSTREAM_TIMEOUT": 30, "OAM_PREVIEW_BASEMAP_URL": ""}, catalog=catalog)
    client = app.test_client()
    numexpr_texts.clear()
    check(client.get("/api/images?limit=10"), numexpr_texts)
    for image in catalog.images[:3]:
        quoted = urllib.parse.quote(image.id, safe="")
        for url in (
            f"/api/images/{quoted}",
            f"/api/images/{quoted}/thumbnail.png?max_size=64",
            f"/api/images/{quoted}/tiles/18/224757/101422.png",
            f"/api/images/{quoted}/point/128.658,37.6685",
            f"/api/images/{quoted}/statistics",
        ):
            check(client.get(url), numexpr_texts, upstream=True)
    check(client.get("/api/mosaic/tiles/18/224757/101422.png"), numexpr_texts, upstream=True)
