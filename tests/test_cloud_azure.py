"""az:// hrefs read through GDAL's /vsiaz/ with an account-key profile and a SAS profile, against
Azurite (Azure Blob Storage's emulator, installed from npm by tests/services/package.json)."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from oam_preview import create_app
from oam_preview.catalog.sources import load_document

from .support.cloud_stores import AZURITE_ACCOUNT, AZURITE_KEY, Azurite, azurite_binary
from .support.geotiffs import write_cog
from .support.loopback import LOOPBACK_ALLOW
from .support.system import missing, need_module


@pytest.fixture(scope="module")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Any:
    need_module("azure.storage.blob")
    binary = azurite_binary()
    if binary is None:
        missing("azurite (npm ci in tests/services)")
    directory = tmp_path_factory.mktemp("azurite")
    server = Azurite(directory, binary)
    from azure.storage.blob import BlobServiceClient

    connection = (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"BlobEndpoint={server.endpoint};"
    )
    service = BlobServiceClient.from_connection_string(connection)
    cog = write_cog(directory / "a.tif", 1024, 1024).read_bytes()
    for container in ("keyed", "shared"):
        service.create_container(container)
        service.get_blob_client(container, "img/a.tif").upload_blob(cog)
    yield server
    server.close()


def container_sas(container: str) -> str:
    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    return generate_container_sas(
        AZURITE_ACCOUNT,
        container,
        account_key=AZURITE_KEY,
        permission=ContainerSasPermissions(read=True, list=True),
        expiry=datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1),
    )


def test_az_hrefs_with_an_account_key_and_with_a_sas(azurite, tmp_path):
    sas = container_sas("shared")
    (tmp_path / "sources.toml").write_text(
        f"""
[profiles.keyed]
prefixes = ["az://keyed"]
account = "{AZURITE_ACCOUNT}"
access_key = "{AZURITE_KEY}"
endpoint = "{azurite.endpoint}"

[profiles.partner-sas]
prefixes = ["az://shared/img/"]
account = "{AZURITE_ACCOUNT}"
sas = "{sas}"
endpoint = "{azurite.endpoint}"
"""
    )
    features = [
        {"type": "Feature", "id": i, "geometry": None, "properties": {"source_url": f"az://{c}/img/a.tif"}}
        for i, c in (("k", "keyed"), ("s", "shared"))
    ]
    app = create_app(
        {
            "OAM_PREVIEW_UPSTREAM_ALLOW": LOOPBACK_ALLOW,
            "OAM_PREVIEW_SOURCES": str(tmp_path / "sources.toml"),
            "OAM_PREVIEW_BASEMAP_URL": "",
        },
        catalog=load_document({"type": "FeatureCollection", "features": features}),
    )
    client = app.test_client()
    seen = []
    for image_id in ("k", "s"):
        response = client.get(f"/api/images/{image_id}/thumbnail.png")
        assert response.status_code == 200, response.data
        feature = client.get(f"/api/images/{image_id}")
        assert "?v=" in feature.json["properties"]["tiles"]  # the blob's ETag
        seen.append(feature.get_data(as_text=True))
    seen.append(client.get("/healthz").get_data(as_text=True))
    assert not any(AZURITE_KEY in text or sas in text for text in seen)
