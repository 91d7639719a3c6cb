"""QGIS 3.22 as a client of the footprint tiles: its ``vectortile`` provider reads our XYZ template.

``tests/qgis_vectortile.py`` runs in the system interpreter (Debian's python3-qgis), headless,
against a live server of the small Kathmandu catalog; QGIS paints every feature red, and the
red pixels are compared here with where the selected footprints are. Without QGIS the tests
skip, except in CI (``CI=true``), where they fail (the ``qgis_python`` fixture).
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image as PILImage

from oam_preview.geo.tiles import TMS

from .support.apps import app_over, served
from .support.footprint_catalog import FEATURES, small_catalog
from .support.qgis import VECTORTILE_SCRIPT as SCRIPT
from .support.qgis import qgis_render

#: The view QGIS renders: the city aerial's bbox and a margin, EPSG:3857 metres; about zoom 12.
VIEW = (*TMS.xy(85.22, 27.60), *TMS.xy(85.45, 27.78))
WIDTH = 640


@pytest.fixture(scope="module")
def live_footprints() -> Any:
    with served(app_over(small_catalog())) as url:
        yield url


def render(python: str, base: str, query: str, tmp: Path) -> tuple[dict[str, Any], np.ndarray]:
    """QGIS's report and its rendered RGBA pixels of the footprint layer of ``query`` over VIEW."""
    with urllib.request.urlopen(f"{base}/api/footprints/tilejson.json?{query}") as response:
        tj = json.load(response)
    uri = urllib.parse.urlencode(
        {"type": "xyz", "url": tj["tiles"][0], "zmin": tj["minzoom"], "zmax": tj["maxzoom"]}
    )
    height = round(WIDTH * (VIEW[3] - VIEW[1]) / (VIEW[2] - VIEW[0]))
    job = {"uri": uri, "extent": VIEW, "width": WIDTH, "height": height, "png": str(tmp / "out.png")}
    report = qgis_render(python, job, tmp, SCRIPT)
    log = "\n".join(report["log"])[-2000:]
    assert report["valid"], f"QGIS found the layer invalid: {report['error']}\n{log}"
    assert report["render_errors"] == [], log
    return report, np.asarray(PILImage.open(tmp / "out.png").convert("RGBA"))


def pixel_box(fid: str, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """(col0, row0, col1, row1) of feature ``fid``'s bbox in the rendered image, exclusive end."""
    ring = next(f for f in FEATURES if f["id"] == fid)["geometry"]["coordinates"][0]
    (w, s), (e, n) = TMS.xy(ring[0][0], ring[0][1]), TMS.xy(ring[2][0], ring[2][1])
    height, width = shape[:2]
    sx, sy = width / (VIEW[2] - VIEW[0]), height / (VIEW[3] - VIEW[1])
    return (
        round((w - VIEW[0]) * sx),
        round((VIEW[3] - n) * sy),
        round((e - VIEW[0]) * sx),
        round((VIEW[3] - s) * sy),
    )


def red(rgba: np.ndarray) -> np.ndarray:
    return (rgba[..., 3] > 0) & (rgba[..., 0] > 200) & (rgba[..., 1] < 60) & (rgba[..., 2] < 60)


@pytest.mark.parametrize(
    ("query", "fid"), [("ids=valley-uav", "valley-uav"), ("platform=aircraft", "city-aircraft")]
)
def test_qgis_draws_the_selected_footprint_where_it_is(qgis_python, live_footprints, tmp_path, query, fid):
    report, rgba = render(qgis_python, live_footprints, query, tmp_path)
    tiles = [u for u in report["urls"] if "/api/footprints/" in u and ".mvt" in u]
    assert tiles and all(query in u for u in tiles), report["urls"]
    zooms = {u.split("/api/footprints/")[1].split("/")[0] for u in tiles}
    assert zooms <= {"11", "12", "13"}, zooms  # the view's zoom, not a world tile overzoomed
    painted = red(rgba)
    rows, cols = np.nonzero(painted)
    assert rows.size, "QGIS drew no feature"
    c0, r0, c1, r1 = pixel_box(fid, rgba.shape)
    # Only the selected footprint (the country scene covers the whole view, filtered out), in
    # place to 2 px (the outline's width and MVT's 4096-unit grid).
    assert abs(cols.min() - c0) <= 2 and abs(cols.max() + 1 - c1) <= 2, (cols.min(), cols.max(), c0, c1)
    assert abs(rows.min() - r0) <= 2 and abs(rows.max() + 1 - r1) <= 2, (rows.min(), rows.max(), r0, r1)
    assert painted[r0 + 3 : r1 - 3, c0 + 3 : c1 - 3].all()  # filled inside


def test_qgis_draws_the_whole_catalog_over_the_view(qgis_python, live_footprints, tmp_path):
    _, rgba = render(qgis_python, live_footprints, "", tmp_path)
    assert red(rgba).mean() > 0.99  # the country scene covers it
