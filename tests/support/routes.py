"""A URL of every route, for the tests that sweep them all (properties, security, versions)."""

from __future__ import annotations

#: A URL of every route rule, with an image that exists, for the tests that sweep them all
#: (``test_routes_reach_every_rule`` checks that none is missing).
ROUTES = (
    "/",
    "/report",
    "/healthz",
    "/api/images",
    "/api/images/cogeo",
    "/api/images/cogeo/thumbnail.png",
    "/api/images/cogeo/tiles/18/224757/101422.png",
    "/api/images/cogeo/tilejson.json",
    "/api/images/cogeo/WMTSCapabilities.xml",
    "/api/images/cogeo/point/128.658,37.6685",
    "/api/images/cogeo/statistics",
    "/api/images/cogeo/report",
    "/api/colormaps",
    "/api/colormaps/viridis",
    "/api/mosaic/tiles/18/224757/101422.png?ids=cogeo",
    "/api/mosaic/tilejson.json",
    "/api/mosaic/WMTSCapabilities.xml",
    "/metrics",
    "/api/mosaic/point/128.658,37.6685",
    "/api/footprints/0/0/0.mvt",
    "/api/footprints/tilejson.json",
    "/api/imagery/index.geojson",
    "/api/imagery/josm.xml",
    "/api/images.atom",
    "/api/images/feed.geojson",
    "/vendor/leaflet/leaflet.js",
    "/static/app.js",
)

#: Every POST route with a body it accepts (it makes a job, of one small tile range); the job's
#: URL it answers (``Location``) is then swept as the GET routes are.
POST_ROUTES = (
    ("/api/exports", {"ids": ["cogeo"], "format": "mbtiles", "minzoom": 18, "maxzoom": 18,
                      "bbox": [128.6585, 37.6683, 128.6587, 37.6685]}),
)  # fmt: skip
