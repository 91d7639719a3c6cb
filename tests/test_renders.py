"""Renders: a catalog's STAC render hints and the product type defaults, on every image route.

The catalog is a STAC ItemCollection of OpenAerialMap-shaped items (``oam:`` fields, a ``visual``
asset, ``renders`` of the render extension v1 and v2), written here over small files shaped like
OAM's current uploads (ZSTD, native data types) and served by the project's Range file server.
A render that names ``colormap`` or ``algorithm`` is drawn once the rendering parser takes the
parameter (:func:`takes` asks it), and skipped with a warning until then: the tests hold both ways.
"""

from __future__ import annotations

import io
import json
import logging
import urllib.parse
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from PIL import Image as PILImage
from rasterio.enums import ColorInterp
from rasterio.transform import from_origin
from rio_tiler.io import Reader

from oam_preview import create_app
from oam_preview.catalog import load_document
from oam_preview.catalog.render_hints import band_names, item_renders
from oam_preview.catalog.store import CatalogStore
from oam_preview.demo.synthetic import PALETTE, Landscape, elevation, has_zstd
from oam_preview.geo.tiles import TMS
from oam_preview.tiler.description import describe
from oam_preview.tiler.rendering import Rendering
from oam_preview.tiler.renders import _Params, detect_product_type

from .support.export_jobs import finished, mbtiles_tiles
from .support.fileserver import FileServer

#: Where the test images lie: EPSG:3857 metres of a 512 px square at 0.5 m (about Goma).
ORIGIN = (3253900.0, -184600.0)
SIZE = 512


def takes(parameter: str, value: str) -> bool:
    """Whether the rendering parser takes ``parameter`` (``colormap``, ``algorithm``…)."""
    try:
        rendering = Rendering.from_args(_Params([(parameter, value)]))
    except Exception:  # noqa: BLE001  # refused: it takes the name but not this value
        return True
    return parameter in {k for k, _ in rendering.to_args()}


TAKES_ALGORITHM = takes("algorithm", "hillshade")
TAKES_COLORMAP = takes("colormap", '{"1": [0, 0, 255, 255]}')


def profile(count: int, dtype: str, **extra: Any) -> dict[str, Any]:
    compress = {"compress": "zstd", "zstd_level": 12} if has_zstd() else {"compress": "deflate"}
    return {
        "driver": "GTiff", "width": SIZE, "height": SIZE, "count": count, "dtype": dtype,
        "crs": "EPSG:3857", "transform": from_origin(*ORIGIN, 0.5, 0.5), "tiled": True,
        "blockxsize": 256, "blockysize": 256, **compress, **extra,
    }  # fmt: skip


def write_files(root: Path) -> None:
    """An OAM-style float32 DSM, a 4-band uint16 survey with named bands, a paletted land-cover
    map, an RGB and an RGBA aerial, and a 2-band float file (multispectral, by elimination)."""
    land = Landscape(SIZE, SIZE, 4)
    whole = rasterio.windows.Window(0, 0, SIZE, SIZE)
    rgb, cls = land.rgb(whole)
    with rasterio.open(root / "dsm.tif", "w", **profile(1, "float32", nodata=-9999.0, predictor=3)) as dst:
        dst.write(elevation(land, whole), 1)
        dst.build_overviews([2, 4])
    with rasterio.open(root / "survey.tif", "w", **profile(4, "uint16", nodata=0, predictor=2)) as dst:
        nir = np.where(cls == 1, 300, np.where(cls == 2, 4200, 2600))
        dst.write(np.stack([*(rgb.astype(np.uint16) * 28 + 400), nir.astype(np.uint16)]))
        dst.colorinterp = [ColorInterp.undefined] * 4
        for band, name in enumerate(("red", "green", "blue", "nir"), start=1):
            dst.set_band_description(band, name)
        dst.build_overviews([2, 4])
    with rasterio.open(root / "landcover.tif", "w", **profile(1, "uint8", nodata=0)) as dst:
        dst.write(cls, 1)
        dst.write_colormap(1, PALETTE)
        dst.build_overviews([2, 4], rasterio.enums.Resampling.nearest)
    with rasterio.open(root / "visual.tif", "w", **profile(3, "uint8", photometric="RGB")) as dst:
        dst.write(rgb)
        dst.build_overviews([2, 4])
    with rasterio.open(root / "rgba.tif", "w", **profile(4, "uint8", photometric="RGB", alpha="YES")) as dst:
        dst.write(np.concatenate([rgb, np.full((1, SIZE, SIZE), 255, np.uint8)]))
    with rasterio.open(root / "pair.tif", "w", **profile(2, "float32")) as dst:
        dst.write(np.stack([rgb[0], rgb[1]]).astype(np.float32))


