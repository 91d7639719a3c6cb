"""Exports of private images (``POST /api/exports``): an anonymous one leaves them out (a private
id is 404, a mosaic holds public images only); a token holder's holds the private images its
token allows, is another job than the anonymous request's, and is fetched by a request allowed
them only. The jobs run in spawned processes over the test Range server's GeoTIFF."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from .support.export_jobs import mbtiles_tiles
from .support.private_access import (
    ONE_IMAGE_TOKEN,
    PARTNER_TOKEN,
    app_with_private_records,
    bearer,
    write_access_file,
)

Z, X, Y = 18, 224757, 101422  # a tile over cogeo.tif


def finished(client: Any, url: str, headers: dict[str, str], timeout: float = 120.0) -> Any:
    """The job's answer once it is no longer 202, asked with ``headers``."""
    path = url.split("localhost", 1)[1]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = client.get(path, headers=headers)
        if answer.status_code != 202:
            return answer
        time.sleep(0.2)
    raise AssertionError(f"{url} still running after {timeout} s")


def package_tile(answer: Any, tmp_path: Path, name: str) -> bytes:
    out = tmp_path / name
    out.write_bytes(answer.data)
    return mbtiles_tiles(out)[(Z, X, Y)]


def test_an_anonymous_export_leaves_private_images_out_and_a_tokens_holds_them(tiff_server, tmp_path, clock):
    access = write_access_file(tmp_path / "access.toml")
    client = app_with_private_records(
        tiff_server, access, OAM_PREVIEW_EXPORT_DIR=str(tmp_path / "exports")
    ).test_client()
    one_tile = {"minzoom": Z, "maxzoom": Z, "bbox": [128.6575, 37.6685, 128.6580, 37.6688]}
    # Anonymous: a private id is 404 as an unknown one; a token out of scope, 403.
    for image_id in ("secret", "embargoed"):
        refused = client.post("/api/exports", json={"ids": [image_id], **one_tile})
        assert refused.status_code == 404 and refused.json["error"]["code"] == "not_found"
    assert (
        client.post("/api/exports", json={"ids": ["secret"]}, headers=bearer(ONE_IMAGE_TOKEN)).status_code
        == 403
    )

    # The token in scope: its export of the private image is made, and is its own to fetch.
    made = client.post("/api/exports", json={"ids": ["secret"], **one_tile}, headers=bearer(PARTNER_TOKEN))
    assert made.status_code == 202, made.data
    url = made.json["url"]
    answer = finished(client, url, bearer(PARTNER_TOKEN))
    assert answer.status_code == 200, answer.data
    assert answer.headers["Cache-Control"].startswith("private")
    route = client.get(f"/api/images/secret/tiles/{Z}/{X}/{Y}.png", headers=bearer(PARTNER_TOKEN))
    assert package_tile(answer, tmp_path, "secret.mbtiles") == route.data
    path = url.split("localhost", 1)[1]
    for headers in ({}, bearer(ONE_IMAGE_TOKEN)):  # anonymous, another token's scope: as no job
        other = client.get(path, headers=headers)
        assert other.status_code == 404 and other.json["error"]["code"] == "not_found"
    assert client.get(path, headers=bearer("nope")).status_code == 403

    # One mosaic request: the anonymous job holds the public images, the token's another job.
    mosaic = {"mosaic": {}, **one_tile}
    anonymous = client.post("/api/exports", json=mosaic)
    partner = client.post(  # from another address: one job at a time per client
        "/api/exports", json=mosaic, headers=bearer(PARTNER_TOKEN), environ_base={"REMOTE_ADDR": "192.0.2.7"}
    )
    assert anonymous.status_code == 202 and partner.status_code == 202, (anonymous.data, partner.data)
    assert anonymous.json["id"] != partner.json["id"]
    public_package = finished(client, anonymous.json["url"], {})
    partner_package = finished(client, partner.json["url"], bearer(PARTNER_TOKEN))
    assert public_package.status_code == 200 and partner_package.status_code == 200
    public_tile = client.get(f"/api/mosaic/tiles/{Z}/{X}/{Y}.png")
    partner_tile = client.get(f"/api/mosaic/tiles/{Z}/{X}/{Y}.png", headers=bearer(PARTNER_TOKEN))
    assert public_tile.headers["X-Mosaic-Images"] == "open"
    assert partner_tile.headers["X-Mosaic-Images"] == "secret"
    assert package_tile(public_package, tmp_path, "public.mbtiles") == public_tile.data
    assert package_tile(partner_package, tmp_path, "partner.mbtiles") == partner_tile.data
    assert client.get(partner.json["url"].split("localhost", 1)[1]).status_code == 404
