"""CPU per tile with and without ``collar=black``: the collared JPEG scan of the tests, in-process.

    .venv/bin/python -m benchmarks.collar [--rounds N] [--utm]

Writes the scan of ``tests/support/collared.py`` (2560 x 2048 px, JPEG, overviews),
serves it from the Range-capable :class:`~tests.support.fileserver.FileServer` and
renders its 80 native-zoom tiles (z16) and the 20 of z15 through
:meth:`Imagery.tile` (no response cache), each round alternating which rendering
goes first, after one warm-up round (datasets open, blocks in GDAL's cache, the
collar grid found). Prints the CPU milliseconds per tile (this process's
``time.process_time``: the reads' GDAL threads included) of each rendering, for
the tiles the collar's edge crosses and for the others,
and the one-off cost of finding an image's collar grid. ``--utm``: the scan warped
to UTM 28N first (``gdalwarp``, Debian's gdal-bin), as most uploads are, so every
tile read is a warped one.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

from oam_preview import create_app
from oam_preview.catalog import load_document
from oam_preview.geo.tiles import TMS, xy_bounds
from oam_preview.tiler.collar import CollarGrid, tile_zones
from oam_preview.tiler.rendering import Rendering
from tests.support import collared
from tests.support.fileserver import FileServer


class _Args(dict[str, list[str]]):
    def getlist(self, key: str) -> list[str]:
        return self.get(key, [])


def tiles() -> list[tuple[int, int, int]]:
    """The scan's tiles at its native zoom and the one above."""
    x0, y0 = collared.ORIGIN_TILE
    across, down = collared.TILES
    native = [(collared.ZOOM, x, y) for y in range(y0, y0 + down) for x in range(x0, x0 + across)]
    above = [
        (collared.ZOOM - 1, x, y)
        for y in range(y0 // 2, (y0 + down) // 2)
        for x in range(x0 // 2, (x0 + across) // 2)
    ]
    return native + above


def _crossed(grid: CollarGrid, z: int, x: int, y: int) -> bool:
    """Whether the collar's edge crosses tile ``z/x/y`` (its read then has a buffer)."""
    return tile_zones(grid, xy_bounds(z, x, y), TMS.rasterio_crs, 256)[1] > 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--utm", action="store_true", help="the scan warped to EPSG:32628 first")
    options = parser.parse_args()
    renderings = {"plain": Rendering(), "collar=black": Rendering.from_args(_Args(collar=["black"]))}
    with tempfile.TemporaryDirectory() as root:
        path = collared.write_collared(Path(root) / "scan.tif")
        if options.utm:
            warped = Path(root) / "utm.tif"
            subprocess.run(
                ["gdalwarp", "-q", "-t_srs", "EPSG:32628", "-co", "TILED=YES", "-co", "COMPRESS=JPEG",
                 "-co", "PHOTOMETRIC=YCBCR", str(path), str(warped)], check=True,
            )  # fmt: skip
            subprocess.run(["gdaladdo", "-q", "-r", "average", str(warped), "2", "4", "8"], check=True)
            path.unlink()
            path = warped.rename(path)
        with FileServer(Path(root)) as server:
            doc = {"type": "FeatureCollection", "features": [{
                "type": "Feature", "id": "scan", "geometry": collared.footprint(path),
                "properties": {"title": "scan", "source_url": f"{server.url}/scan.tif"},
            }]}  # fmt: skip
            host = server.url.split("//", 1)[1]
            settings = {"OAM_PREVIEW_BASEMAP_URL": "", "OAM_PREVIEW_UPSTREAM_ALLOW": host}
            app = create_app(settings, catalog=load_document(doc))
            services = next(iter(app.extensions["oam_preview"].values()))
            imagery, image = services.imagery, services.store.catalog.require("scan")
            with app.app_context():
                start = time.process_time()
                imagery.collar_grid(image, renderings["collar=black"])
                grid_ms = (time.process_time() - start) * 1e3
                grid = imagery.collar_grid(image, renderings["collar=black"])
                kinds = {tile: "edge" if _crossed(grid, *tile) else "other" for tile in tiles()}
                spent: dict[tuple[str, str], float] = {}
                counts: dict[tuple[str, str], int] = {}
                for round_ in range(options.rounds + 1):
                    order = list(renderings) if round_ % 2 else list(reversed(renderings))
                    for name in order:
                        for tile, kind in kinds.items():
                            start = time.process_time()
                            imagery.tile(image, *tile, 256, renderings[name])
                            if round_:  # the first round warms up
                                key = (name, kind)
                                spent[key] = spent.get(key, 0.0) + time.process_time() - start
                                counts[key] = counts.get(key, 0) + 1
    for kind, what in (("edge", "crossed by the collar's edge"), ("other", "wholly image or collar")):
        for name in renderings:
            ms = spent[name, kind] / counts[name, kind] * 1e3
            print(f"{name:>14}: {ms:6.2f} CPU ms per 256 px tile {what} ({counts[name, kind]} tiles)")
    print(
        f"{'collar grid':>14}: {grid_ms:6.1f} CPU ms once per image version (1024 px whole-image read and scan)"
    )


if __name__ == "__main__":
    main()