def item(image_id: str, href: str, product: str | None, renders: dict[str, Any] | None, **asset: Any) -> dict:
    """An OpenAerialMap-shaped STAC Item (its STAC API's fields) of the GeoTIFF at ``href``."""
    properties: dict[str, Any] = {
        "title": image_id.replace("-", " "),
        "datetime": "2024-05-01T10:00:00Z",
        "gsd": 0.5,
        "license": "CC-BY-4.0",
        "oam:producer_name": "Test survey",
        "oam:platform_type": "uav",
    }
    if product is not None:
        properties["oam:product_type"] = product
    if renders is not None:
        properties["renders"] = renders
    (w, s), (e, n) = TMS.lnglat(*ORIGIN), TMS.lnglat(ORIGIN[0] + SIZE * 0.5, ORIGIN[1] - SIZE * 0.5)
    ring = [[w, s], [e, s], [e, n], [w, n], [w, s]]
    return {
        "type": "Feature",
        "stac_version": "1.1.0",
        "stac_extensions": ["https://stac-extensions.github.io/render/v2.0.0/schema.json"],
        "id": image_id,
        "collection": "openaerialmap",
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "properties": properties,
        "assets": {
            "visual": {
                "href": href,
                "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                **asset,
            },
            "thumbnail": {"href": href.replace(".tif", ".png"), "type": "image/png"},
        },
        "links": [],
    }


DSM_RENDERS = {
    "browse": {
        "assets": ["visual"], "title": "Elevation", "bidx": [1], "rescale": [[800.0, 1300.0]],
        "colormap_name": "terrain", "nodata": -9999.0,
    },
    "hillshade": {"assets": ["visual"], "title": "Hillshade", "algorithm": "hillshade"},
    "viridis": {"assets": ["visual"], "title": "Viridis", "bidx": [1], "rescale": [[800, 1300]],
                "colormap_name": "viridis", "nodata": -9999},
    # The same fields as browse under another name: one cache entry.
    "terrain": {"assets": ["visual"], "bidx": [1], "rescale": [[800, 1300]], "colormap_name": "terrain",
                "nodata": -9999, "minmax_zoom": [14, 18]},
}  # fmt: skip
SURVEY_RENDERS = {
    "browse": {"assets": ["visual"], "title": "True colour", "bands": [["red", "green", "blue"]],
               "rescale": [[400, 7500], [400, 7500], [400, 7500]]},
    "ndvi": {"assets": ["visual"], "title": "NDVI", "expression": "(b4-b1)/(b4+b1)", "rescale": [[-1, 1]],
             "colormap_name": "rdylgn"},
    "false-colour": {"assets": ["visual"], "title": "False colour", "bidx": [4, 1, 2],
                     "rescale": [[300, 4200]]},
}  # fmt: skip
LANDCOVER_RENDERS = {
    "browse": {"assets": ["visual"], "title": "Land cover",
               "colormap": {"1": [0, 92, 230, 255], "2": [38, 115, 0, 255], "3": [230, 230, 0, 255]}},
}  # fmt: skip
#: Renders that cannot be honoured, each skipped with a warning naming its item and render.
BAD_RENDERS = {
    "unknown-colormap": {"assets": ["visual"], "colormap_name": "no-such-map"},
    "bad-json": {"assets": ["visual"], "colormap": "{not json"},
    "no-such-algorithm": {"assets": ["visual"], "algorithm": "no-such-algorithm"},
    "other-asset": {"assets": ["analytic"], "bidx": [1]},
    "style-expression": {"assets": ["visual"], "expression": ["*", ["get", "b1"], 2]},
    "band-too-far": {"assets": ["visual"], "bidx": [9]},
}


