"""Security: no client URL is fetched, a malicious catalog entry reads no local file, output is escaped.

The malicious "GeoTIFFs" are served over HTTP by a child-process file server,
as an attacker's server would serve them to a catalog that lists them. The
local "secret" is a GeoTIFF whose every pixel is 77: no response may show it.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import rasterio
from PIL import Image as PILImage
from rasterio.transform import from_origin

from oam_preview import create_app
from oam_preview.catalog import load, load_document

from .support.catalog_documents import catalog_doc
from .support.fault_server import FaultServer
from .support.fileserver import FileServer
from .support.routes import POST_ROUTES, ROUTES

SECRET_VALUE = 77


def write_gray(path: Path, size: int, value: int, overviews: bool = False) -> Path:
    """A one-band uint8 GeoTIFF of ``value`` in EPSG:3857, stripped, optionally with overviews."""
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=size,
        height=size,
        count=1,
        dtype="uint8",
        crs="EPSG:3857",
        transform=from_origin(9497000.0, 3211000.0, 0.6, 0.6),
    ) as dst:
        dst.write(np.full((1, size, size), value, np.uint8))
        if overviews:
            dst.build_overviews([2, 4])
    return path


def vrt_of(source: Path, size: int) -> str:
    """A VRT of ``size`` px whose pixels come from the local file ``source``."""
    return textwrap.dedent(f"""\
        <VRTDataset rasterXSize="{size}" rasterYSize="{size}">
          <SRS>EPSG:3857</SRS>
          <GeoTransform>9497000.0, 0.6, 0, 3211000.0, 0, -0.6</GeoTransform>
          <VRTRasterBand dataType="Byte" band="1">
            <SimpleSource>
              <SourceFilename relativeToVRT="0">{source}</SourceFilename>
              <SourceBand>1</SourceBand>
            </SimpleSource>
          </VRTRasterBand>
        </VRTDataset>
        """)


RAW_PASSWD_VRT = """<VRTDataset rasterXSize="64" rasterYSize="8">
  <VRTRasterBand dataType="Byte" band="1" subClass="VRTRawRasterBand">
    <SourceFilename relativetoVRT="0">/etc/passwd</SourceFilename>
    <ImageOffset>0</ImageOffset><PixelOffset>1</PixelOffset><LineOffset>64</LineOffset>
  </VRTRasterBand>
</VRTDataset>
"""


@pytest.fixture(scope="module")
def attack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """An attacker's server (child process) and the local secret it tries to make us read."""
    local = tmp_path_factory.mktemp("local")
    secret = write_gray(local / "secret.tif", 512, SECRET_VALUE, overviews=True)
    root = tmp_path_factory.mktemp("attacker")
    (root / "vrt_passwd.tif").write_text(RAW_PASSWD_VRT)
    (root / "vrt_local.tif").write_text(vrt_of(secret, 512))
    # A real GeoTIFF without overviews, whose .ovr "overview" is a VRT of the secret.
    write_gray(root / "ovr_vrt.tif", 1024, 5)
    (root / "ovr_vrt.tif.ovr").write_text(vrt_of(secret, 512).replace("<SRS>EPSG:3857</SRS>", ""))
    # Same with the mask sidecar.
    write_gray(root / "msk_vrt.tif", 1024, 5)
    (root / "msk_vrt.tif.msk").write_text(vrt_of(secret, 1024))
    # A PAM .aux.xml naming the secret as the overview file.
    write_gray(root / "aux_ovr.tif", 1024, 5)
    (root / "aux_ovr.tif.aux.xml").write_text(
        f'<PAMDataset><Metadata domain="OVERVIEWS"><MDI key="OVERVIEW_FILE">{secret}</MDI>'
        "</Metadata></PAMDataset>"
    )
    with FileServer(root) as server:
        yield server.url, secret


@pytest.fixture(scope="module")
def attacked(attack):
    url, _ = attack
    names = ["vrt_passwd.tif", "vrt_local.tif", "ovr_vrt.tif", "msk_vrt.tif", "aux_ovr.tif"]
    return create_app({"OAM_PREVIEW_UPSTREAM_TIMEOUT": 2}, catalog=load_document(catalog_doc(url, names)))


def pixels(response) -> np.ndarray:
    return np.asarray(PILImage.open(io.BytesIO(response.data)))


