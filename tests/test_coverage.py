"""The antimeridian rule (one home, ``geo/``) and the offline jobs' one tile enumerator over it;
the request value's constructors from plain values; the runner's batches and outcome."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oam_preview.catalog.query import ImageQuery
from oam_preview.errors import BadRequest
from oam_preview.geo.geometry import bbox_geometry, bbox_intersects, crosses_antimeridian, split_antimeridian
from oam_preview.offline.coverage import TooManyTiles, covering, plan, tiles, tiles_within
from oam_preview.offline.request import ExportRequest, rendering_from_json
from oam_preview.offline.runner import Outcome, batch_size, batches
from oam_preview.tiler.rendering import Rendering

PACKAGE = Path(__file__).resolve().parents[1] / "oam_preview"
#: Fiji's islands either side of the date line, degrees.
FIJI = (177.0, -19.0, -179.0, -16.0)


def test_the_rule_has_one_home():
    rule = re.compile(r"\bw > e\b")
    homes = {p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py") if rule.search(p.read_text())}
    assert homes == {"geo/geometry.py"}


def test_a_box_across_the_antimeridian_is_two():
    assert crosses_antimeridian(FIJI) and not crosses_antimeridian((1.0, 2.0, 3.0, 4.0))
    assert split_antimeridian(FIJI) == ((177.0, -19.0, 180.0, -16.0), (-180.0, -19.0, -179.0, -16.0))
    assert split_antimeridian((1.0, 2.0, 3.0, 4.0)) == ((1.0, 2.0, 3.0, 4.0),)
    assert bbox_geometry(FIJI).area == pytest.approx(4.0 * 3.0)


#: Longitudes and latitudes that make boxes touch, cross the date line and sit on its edges.
LONGITUDES = st.sampled_from([-180.0, -179.5, -10.0, 0.0, 10.0, 179.5, 180.0])
LATITUDES = st.sampled_from([-85.0, -10.0, 0.0, 10.0, 85.0])


@st.composite
def boxes(draw: st.DrawFn) -> tuple[float, float, float, float]:
    west, east = draw(LONGITUDES), draw(LONGITUDES)
    south, north = sorted((draw(LATITUDES), draw(LATITUDES)))
    return (west, south, east if east != west else west + 0.25, north if north != south else south + 1.0)


@settings(max_examples=400, deadline=None)
@given(boxes(), boxes())
def test_two_boxes_intersect_as_their_areas_do(a, b):
    """The tile check's arithmetic says what shapely says of the two areas, edges touching included."""
    assert bbox_intersects(a, b) == bbox_geometry(a).intersects(bbox_geometry(b))


def test_the_tiles_of_a_box_across_the_antimeridian_are_on_both_edges():
    assert sorted(covering([FIJI], 2)) == [(0, 2), (3, 2)]
    assert sorted(covering([FIJI], 0)) == [(0, 0), (0, 0)]  # each side's: a tile two boxes meet twice
    # Beyond Web Mercator's latitudes: clamped, and a box entirely beyond them has no tile.
    assert list(covering([(10.0, 86.0, 11.0, 89.0)], 3)) == []
    assert list(covering([(10.0, 80.0, 11.0, 89.0)], 1)) == [(1, 0)]


def test_a_seed_within_a_box_across_the_antimeridian():
    found = list(tiles_within([(170.0, -20.0, -170.0, -10.0)], [3], FIJI))
    assert found == [(3, 7, 4), (3, 0, 4)]
    assert list(tiles_within([(10.0, 10.0, 11.0, 11.0)], [3], FIJI)) == []
    assert list(tiles_within([(10.0, 10.0, 11.0, 11.0)], [0, 1])) == [(0, 0, 0), (1, 1, 0)]


def test_a_mosaic_export_across_the_antimeridian_plans_both_sides():
    request = ExportRequest.build(mosaic={"q": "fiji"}, minzoom=4, maxzoom=4)
    layer = plan(request, {"minzoom": 0, "maxzoom": 9, "name": "mosaic"}, [FIJI, FIJI])
    assert layer.areas == split_antimeridian(FIJI)
    assert {x for _, x, _ in tiles(layer, 100)} == {15, 0}
    with pytest.raises(TooManyTiles):
        tiles(layer, 1)


def test_constructors_from_plain_values_read_as_a_query_does():
    json_doc = {"bidx": [3, 2, 1], "rescale": [[0, 200], "10,20", [0, 1]], "nodata": 0}
    query = {"bidx": ["3,2,1"], "rescale": ["0,200", "10,20", "0,1"], "nodata": ["0"]}
    assert rendering_from_json(json_doc) == Rendering.from_values(query)
    assert Rendering.from_values({"colormap_name": ["Viridis"]}).colormap_name == "viridis"
    with pytest.raises(BadRequest, match="bidx"):
        Rendering.from_values({"bidx": ["x"]})
    assert ImageQuery.from_values({"gsd_max": 1, "q": "x"}) == ImageQuery.from_args(
        {"gsd_max": "1", "q": "x"}
    )
    with pytest.raises(BadRequest, match="gsd_min"):
        ImageQuery.from_values({"gsd_min": "x"})


def test_an_export_request_keeps_its_mosaic_parsed_and_its_canonical_form():
    spelt = ExportRequest.build(mosaic={"gsd_max": 1, "order": "newest"}, rendering=rendering_from_json({}))
    again = ExportRequest.from_json({"mosaic": {"gsd_max": "1.0"}})
    assert spelt.selection == again.selection == ImageQuery(gsd_max=1.0, order="newest")
    assert (
        spelt.canonical() == again.canonical() and '"mosaic":"gsd_max=1.0&order=newest"' in spelt.canonical()
    )
    group = ExportRequest.build(["a", "b", "a"])
    assert group.ids == ("a", "b") and group.selection == ImageQuery(ids=("a", "b"), order="catalog")


def test_batches_and_outcomes():
    assert [len(b) for b in batches(range(70))] == [32, 32, 6]
    assert batch_size(10, 2) == 2 and batch_size(10_000, 2) == 32 and batch_size(0, 1) == 1
    total = Outcome(stored=2, skipped=1) + Outcome(empty=1, failed=1)
    assert (total.total, total.complete) == (5, False)
    assert Outcome(stored=3).complete