def catalog_doc(url: str) -> dict[str, Any]:
    return {
        "type": "FeatureCollection",
        "features": [
            item("dsm", f"{url}/dsm.tif", "elevation", DSM_RENDERS),
            item("survey", f"{url}/survey.tif", "multispectral", SURVEY_RENDERS,
                 bands=[{"name": n, "eo:common_name": n} for n in ("red", "green", "blue", "nir")]),
            item("landcover", f"{url}/landcover.tif", "pseudocolor", LANDCOVER_RENDERS),
            item("visual", f"{url}/visual.tif", "visual", {"browse": {"assets": ["visual"], "nodata": 0}}),
            item("bad", f"{url}/visual.tif", "visual", BAD_RENDERS),
            # No hints: drawn by the product type detected from the file.
            item("plain-dsm", f"{url}/dsm.tif", None, None),
            item("plain-survey", f"{url}/survey.tif", None, None),
            item("plain-rgba", f"{url}/rgba.tif", None, None),
            item("plain-landcover", f"{url}/landcover.tif", None, None),
            item("declared-sar", f"{url}/pair.tif", "sar", None),
        ],
    }  # fmt: skip


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("renders")
    write_files(root)
    return root


@pytest.fixture(scope="module")
def server(files) -> Any:
    with FileServer(files) as server:
        yield server


@pytest.fixture(scope="module")
def catalog_path(server, files) -> Path:
    path = files / "catalog.json"
    path.write_text(json.dumps(catalog_doc(server.url.rstrip("/"))))
    return path


@pytest.fixture(scope="module")
def store(catalog_path) -> CatalogStore:
    store = CatalogStore.for_source(str(catalog_path), 0, footprints=False)
    assert store.reload()
    return store


@pytest.fixture(scope="module")
def app(store) -> Any:
    return create_app({"OAM_PREVIEW_BASEMAP_URL": ""}, catalog=store)


@pytest.fixture()
def client(app) -> Any:
    return app.test_client()


def centre_tile(z: int) -> Any:
    x, y = ORIGIN[0] + SIZE * 0.25, ORIGIN[1] - SIZE * 0.25
    lon, lat = TMS.lnglat(x, y)
    return TMS.tile(lon, lat, z)


def tile_of(client: Any, image_id: str, query: str = "", z: int = 18) -> Any:
    t = centre_tile(z)
    return client.get(f"/api/images/{image_id}/tiles/{t.z}/{t.x}/{t.y}.png{query}")


def rgba(response: Any) -> np.ndarray:
    assert response.status_code == 200, response.data[:300]
    return np.asarray(PILImage.open(io.BytesIO(response.data)).convert("RGBA"))


# -- the catalog ---------------------------------------------------------------------------


def test_an_oam_catalog_loads_with_every_render_resolved(client):
    report = client.get("/healthz").get_json()["catalog"]["renders"]
    skipped = {(s["id"], s["render"]): s["reason"] for s in report["skipped_renders"]}
    expected_resolved = 4 + 3 + 1 + 1 + 1  # dsm, survey, landcover, visual; bad's band-too-far
    if not TAKES_ALGORITHM:
        expected_resolved -= 1
        assert "does not take the rendering parameter algorithm" in skipped[("dsm", "hillshade")]
    if not TAKES_COLORMAP:
        expected_resolved -= 1
        assert "does not take the rendering parameter colormap" in skipped[("landcover", "browse")]
    good = {k: v for k, v in skipped.items() if k[0] != "bad"}
    assert len(good) == (not TAKES_ALGORITHM) + (not TAKES_COLORMAP), good
    assert report["resolved"] == expected_resolved
    # What the Feature lists: each render with its title and URLs.
    doc = client.get("/api/images/dsm").get_json()["properties"]
    names = [r["name"] for r in doc["renders"]]
    assert names[0] == "browse" and doc["default_render"] == "browse"
    assert {"viridis", "terrain"} <= set(names)
    assert ("hillshade" in names) == TAKES_ALGORITHM
    entry = next(r for r in doc["renders"] if r["name"] == "browse")
    assert entry["title"] == "Elevation" and entry["origin"] == "catalog"
    for key in ("tilejson", "tiles", "thumbnail", "wmts"):
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(entry[key]).query)
        assert query["colormap_name"] == ["terrain"] and query["rescale"] == ["800,1300"], entry[key]
        assert query["render"] == ["browse"] and query["nodata"] == ["-9999"]
    assert doc["product_type"] == "elevation" and doc["product_type_source"] == "declared"