@pytest.mark.parametrize("image_id", ["vrt_passwd", "vrt_local"])
def test_a_vrt_posing_as_a_geotiff_is_a_502(attacked, image_id):
    client = attacked.test_client()
    for path in ("thumbnail.png", "tilejson.json", "WMTSCapabilities.xml", "tiles/18/191434/107712.png"):
        r = client.get(f"/api/images/{image_id}/{path}")
        assert r.status_code == 502, (path, r.status_code)
        assert r.get_json()["error"]["code"] == "upstream_error"


@pytest.mark.parametrize("image_id", ["ovr_vrt", "msk_vrt", "aux_ovr"])
@pytest.mark.parametrize("max_size", [64, 256, 600])
def test_sidecars_never_read_local_files(attacked, image_id, max_size):
    r = attacked.test_client().get(f"/api/images/{image_id}/thumbnail.png?max_size={max_size}")
    if r.status_code == 200:
        data = pixels(r)
        assert SECRET_VALUE not in np.unique(data[..., 0] if data.ndim == 3 else data)
        assert 5 in np.unique(data)  # the image's own pixels
    else:
        assert r.status_code in (422, 502)


def test_redirects_to_local_files_are_not_followed(tiff_dir):
    with FaultServer(tiff_dir, mode="redirect-file%3A%2F%2F%2Fetc%2Fpasswd") as server:
        client = create_app(catalog=load_document(catalog_doc(server.url, ["cogeo.tif"]))).test_client()
        for path in ("thumbnail.png", "tilejson.json"):
            r = client.get(f"/api/images/cogeo/{path}")
            assert r.status_code == 502 and r.get_json()["error"]["code"] == "upstream_error"


def test_a_remote_catalog_cannot_point_at_local_files(tmp_path):
    doc = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "id": fid, "geometry": None, "properties": {"source_url": href}}
            for fid, href in (
                ("abs", "/etc/passwd"),
                ("file", "file:///etc/passwd"),
                ("vsi", "/vsicurl/http://169.254.169.254/latest"),
                ("up", "../../../../etc/passwd"),
            )
        ],
    }
    (tmp_path / "catalog.json").write_text(json.dumps(doc))
    with FileServer(tmp_path) as server:
        catalog = load(server.url + "/catalog.json")
    for image in catalog.images:
        assert image.source_url.startswith(server.url + "/"), image.source_url


def test_server_process_keeps_only_safe_gdal_drivers(tiff_server):
    """What ``oam-preview serve`` does in its workers, in a fresh process."""
    code = textwrap.dedent(f"""\
        import os, warnings
        warnings.simplefilter("ignore")
        os.environ["OAM_PREVIEW_GDAL_DRIVERS"] = "GTiff COG MEM VRT"
        from oam_preview import create_app
        from oam_preview.catalog import load_document
        from oam_preview.remote.gdal_safety import registered_drivers
        from tests.support.catalog_documents import catalog_doc
        app = create_app(catalog=load_document(catalog_doc({tiff_server.url!r}, ["cogeo.tif", "sidecar.tif"])))
        c = app.test_client()
        print(sorted(registered_drivers()))
        print(c.get("/api/images/cogeo/tiles/18/224757/101422.png").status_code)
        print(c.get("/api/images/sidecar/thumbnail.png?max_size=100").status_code)
        """)
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[1],
        check=True,
    ).stdout.splitlines()
    assert out[0] == str(["COG", "GTiff", "MEM", "VRT"])
    assert out[1:] == ["200", "200"]  # tiles (warping) and sidecar overviews still work


# -- no route fetches a client-supplied URL ------------------------------------------------


