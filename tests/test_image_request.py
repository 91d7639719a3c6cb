"""An image request resolved once (issue 31, item 3): each image route checks its file's version
once, with the request's ``v``, and every read it makes is of that version.

The real Opener over the project's Range file server, its version checks counted (each may send
a HEAD upstream: the first use of a file, and each recheck when due).
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from oam_preview.catalog import Catalog
from oam_preview.catalog.store import CatalogStore
from oam_preview.config import Settings
from oam_preview.remote.freshness import Version
from oam_preview.remote.opener import Opener
from oam_preview.tiler.imagery import Imagery
from oam_preview.web.blueprint import create_blueprint
from oam_preview.web.services import Services

from .support.loopback import LOOPBACK_ALLOW

#: Every route of one image that reads its file, as ``ROUTES`` names them (``cogeo``: a COG).
IMAGE_ROUTES = (
    "/api/images/cogeo",
    "/api/images/cogeo/thumbnail.png",
    "/api/images/cogeo/tiles/18/224757/101422.png",
    "/api/images/cogeo/tilejson.json",
    "/api/images/cogeo/WMTSCapabilities.xml",
    "/api/images/cogeo/point/128.658,37.6685",
    "/api/images/cogeo/statistics",
)


class CountingOpener(Opener):
    """The real Opener; each version check it is asked for is noted (the file's URL, the ``v``)."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.checks: list[tuple[str, str | None]] = []

    def checked(self, url: str, hint: str | None = None, reading: bool = False) -> Version:
        self.checks.append((url, hint))
        return super().checked(url, hint, reading)


@pytest.fixture()
def counted(catalog: Catalog) -> tuple[Any, CountingOpener]:
    """A client of an app whose Opener counts its version checks (a recheck always due: each
    check is a HEAD, so a second check in one request could see another version)."""
    settings = Settings(upstream_allow=LOOPBACK_ALLOW, basemap_url="", upstream_recheck=1e-9)
    opener = CountingOpener(settings)
    services = Services.build(settings, CatalogStore.fixed(catalog), opener=opener)
    app = Flask(__name__)
    app.register_blueprint(create_blueprint(services=services))
    return app.test_client(), opener


@pytest.mark.parametrize("path", IMAGE_ROUTES)
@pytest.mark.parametrize("cold", [True, False], ids=["first use", "known file"])
def test_an_image_request_checks_its_file_once_with_its_v(counted, path, cold):
    client, opener = counted
    token = client.get("/api/images/cogeo").get_json()["properties"]["tiles"].rsplit("v=", 1)[1]
    if not cold:
        assert client.get(path).status_code == 200  # the file described, the answer cached
    opener.checks.clear()
    r = client.get(f"{path}{'&' if '?' in path else '?'}v={token}")
    assert r.status_code == 200, r.get_data(as_text=True)
    url = opener.checks[0][0] if opener.checks else None
    assert url is not None and url.endswith("/cogeo.tif")
    assert opener.checks == [(url, token)]


@pytest.mark.parametrize(
    "path",
    ["/api/mosaic/tiles/18/224757/101422.png?ids=cogeo", "/api/mosaic/point/128.658,37.6685?ids=cogeo"],
)
def test_a_mosaic_checks_each_image_it_reads_once(counted, path):
    client, opener = counted
    r = client.get(path)
    assert r.status_code == 200, r.get_data(as_text=True)
    assert len(opener.checks) == 1 and opener.checks[0][0].endswith("/cogeo.tif")


def test_imagery_reads_the_version_it_is_given(catalog: Catalog, tiff_server) -> None:
    """What a worker keeps of a file is keyed by the Version a read is given, not by what the
    Opener knows when the read happens: the same version is not described again (nor checked
    upstream), another is (from the pool's dataset: no upstream request either)."""
    settings = Settings(upstream_allow=LOOPBACK_ALLOW)
    opener = CountingOpener(settings)
    imagery = Imagery(opener, settings)
    image = catalog.require("cogeo")
    version = imagery.current_version(image)
    info = imagery.info(image, version=version)
    tiff_server.traffic.reset()
    assert imagery.tiled_info(image, version=version) == info
    assert tiff_server.traffic.requests == 0 and len(opener.checks) == 1  # tiled_info asks nothing
    assert imagery.info(image, version=version) is info  # kept for that version
    later = Version(version.generation + 1, "another")
    described = imagery.info(image, version=later)
    assert described is not info and described.bounds == info.bounds  # another: described anew