def test_bad_renders_are_skipped_with_a_warning_and_the_image_still_serves(store, client, caplog):
    report = client.get("/healthz").get_json()["catalog"]["renders"]
    bad = {s["render"]: s["reason"] for s in report["skipped_renders"] if s["id"] == "bad"}
    assert "no-such-map" in bad["unknown-colormap"]
    assert "colormap" in bad["bad-json"]
    assert "no-such-algorithm" in bad["no-such-algorithm"] or "algorithm" in bad["no-such-algorithm"]
    assert "analytic" in bad["other-asset"]
    assert "expression" in bad["style-expression"]
    assert "band-too-far" not in bad  # the catalog cannot tell: the file can (below)
    caplog.set_level(logging.WARNING)
    store.reload()  # the same catalog again: its warnings were given once per worker
    assert tile_of(client, "bad").status_code == 200
    doc = client.get("/api/images/bad").get_json()["properties"]
    assert [r["name"] for r in doc["renders"]] == ["browse"]  # nodata 0 over the visual file
    warned = [r.getMessage() for r in caplog.records if "catalog record bad" in r.getMessage()]
    assert any("band-too-far" in m and "file cannot show it" in m for m in warned), warned
    r = tile_of(client, "bad", "?render=band-too-far")
    assert r.status_code == 400 and "browse" in r.get_json()["error"]["message"]


def test_a_warning_names_the_item_and_the_render(caplog):
    from oam_preview.tiler.renders import RenderReport

    caplog.set_level(logging.WARNING)
    hints = item_renders({"renders": BAD_RENDERS}, "visual", {})
    image = load_document(
        {"type": "FeatureCollection", "features": [item("x", "https://example.org/x.tif", None, BAD_RENDERS)]}
    ).images[0]
    assert image.renders == hints
    report = RenderReport()
    report.observe([image])
    report.observe([image])
    messages = [r.getMessage() for r in caplog.records]
    assert sum("catalog record x: render 'unknown-colormap' skipped" in m for m in messages) == 1


def test_collection_renders_named_by_an_item_apply_through_a_static_catalog(tmp_path, server):
    collection = {
        "type": "Collection", "stac_version": "1.1.0", "id": "openaerialmap", "description": "d",
        "license": "CC-BY-4.0", "extent": {}, "renders": {"browse": DSM_RENDERS["viridis"]},
        "links": [{"rel": "item", "href": "./dsm.json"}],
    }  # fmt: skip
    dsm = item("dsm", f"{server.url.rstrip('/')}/dsm.tif", None, None)
    dsm["properties"]["render:renders"] = ["browse"]
    (tmp_path / "collection.json").write_text(json.dumps(collection))
    (tmp_path / "dsm.json").write_text(json.dumps(dsm))
    from oam_preview.catalog.sources import load

    (image,) = load(str(tmp_path / "collection.json")).images
    assert [h.name for h in image.renders] == ["browse"]
    assert ("colormap_name", "viridis") in image.renders[0].params


def test_collection_renders_apply_through_stac_api_paging(server):
    from tests.support.stac_api_server import StacApiServer

    items = []
    for n in range(5):
        one = item(f"dsm-{n}", f"{server.url.rstrip('/')}/dsm.tif", None, None)
        one["properties"]["render:browse"] = "browse"
        one["links"] = [{"rel": "collection", "href": "/collections/openaerialmap"}]
        items.append(one)
    with StacApiServer(items, page_size=2) as api:
        api.documents["/collections/openaerialmap"] = json.dumps(
            {"type": "Collection", "id": "openaerialmap", "renders": {"browse": DSM_RENDERS["viridis"]}}
        ).encode()
        from oam_preview.catalog.sources import load

        images = load(f"{api.url}/search").images
        assert len(images) == 5
        assert all(("colormap_name", "viridis") in i.renders[0].params for i in images)
        assert api.hits[("GET", "/collections/openaerialmap")] == 1  # read once per load


def test_render_v2_bands_and_eo_common_names():
    asset = {
        "bands": [{"name": "b-red", "eo:common_name": "red"}, {"name": "b-nir", "eo:common_name": "nir"}]
    }
    assert band_names(asset) == ("red", "nir")
    (hint,) = item_renders(
        {"renders": {"x": {"assets": ["visual"], "bands": [["b-nir", "b-red"]]}}}, "visual", asset
    )
    assert hint.params == (("bidx", "2,1"),)
    (hint,) = item_renders({"renders": {"x": {"bands": [["green"]]}}}, "visual", asset)
    assert hint.problem is not None and "green" in hint.problem
    assert band_names({"eo:bands": [{"common_name": "Red"}, {}]}) == ("red", "")


