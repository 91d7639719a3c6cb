"""collar=: collars made transparent as GDAL's ``nearblack`` finds them, tile by tile.

The reference is Debian's ``nearblack`` itself (gdal-bin) run on the whole file:
first on random grids (the whole-image scan, ``-nb 0``, must be nearblack's to
the pixel), then on a JPEG-compressed collared scan served over the Range file
server, whose tiles, stitched, must agree with ``nearblack``'s mask at defaults
(``-near 15 -nb 2``) on at least 99 % of the pixels away from a 2 px band around
its edge, keep the scene's own near-black patches, and agree with each other
where they meet.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from PIL import Image as PILImage
from rasterio.errors import NotGeoreferencedWarning

from oam_preview import create_app
from oam_preview.catalog import load_document
from oam_preview.geo.tiles import TMS
from oam_preview.tiler.collar import Collar, edge_connected
from oam_preview.tiler.rendering import Rendering
from tests.support.fileserver import FileServer

from .support import collared

NEARBLACK = shutil.which("nearblack")
needs_nearblack = pytest.mark.skipif(
    NEARBLACK is None, reason="nearblack (Debian's gdal-bin) is not installed"
)


def nearblack_mask(path: Path, out: Path, *args: str) -> np.ndarray:
    """Where ``nearblack`` (with ``args``) makes ``path`` transparent: its alpha 0."""
    subprocess.run([NEARBLACK, "-q", "-setalpha", *args, "-o", str(out), str(path)], check=True)
    with rasterio.open(out) as ds:
        return np.asarray(ds.read(ds.count) == 0)


@needs_nearblack
def test_the_whole_image_scan_is_nearblacks_to_the_pixel(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    for trial in range(12):
        rows, cols = rng.integers(20, 60, size=2)
        near = rng.random((rows, cols)) < rng.uniform(0.3, 0.85)
        data = np.where(near, rng.integers(0, 16, (3, rows, cols)), rng.integers(40, 256, (3, rows, cols)))
        path = tmp_path / f"grid{trial}.tif"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(
                path, "w", driver="GTiff", width=cols, height=rows, count=3, dtype="uint8"
            ) as ds:
                ds.write(data.astype(np.uint8))
            expected = nearblack_mask(path, tmp_path / f"out{trial}.tif", "-nb", "0")
        found = edge_connected(Collar("black").near(data.astype(np.uint8), np.full((rows, cols), 255)))
        assert (found == expected).all(), f"trial {trial}: {(found != expected).sum()} pixels differ"


def test_collar_parameters_are_parsed_and_canonical() -> None:
    class Args(dict[str, list[str]]):
        def getlist(self, key: str) -> list[str]:
            return self.get(key, [])

    assert Rendering.from_args(Args(collar=["Black"])).to_args() == [("collar", "black")]
    both = Rendering.from_args(Args(collar=["both"], collar_tolerance=["30"]))
    assert both.to_args() == [("collar", "both"), ("collar_tolerance", "30")]
    assert Rendering.from_args(Args(collar=["white"], collar_tolerance=["15"])).key() == "collar=white"


@pytest.fixture(scope="module")
def scan(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Any]]:
    """The collared scan, served over HTTP, and a test client of an app whose catalog holds it."""
    root = tmp_path_factory.mktemp("collared")
    path = collared.write_collared(root / "scan.tif")
    under = collared.write_under(root / "under.tif")
    utm = collared.write_utm(path, root / "utm.tif")
    with FileServer(root) as server:
        doc = {"type": "FeatureCollection", "features": [{
            "type": "Feature", "id": name, "geometry": collared.footprint(file),
            "properties": {"title": name, "source_url": f"{server.url}/{file.name}"},
        } for name, file in (("scan", path), ("under", under), ("utm", utm))]}  # fmt: skip
        app = create_app({"OAM_PREVIEW_BASEMAP_URL": ""}, catalog=load_document(doc))
        yield path, app.test_client()


def stitched_alpha(client: Any, query: str, size: int = 256, image: str = "scan") -> np.ndarray:
    """The alpha of every tile of ``image`` over the scan at its zoom (``size`` 512: the @2x tiles
    of the zoom above, the same pixel grid), side by side."""
    zoom = collared.ZOOM if size == 256 else collared.ZOOM - 1
    x0, y0 = (
        collared.ORIGIN_TILE if size == 256 else (collared.ORIGIN_TILE[0] // 2, collared.ORIGIN_TILE[1] // 2)
    )
    across, down = collared.TILES if size == 256 else (collared.TILES[0] // 2, collared.TILES[1] // 2)
    suffix = "" if size == 256 else "@2x"
    rows = []
    for y in range(y0, y0 + down):
        row = []
        for x in range(x0, x0 + across):
            response = client.get(f"/api/images/{image}/tiles/{zoom}/{x}/{y}{suffix}.png?{query}")
            assert response.status_code == 200, response.get_json()
            rgba = np.asarray(PILImage.open(io.BytesIO(response.data)).convert("RGBA"))
            row.append(rgba[..., 3])
        rows.append(np.hstack(row))
    return np.vstack(rows)


def away_from_edge(mask: np.ndarray, band: int = 2) -> np.ndarray:
    """Where ``mask`` has the same value for ``band`` px all around (off its edge's band)."""
    padded = np.pad(mask, band, mode="edge")
    rows, cols = mask.shape
    same = np.ones(mask.shape, dtype=bool)
    for dy in range(2 * band + 1):
        for dx in range(2 * band + 1):
            same &= padded[dy : dy + rows, dx : dx + cols] == mask
    return same


@needs_nearblack
def test_tiles_agree_with_nearblack_on_a_jpeg_scan_and_keep_its_darks(
    scan: tuple[Path, Any], tmp_path: Path
) -> None:
    path, client = scan
    expected = nearblack_mask(path, tmp_path / "nearblack.tif")  # -near 15 -nb 2, its defaults
    found = stitched_alpha(client, "collar=black") == 0
    assert found.shape == expected.shape
    judged = away_from_edge(expected)
    agreement = float((found == expected)[judged].mean())
    print(f"agreement with nearblack: {agreement:.5f}")
    assert agreement >= 0.99, agreement
    # nodata=0 is what the page sent before: the noisy collar stays (the test can fail).
    plain = stitched_alpha(client, "nodata=0") == 0
    assert float((plain == expected)[judged].mean()) < 0.9
    # The scene's own near-black patches are no collar: opaque, as nearblack leaves them.
    rows, cols = expected.shape
    r, c = np.mgrid[0:rows, 0:cols]
    for row, col, radius in collared.DARK_PATCHES:
        inside = (r - row) ** 2 + (c - col) ** 2 <= (radius - 3) ** 2
        assert not expected[inside].any()
        assert not found[inside].any(), f"the patch at {row},{col} was made transparent"


@pytest.mark.parametrize("image", ["scan", "utm"])
def test_adjacent_tiles_agree_where_they_meet(scan: tuple[Path, Any], image: str) -> None:
    """In the file's own grid and warped from UTM: each pixel near a seam is decided alike by the
    tiles on either side of it and by a larger tile across it."""
    _, client = scan
    small = stitched_alpha(client, "collar=black", image=image)
    large = stitched_alpha(client, "collar=black", size=512, image=image)  # across four small tiles' seams
    seams = np.zeros(small.shape, dtype=bool)
    seams[255::256, :] = seams[256::256, :] = True
    seams[:, 255::256] = seams[:, 256::256] = True
    assert (small == 0).any() and (small == 255).any()
    assert ((small == 0) == (large == 0))[seams].all()


def test_collar_is_in_the_thumbnail_and_the_cache_key(scan: tuple[Path, Any]) -> None:
    _, client = scan
    plain = client.get("/api/images/scan/thumbnail.png?max_size=256")
    decollared = client.get("/api/images/scan/thumbnail.png?max_size=256&collar=black")
    assert decollared.status_code == 200
    assert plain.headers["ETag"] != decollared.headers["ETag"]
    alpha = np.asarray(PILImage.open(io.BytesIO(decollared.data)).convert("RGBA"))[..., 3]
    corners = alpha[:5, :5], alpha[-5:, -5:], alpha[:5, -5:], alpha[-5:, :5]
    assert all((corner == 0).all() for corner in corners)
    assert alpha[alpha.shape[0] // 2, alpha.shape[1] // 2] == 255


def test_bad_collar_values_are_400s(scan: tuple[Path, Any]) -> None:
    _, client = scan
    for query in ("collar=grey", "collar_tolerance=10", "collar=black&collar_tolerance=300",
                  "collar=black&collar_tolerance=-1"):  # fmt: skip
        response = client.get(f"/api/images/scan/tiles/16/30360/31216.png?{query}")
        assert response.status_code == 400, query
        assert response.get_json()["error"]["code"] == "bad_request"


def test_the_mosaic_shows_the_next_image_through_a_jpeg_collar(scan: tuple[Path, Any]) -> None:
    _, client = scan
    x, y = collared.ORIGIN_TILE  # the scan's north-west corner: collar
    url = f"/api/mosaic/tiles/{collared.ZOOM}/{x}/{y}.png?ids=scan,under&order=catalog"

    def red_share(query: str) -> float:
        response = client.get(f"{url}&{query}")
        assert response.status_code == 200, response.get_json()
        corner = np.asarray(PILImage.open(io.BytesIO(response.data)).convert("RGB"))[:40, :40].astype(int)
        return float(((corner[..., 0] > 150) & (corner[..., 1] < 90)).mean())

    assert red_share("nodata=0") < 0.1  # the scan's noisy black collar hides the image under it
    assert red_share("collar=black") == 1.0


def test_exports_take_the_collar_and_ask_it_of_the_tile_routes() -> None:
    from oam_preview.errors import BadRequest
    from oam_preview.offline.request import ExportRequest

    request = ExportRequest.from_json({"ids": ["scan"], "collar": "black", "collar_tolerance": 20})
    assert request.rendering.to_args() == [("collar", "black"), ("collar_tolerance", "20")]
    assert request.asked.params == (("collar", "black"), ("collar_tolerance", "20"))  # each tile's look
    with pytest.raises(BadRequest, match="collar_tolerance"):
        ExportRequest.from_json({"ids": ["scan"], "collar": "black", "collar_tolerance": True})


@pytest.mark.parametrize("image", ["no_georef", "landsat_stripped", "gcps", "alpha_nodata", "cogeo"])
def test_every_kind_of_file_takes_a_collar(client: Any, image: str) -> None:
    """No georeference, no overviews (a decimated read), GCPs, alpha: a thumbnail, and a tile where
    the file has tiles, never a 500."""
    response = client.get(f"/api/images/{image}/thumbnail.png?max_size=128&collar=both&collar_tolerance=30")
    assert response.status_code == 200, response.get_json()
    tilejson = client.get(f"/api/images/{image}/tilejson.json?collar=black").get_json()
    if "tiles" not in tilejson:
        return
    assert "collar=black" in tilejson["tiles"][0]
    west, south, east, north = tilejson["bounds"]
    tile = TMS.tile((west + east) / 2, (south + north) / 2, tilejson["maxzoom"])
    url = "/api/images/" + tilejson["tiles"][0].split("/api/images/", 1)[1]
    response = client.get(url.format(z=tile.z, x=tile.x, y=tile.y))
    assert response.status_code == 200, (url, response.get_json())