@pytest.mark.parametrize("proxies", [0, 1])
def test_no_route_fetches_a_client_url_or_header(catalog, proxies, tmp_path):
    """A canary server that every route is pointed at, by query and by header, sees no request."""
    (tmp_path / "canary.tif").write_bytes(b"canary")
    with FileServer(tmp_path) as canary:
        target = f"{canary.url}/canary.tif"
        host = canary.url.removeprefix("http://")
        config = {
            "OAM_PREVIEW_TRUSTED_PROXIES": proxies,
            "OAM_PREVIEW_EXPORT_DIR": str(tmp_path / "exports"),
            "OAM_PREVIEW_EXPORT_MAX_CLIENT_JOBS": 4,
        }
        client = create_app(config, catalog=catalog).test_client()
        headers = {
            "X-Forwarded-Host": host,
            "X-Forwarded-Proto": "http",
            "X-Forwarded-Prefix": "/canary.tif?",
            "X-Original-URL": target,
            "X-Rewrite-URL": target,
            "Referer": target,
            "Origin": canary.url,
            "Forwarded": f"host={host}",
        }
        jobs = []
        for route, body in POST_ROUTES:
            # The body as it is, with a URL in every field a URL might be taken from, and a
            # mosaic whose filters name it (unknown filters are ignored: a job is made).
            bodies = (
                body,
                {**body, "url": target, "source_url": target, "catalog": target},
                {**body, "ids": [target]},
                {"mosaic": {"ids": "cogeo", "url": target, "source_url": target, "q": "cogeo"},
                 **{k: v for k, v in body.items() if k in ("minzoom", "maxzoom", "bbox")}},
            )  # fmt: skip
            for sent in bodies:
                r = client.post(route, json=sent, headers=headers)
                assert r.status_code < 500, (route, sent, r.status_code)
                if r.status_code in (200, 202):
                    jobs.append(f"api/exports/{r.get_json()['id']}")
        assert jobs  # the catalog here has no footprints: its mosaic selects nothing (404)
        for route in (*ROUTES, *(f"/{job}" for job in jobs), "/api/nothing"):
            for query in ("", f"?url={target}&source_url={target}&src={target}&catalog={target}"):
                for method in (client.get, client.head, client.options):
                    r = method(route + query, headers=headers)
                    assert r.status_code < 500, (route, r.status_code)
        client.get(f"/api/images/{target}/thumbnail.png", headers=headers)
        client.get("/api/images/http:%2F%2F" + host + "%2Fcanary.tif/thumbnail.png")
        for job in jobs:  # the jobs ran (their tiles read only the catalog's URLs)
            deadline = time.monotonic() + 120
            while client.get(f"/{job}").status_code == 202 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert client.get(f"/{job}").status_code == 200, job
        assert canary.traffic.requests == 0, canary.traffic.by_path


# -- escaping and headers ------------------------------------------------------------------

HOSTILE_TITLE = '</script><script>alert(1)</script> \u2028 "quoted" & <b>bold</b> \' \\ \x00'


def test_catalog_strings_are_safe_in_json_and_xml(tiff_server):
    doc = catalog_doc(tiff_server.url, ["cogeo.tif"])
    props = doc["features"][0]["properties"]
    props.update(title=HOSTILE_TITLE, provider=HOSTILE_TITLE, license="<x>&")
    client = create_app(catalog=load_document(doc)).test_client()
    for path in ("/api/images/cogeo", "/api/images?q=script"):
        r = client.get(path)
        assert r.headers["Content-Type"] == "application/geo+json"
        doc = json.loads(r.data)  # valid JSON, whatever the strings hold
        feature = doc if doc["type"] == "Feature" else doc["features"][0]
        assert feature["properties"]["title"] == HOSTILE_TITLE  # kept, as data
        assert feature["properties"]["license"] == "<x>&"
    assert client.get("/api/images/cogeo").get_json()["properties"]["title"] == HOSTILE_TITLE
    wmts = client.get("/api/images/cogeo/WMTSCapabilities.xml")
    ET.fromstring(wmts.data)  # well-formed: every string escaped
    tilejson = client.get("/api/images/cogeo/tilejson.json").get_json()
    assert "<x>&" in tilejson["attribution"]


def test_security_headers(client):
    page = client.get("/")
    csp = page.headers["Content-Security-Policy"]
    for directive in ("default-src 'self'", "script-src 'self'", "frame-ancestors", "base-uri 'none'"):
        assert directive in csp
    assert "unsafe-inline" not in csp.split("script-src", 1)[1].split(";")[0]
    for path in ("/", "/api/images", "/api/images/cogeo/thumbnail.png", "/api/images/nope", "/nothing"):
        r = client.get(path)
        assert r.headers["X-Content-Type-Options"] == "nosniff", path
    assert client.get("/api/images/nope").headers["Cache-Control"] == "no-store"


def test_routes_reach_every_rule(catalog):
    """The sweeps over ``ROUTES`` (here, HEAD/OPTIONS, cache headers) reach every route the app has."""
    app = create_app({}, catalog=catalog)
    adapter = app.url_map.bind("localhost")
    reached = {adapter.match(path)[0] for path in ROUTES}
    reached |= {adapter.match(path, method="POST")[0] for path, _ in POST_ROUTES}
    # A job's URL is what a POST answers: the canary sweep above visits those.
    reached.add(adapter.match("/api/exports/" + "0" * 64)[0])
    assert reached == {rule.endpoint for rule in app.url_map.iter_rules()}