# -- render= on every route ----------------------------------------------------------------


ROUTES = [
    "/tiles/{z}/{x}/{y}.png",
    "/thumbnail.png",
    "/tilejson.json",
    "/WMTSCapabilities.xml",
    "/point/{lon},{lat}",
    "/statistics",
]


@pytest.mark.parametrize("route", ROUTES)
def test_render_names_a_render_on_every_route_and_an_unknown_one_is_400(client, route):
    t = centre_tile(18)
    lon, lat = TMS.lnglat(ORIGIN[0] + SIZE * 0.25, ORIGIN[1] - SIZE * 0.25)
    path = "/api/images/survey" + route.format(z=t.z, x=t.x, y=t.y, lon=lon, lat=lat)
    ok = client.get(path + "?render=ndvi")
    assert ok.status_code == 200, ok.data[:300]
    bad = client.get(path + "?render=nope")
    assert bad.status_code == 400
    message = bad.get_json()["error"]["message"]
    assert "'nope'" in message and "browse" in message and "ndvi" in message and "false-colour" in message
    assert client.get(path + "?render=" + "x" * 100).status_code == 400


def test_render_ndvi_point_and_statistics_are_of_the_expression(client):
    stats = client.get("/api/images/survey/statistics?render=ndvi").get_json()
    assert list(stats) == ["id", "(b4-b1)/(b4+b1)"]
    stats = client.get("/api/images/survey/statistics").get_json()
    assert list(stats) == ["id", "b1", "b2", "b3"]  # browse: red, green, blue


def test_tilejson_of_a_render_keeps_its_zooms_and_its_urls_name_it(client):
    tj = client.get("/api/images/dsm/tilejson.json?render=terrain").get_json()
    assert tj["minzoom"] >= 14 and tj["maxzoom"] <= 18
    assert "render=terrain" in tj["tiles"][0] and "colormap_name=terrain" in tj["tiles"][0]
    plain = client.get("/api/images/dsm/tilejson.json").get_json()
    assert "render=" not in plain["tiles"][0] and "colormap_name=terrain" in plain["tiles"][0]


def test_wmts_capabilities_have_one_layer_per_render(client):
    xml = client.get("/api/images/survey/WMTSCapabilities.xml").get_data(as_text=True)
    assert xml.count("<Layer>") == 3
    for name in ("ndvi", "false-colour"):
        assert f"<ows:Identifier>survey:{name}</ows:Identifier>" in xml
        assert f"render={name}" in xml
    one = client.get("/api/images/survey/WMTSCapabilities.xml?render=ndvi").get_data(as_text=True)
    assert one.count("<Layer>") == 1


def test_an_explicit_parameter_overrides_that_field_of_the_render(client):
    browse = rgba(tile_of(client, "dsm"))
    viridis = rgba(tile_of(client, "dsm", "?render=viridis"))
    overridden = rgba(tile_of(client, "dsm", "?colormap_name=viridis"))
    assert not np.array_equal(browse, viridis)
    np.testing.assert_array_equal(overridden, viridis)  # browse's other fields are viridis's
    # bidx and expression are one field: bidx over the ndvi render shows that band.
    band = rgba(tile_of(client, "survey", "?render=ndvi&bidx=4&rescale=300,4200"))
    direct = rgba(tile_of(client, "survey", "?bidx=4&rescale=300,4200&colormap_name=rdylgn"))
    np.testing.assert_array_equal(band, direct)  # ndvi's colormap kept, its expression replaced


def test_two_renders_with_the_same_fields_share_one_cache_entry(client):
    first = tile_of(client, "dsm", "?render=browse")
    hits = client.get("/healthz").get_json()["cache"]["hits"]
    again = tile_of(client, "dsm", "?render=terrain")
    assert again.headers["ETag"] == first.headers["ETag"]
    assert client.get("/healthz").get_json()["cache"]["hits"] == hits + 1
    plain = tile_of(client, "dsm")
    assert plain.headers["ETag"] == first.headers["ETag"]


