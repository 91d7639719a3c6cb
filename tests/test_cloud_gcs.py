"""gs:// hrefs read through GDAL's /vsigs/ with an anonymous profile on a custom endpoint, against
gcp-storage-emulator (PyPI) on loopback. A service-account profile is not tested: the emulator
has no OAuth token endpoint for GDAL to exchange the account's key at."""

from __future__ import annotations

import urllib.request
from typing import Any

import pytest

from oam_preview import create_app
from oam_preview.catalog.sources import load_document

from .support.geotiffs import write_cog
from .support.loopback import LOOPBACK_ALLOW
from .support.processes import free_port
from .support.system import need_module


@pytest.fixture(scope="module")
def gcs(tmp_path_factory: pytest.TempPathFactory) -> Any:
    need_module("gcp_storage_emulator")
    from gcp_storage_emulator.server import create_server

    port = free_port()
    server = create_server("127.0.0.1", port, in_memory=True, default_bucket="open-imagery")
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    cog = write_cog(tmp_path_factory.mktemp("gcs") / "a.tif", 1024, 1024).read_bytes()
    upload = f"{endpoint}/upload/storage/v1/b/open-imagery/o?uploadType=media&name=img/a.tif"
    request = urllib.request.Request(upload, data=cog, method="POST", headers={"Content-Type": "image/tiff"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
    yield endpoint
    server.stop()


def test_gs_hrefs_through_an_anonymous_profile_on_a_custom_endpoint(gcs, tmp_path):
    (tmp_path / "sources.toml").write_text(
        f'[profiles.open-gcs]\nprefixes = ["gs://open-imagery/img/"]\nanonymous = true\nendpoint = "{gcs}"\n'
    )
    feature = {
        "type": "Feature",
        "id": "g",
        "geometry": None,
        "properties": {"source_url": "gs://open-imagery/img/a.tif"},
    }
    catalog = load_document({"type": "FeatureCollection", "features": [feature]})
    settings = {
        "OAM_PREVIEW_UPSTREAM_ALLOW": LOOPBACK_ALLOW,
        "OAM_PREVIEW_SOURCES": str(tmp_path / "sources.toml"),
        "OAM_PREVIEW_BASEMAP_URL": "",
    }
    client = create_app(settings, catalog=catalog).test_client()
    response = client.get("/api/images/g/thumbnail.png")
    assert response.status_code == 200, response.data
    assert "?v=" in client.get("/api/images/g").json["properties"]["tiles"]  # from the object's length
    # The same endpoint refused by the policy when not allowed: nothing is sent.
    refused = create_app({**settings, "OAM_PREVIEW_UPSTREAM_ALLOW": ""}, catalog=catalog).test_client()
    assert refused.get("/api/images/g/thumbnail.png").status_code == 403
