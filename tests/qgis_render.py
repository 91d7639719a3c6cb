"""Render a raster layer with QGIS, headless: run by tests/test_qgis.py with the system interpreter.

Not a test module and not imported by the tests (tests/qgis_vectortile.py reuses its ``start``
and ``render``): it needs Debian's ``python3-qgis``, which lives outside the project's
virtualenv. It reads a JSON job on stdin::

    {"extent": [xmin, ymin, xmax, ymax],   # EPSG:3857 metres
     "width": px, "height": px,
     "name": ..., "provider": "wms", "uri": ..., "png": "/path/out.png"}

and renders that one layer into the PNG with QGIS's own providers (the ``wms`` provider
parses WMTS capabilities and XYZ templates itself, not through GDAL). One layer a process:
QGIS keeps tiles in memory by URL, and our WMTS and XYZ layers share their tile URLs. It
prints one JSON line on stdout: ``name``, ``valid``, ``error`` (the provider's message
when the layer is invalid), ``render_errors`` (what the render job reported) and ``urls``
(every request QGIS made); QGIS's message log goes to stderr, one ``[tag] message`` line each.
"""

from __future__ import annotations

import json
import sys

from qgis.core import (
    QgsApplication,
    QgsCoordinateReferenceSystem,
    QgsMapLayer,
    QgsMapRendererSequentialJob,
    QgsMapSettings,
    QgsNetworkAccessManager,
    QgsNetworkRequestParameters,
    QgsRasterLayer,
    QgsRectangle,
)
from qgis.PyQt.QtCore import QSize
from qgis.PyQt.QtGui import QColor


def render(layer: QgsMapLayer, extent: list[float], width: int, height: int, png: str) -> list[str]:
    """Render ``layer`` over ``extent`` (EPSG:3857 metres) at ``width`` x ``height`` px into ``png``;
    returns the render job's errors."""
    settings = QgsMapSettings()
    settings.setLayers([layer])
    settings.setDestinationCrs(QgsCoordinateReferenceSystem("EPSG:3857"))
    settings.setExtent(QgsRectangle(*extent))
    settings.setOutputSize(QSize(width, height))
    # Transparent, so a tile QGIS failed to draw shows as alpha 0, not as a colour.
    settings.setBackgroundColor(QColor(0, 0, 0, 0))
    job = QgsMapRendererSequentialJob(settings)
    job.start()
    job.waitForFinished()
    job.renderedImage().save(png, "PNG")
    return [f"{e.layerID}: {e.message}" for e in job.errors()]


def start() -> tuple[QgsApplication, list[str]]:
    """A headless QGIS, its message log passed on to stderr, and the list it appends every URL
    it asks for to."""
    app = QgsApplication([], False)
    app.initQgis()
    # QGIS logs what it thinks of a service (capabilities warnings, tile errors) to its
    # message log, which a headless run never shows: pass it on to stderr.
    log = QgsApplication.messageLog()
    log.messageReceived.connect(lambda message, tag, level: print(f"[{tag}] {message}", file=sys.stderr))
    # Every URL QGIS asks for, from any thread (the main manager relays them all).
    urls: list[str] = []
    QgsNetworkAccessManager.instance().requestAboutToBeCreated[QgsNetworkRequestParameters].connect(
        lambda params: urls.append(params.request().url().toString())
    )
    return app, urls


def main() -> None:
    job = json.load(sys.stdin)
    app, urls = start()
    try:
        layer = QgsRasterLayer(job["uri"], job["name"], job["provider"])
        report = {"name": job["name"], "valid": layer.isValid(), "error": "", "render_errors": []}
        if layer.isValid():
            report["render_errors"] = render(layer, job["extent"], job["width"], job["height"], job["png"])
        else:
            report["error"] = layer.error().summary() or (
                layer.dataProvider().error().summary() if layer.dataProvider() else ""
            )
        app.processEvents()  # deliver the relayed request signals
        report["urls"] = urls
        print(json.dumps(report), flush=True)
    finally:
        app.exitQgis()


if __name__ == "__main__":
    main()