def test_a_render_changed_by_a_catalog_refresh_changes_the_urls(store, client, catalog_path, server):
    before = client.get("/api/images/dsm").get_json()["properties"]
    doc = catalog_doc(server.url.rstrip("/"))
    doc["features"][0]["properties"]["renders"]["browse"]["rescale"] = [[900, 1200]]
    original = catalog_path.read_text()
    try:
        catalog_path.write_text(json.dumps(doc))
        assert store.reload()
        after = client.get("/api/images/dsm").get_json()["properties"]
        assert after["tiles"] != before["tiles"] and "rescale=900,1200" in after["tiles"]
        assert (
            tile_of(client, "dsm").headers["ETag"]
            != tile_of(client, "dsm", "?rescale=800,1300").headers["ETag"]
        )
    finally:
        catalog_path.write_text(original)
        assert store.reload()


def test_the_mosaic_draws_each_image_with_its_own_default_render(client):
    t = centre_tile(17)
    ids = "dsm,visual"
    mosaic = rgba(client.get(f"/api/mosaic/tiles/{t.z}/{t.x}/{t.y}.png?ids={ids}&order=catalog"))
    own = rgba(client.get(f"/api/images/dsm/tiles/{t.z}/{t.x}/{t.y}.png"))
    valid = own[..., 3] == 255
    np.testing.assert_array_equal(mosaic[valid], own[valid])  # the DSM on top, as its catalog says
    # render=viridis: the DSM has it; the aerial, which has not, keeps its own.
    shaded = rgba(
        client.get(f"/api/mosaic/tiles/{t.z}/{t.x}/{t.y}.png?ids={ids}&order=catalog&render=viridis")
    )
    viridis = rgba(client.get(f"/api/images/dsm/tiles/{t.z}/{t.x}/{t.y}.png?render=viridis"))
    np.testing.assert_array_equal(shaded[valid], viridis[valid])
    under = rgba(
        client.get(f"/api/mosaic/tiles/{t.z}/{t.x}/{t.y}.png?ids=visual,dsm&order=catalog&render=viridis")
    )
    aerial = rgba(client.get(f"/api/images/visual/tiles/{t.z}/{t.x}/{t.y}.png"))
    np.testing.assert_array_equal(under, aerial)


def test_an_export_honours_render(client):
    r = client.post("/api/exports", json={"ids": ["survey"], "render": "nope", "minzoom": 16, "maxzoom": 16})
    assert r.status_code == 400 and "ndvi" in r.get_json()["error"]["message"]
    r = client.post("/api/exports", json={"ids": ["survey"], "render": 3})
    assert r.status_code == 400 and "render" in r.get_json()["error"]["message"]


# -- product types --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind"),
    [("dsm.tif", "elevation"), ("survey.tif", "multispectral"), ("landcover.tif", "pseudocolor"),
     ("visual.tif", "visual"), ("rgba.tif", "visual"), ("pair.tif", "multispectral")],
)  # fmt: skip
def test_product_types_are_detected_as_oam_s_pipeline_does(files, name, kind):
    with rasterio.open(files / name) as dataset:
        assert detect_product_type(describe(dataset, 1e9)) == kind


def test_api_images_says_the_product_type_and_where_it_came_from(client):
    props = {
        i: client.get(f"/api/images/{i}").get_json()["properties"] for i in ("plain-dsm", "declared-sar")
    }
    assert (props["plain-dsm"]["product_type"], props["plain-dsm"]["product_type_source"]) == (
        "elevation",
        "detected",
    )
    assert (props["declared-sar"]["product_type"], props["declared-sar"]["product_type_source"]) == (
        "sar",
        "declared",
    )
    names = [r["name"] for r in props["plain-dsm"]["renders"]]
    assert names[0] == "browse" and ("hillshade" in names) == TAKES_ALGORITHM
    assert all(r["origin"] == "product" for r in props["plain-dsm"]["renders"])


def test_an_elevation_without_hints_is_terrain_over_its_automatic_stretch(client, files):
    tile = rgba(tile_of(client, "plain-dsm", z=17))
    info = client.get("/api/images/plain-dsm").get_json()["properties"]
    assert "colormap_name=terrain" in info["tiles"]
    stretch = client.get(
        "/api/images/plain-dsm/tiles/{z}/{x}/{y}.png".replace(
            "{z}/{x}/{y}", "/".join(map(str, (centre_tile(17).z, centre_tile(17).x, centre_tile(17).y)))
        )
        + "?colormap_name=terrain"
    )
    np.testing.assert_array_equal(tile, rgba(stretch))
    grey = rgba(tile_of(client, "plain-dsm", "?colormap_name=viridis", z=17))
    assert not np.array_equal(tile, grey)


