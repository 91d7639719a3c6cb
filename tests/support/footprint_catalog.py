"""A small catalog of footprints around Kathmandu, EPSG:4326 degrees: the footprint tile tests'
(tests/test_footprint_tiles.py, test_footprint_qgis.py, browser/test_footprint_tiles_page.py)."""

from __future__ import annotations

from typing import Any

from oam_preview.catalog import Catalog, load_document


def box_feature(fid: str, bbox: tuple[float, float, float, float], **props: Any) -> dict[str, Any]:
    w, s, e, n = bbox
    return {
        "type": "Feature",
        "id": fid,
        "geometry": {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]},
        "properties": {"source_url": f"http://127.0.0.1:9/{fid}.tif", "title": f"Image {fid}", **props},
    }


#: Around Kathmandu: a satellite scene over the country, an aerial over the city, a drone
#: survey in the valley and three tiny drone flights (points below zoom ~15).
FEATURES = [
    box_feature(
        "country-sat",
        (80.0, 26.3, 88.2, 30.4),
        platform="satellite",
        gsd=10.0,
        provider="Sentinel",
        acquisition_start="2019-05-01T05:00:00Z",
        acquisition_end="2019-05-01T05:01:00Z",
    ),
    box_feature(
        "city-aircraft",
        (85.25, 27.62, 85.42, 27.76),
        platform="aircraft",
        gsd=0.3,
        provider="Survey Dept",
        acquisition_start="2021-02-02",
    ),
    box_feature(
        "valley-uav",
        (85.30, 27.68, 85.36, 27.72),
        platform="UAV",
        gsd=0.05,
        provider="Drone Team",
        acquisition_start="2023-04-01T06:00:00Z",
        acquisition_end="2023-04-01T07:00:00Z",
    ),
    *(
        box_feature(
            f"tiny-{i}",
            (85.3100 + i * 0.0001, 27.7000, 85.31005 + i * 0.0001, 27.70004),
            platform="uav",
            gsd=0.02,
            acquisition_start=f"2024-01-0{i + 1}",
        )
        for i in range(3)
    ),
]


def small_catalog() -> Catalog:
    return load_document({"type": "FeatureCollection", "features": FEATURES})
