"""Render a vector tile layer with QGIS, headless: run by tests/test_footprint_qgis.py with the
system interpreter (Debian's ``python3-qgis`` is outside the virtualenv), like tests/qgis_render.py.

Reads a JSON job on stdin::

    {"uri": "type=xyz&url=...&zmin=0&zmax=18",   # the ``vectortile`` provider's URI
     "extent": [xmin, ymin, xmax, ymax],          # EPSG:3857 metres
     "width": px, "height": px, "png": "/path/out.png"}

draws every polygon of the layer filled opaque red and every point as a red dot (QGIS's basic
vector tile renderer, so the test can find them by colour) on a transparent background, and
prints one JSON line: ``valid``, ``error``, ``source_zooms``, ``render_errors`` and ``urls``
(every request QGIS made). QGIS's message log goes to stderr, one ``[tag] message`` line each.
"""

from __future__ import annotations

import json
import sys

from qgis.core import QgsVectorTileBasicRenderer, QgsVectorTileLayer
from qgis.PyQt.QtGui import QColor
from qgis_render import render, start  # beside this script: its directory is on sys.path

RED = QColor(255, 0, 0, 255)


def main() -> None:
    job = json.load(sys.stdin)
    app, urls = start()
    try:
        layer = QgsVectorTileLayer(job["uri"], "footprints")
        report = {"valid": layer.isValid(), "error": "", "render_errors": [], "source_zooms": []}
        if layer.isValid():
            report["source_zooms"] = [layer.sourceMinZoom(), layer.sourceMaxZoom()]
            renderer = QgsVectorTileBasicRenderer()
            # Polygons, lines and points all red: fill and outline one colour, 2 mm dots.
            renderer.setStyles(QgsVectorTileBasicRenderer.simpleStyle(RED, RED, 0.1, RED, 0.1, RED, RED, 2.0))
            layer.setRenderer(renderer)
            report["render_errors"] = render(layer, job["extent"], job["width"], job["height"], job["png"])
        else:
            report["error"] = layer.error().summary()
        app.processEvents()  # deliver the relayed request signals
        report["urls"] = urls
        print(json.dumps(report), flush=True)
    finally:
        app.exitQgis()


if __name__ == "__main__":
    main()