def test_a_multispectral_survey_is_rgb_by_common_name_as_rio_tiler_reads_the_named_bands(client, files):
    """No hints, colour interpretation all undefined, bands named in the file: red, green, blue."""
    t = centre_tile(18)
    ours = rgba(tile_of(client, "plain-survey"))
    stats = client.get("/api/images/plain-survey/statistics?bidx=1,2,3").get_json()
    with Reader(str(files / "survey.tif")) as reader:
        img = reader.tile(t.x, t.y, t.z, indexes=(1, 2, 3))
    ranges = [(stats[f"b{b}"]["percentile_2"], stats[f"b{b}"]["percentile_98"]) for b in (1, 2, 3)]
    expected = img.post_process(in_range=ranges).data_as_image()
    valid = ours[..., 3] == 255
    assert valid.mean() > 0.5
    difference = np.abs(ours[..., :3][valid].astype(int) - expected[valid].astype(int))
    assert difference.max() <= 1  # the same stretch, rounded alike or one apart
    names = [r["name"] for r in client.get("/api/images/plain-survey").get_json()["properties"]["renders"]]
    assert names == ["browse", "ndvi"]


def test_a_catalog_s_ndvi_is_the_expression_over_rio_tiler_s_bands(client, files):
    t = centre_tile(18)
    ours = rgba(tile_of(client, "survey", "?render=ndvi"))
    with Reader(str(files / "survey.tif")) as reader:
        img = reader.tile(t.x, t.y, t.z, expression="(b4-b1)/(b4+b1)")
    from rio_tiler.colormap import apply_cmap, cmap

    stretched = img.post_process(in_range=[(-1, 1)]).data.astype(np.uint8)
    colours, _ = apply_cmap(stretched, cmap.get("rdylgn"))
    expected = np.moveaxis(colours, 0, -1)
    valid = ours[..., 3] == 255
    difference = np.abs(ours[..., :3][valid].astype(int) - expected[..., :3][valid].astype(int))
    assert valid.mean() > 0.5 and difference.max() <= 8  # one colormap step


@pytest.mark.parametrize(
    ("body", "query"),
    [
        ({"render": "hillshade"}, "render=hillshade"),
        ({"algorithm": "terrainrgb"}, "algorithm=terrainrgb"),
        ({}, ""),  # the image's default render: browse
    ],
)
def test_an_mbtiles_export_of_a_render_holds_the_tile_route_s_very_bytes(catalog_path, tmp_path, body, query):
    """An export job drawn with a render (or an algorithm) stores each tile as the tile route
    serves it with the same ``render=``: the same buffered read, algorithm and PNG bytes."""
    config = {
        "OAM_PREVIEW_CATALOG": str(catalog_path),
        "OAM_PREVIEW_BASEMAP_URL": "",
        "OAM_PREVIEW_EXPORT_DIR": str(tmp_path / "exports"),
    }
    client = create_app(config).test_client()
    request = {"ids": ["dsm"], "format": "mbtiles", "minzoom": 16, "maxzoom": 17, **body}
    made = client.post("/api/exports", json=request)
    assert made.status_code == 202, made.data
    answer = finished(client, made.get_json()["url"])
    assert answer.status_code == 200, answer.data
    (tmp_path / "dsm.mbtiles").write_bytes(answer.data)
    tiles = mbtiles_tiles(tmp_path / "dsm.mbtiles")
    assert len(tiles) >= 4
    for (z, x, y), data in tiles.items():
        route = client.get(f"/api/images/dsm/tiles/{z}/{x}/{y}.png?{query}")
        assert route.status_code == 200 and route.data == data, (z, x, y)
    # Drawn as asked: a hillshade is grey, a terrain-RGB tile is not, the browse render coloured.
    pixels = np.asarray(PILImage.open(io.BytesIO(max(tiles.values(), key=len))).convert("RGBA"))
    grey = bool((pixels[..., 0] == pixels[..., 1]).all() and (pixels[..., 1] == pixels[..., 2]).all())
    assert grey == (body.get("render") == "hillshade")
