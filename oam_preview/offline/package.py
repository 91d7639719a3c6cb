"""Tile package files: MBTiles 1.3 (sqlite3) and PMTiles v3 (the ``pmtiles`` package's writer, for
an export's image tiles and a footprint archive's vector tiles alike).

Every package is first an MBTiles file: tiles are committed a batch at a time,
and the tiles answered 404 (nothing there) are noted in a table of their own, so
a killed export run again asks only for the tiles not yet done. A PMTiles
package is written from that MBTiles (kept beside it as
``FILE.pmtiles.part.mbtiles``) once every tile is done, then the sidecar is
removed. Tiles are XYZ ``(z, x, y)`` here; MBTiles rows count from the south.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from .coverage import Layer, Tile
from .request import CONTAINERS, ExportError

#: The sqlite table of the tiles answered 404, so that a resumed export does not ask again.
EMPTY_TABLE = "oam_preview_empty"
#: The metadata row holding the canonical request an MBTiles file is being written for.
REQUEST_KEY = "oam_preview_request"


def flip(z: int, y: int) -> int:
    """An XYZ row as an MBTiles (TMS) row, and back: MBTiles counts rows from the south."""
    return (1 << z) - 1 - y


class TileStore:
    """An MBTiles 1.3 file being written: ``tiles`` and ``metadata`` as the spec has them, plus the
    table of tiles found empty; ``request`` (canonical JSON) is kept in the metadata, and a file
    begun for another request is refused (:class:`ExportError`)."""

    def __init__(self, path: Path, request: str) -> None:
        self.path = path
        self.db = sqlite3.connect(path)
        with self.db:
            self.db.execute("CREATE TABLE IF NOT EXISTS metadata (name TEXT, value TEXT)")
            self.db.execute("CREATE UNIQUE INDEX IF NOT EXISTS name ON metadata (name)")
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS tiles "
                "(zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB)"
            )
            self.db.execute(
                "CREATE UNIQUE INDEX IF NOT EXISTS tile_index ON tiles (zoom_level, tile_column, tile_row)"
            )
            self.db.execute(
                f"CREATE TABLE IF NOT EXISTS {EMPTY_TABLE} (zoom_level INTEGER, tile_column INTEGER, "
                "tile_row INTEGER, PRIMARY KEY (zoom_level, tile_column, tile_row))"
            )
        row = self.db.execute("SELECT value FROM metadata WHERE name = ?", (REQUEST_KEY,)).fetchone()
        if row is None:
            with self.db:
                self.db.execute("INSERT INTO metadata VALUES (?, ?)", (REQUEST_KEY, request))
        elif row[0] != request:
            self.db.close()
            raise ExportError(f"{path} holds tiles of another export: remove it or write elsewhere")

    def done(self) -> set[Tile]:
        """The XYZ tiles already done: stored, or found empty."""
        found: set[Tile] = set()
        for table in ("tiles", EMPTY_TABLE):
            for z, x, row in self.db.execute(f"SELECT zoom_level, tile_column, tile_row FROM {table}"):
                found.add((z, x, flip(z, row)))
        return found

    def put(self, results: Iterable[tuple[Tile, bytes | None]]) -> None:
        """Store tiles (``None``: found empty) in one transaction."""
        rows = [(z, x, flip(z, y), data) for (z, x, y), data in results]
        with self.db:
            self.db.executemany(
                "INSERT OR REPLACE INTO tiles VALUES (?, ?, ?, ?)", [r for r in rows if r[3] is not None]
            )
            self.db.executemany(
                f"INSERT OR REPLACE INTO {EMPTY_TABLE} VALUES (?, ?, ?)",
                [r[:3] for r in rows if r[3] is None],
            )

    def write_metadata(self, layer: Layer, tile_format: str) -> None:
        """MBTiles 1.3's metadata rows of ``layer``."""
        lon, lat, zoom = layer.center
        rows = {
            "name": layer.name,
            "format": tile_format,
            "bounds": ",".join(f"{v:.8f}" for v in layer.bounds),
            "center": f"{lon:.8f},{lat:.8f},{zoom}",
            "minzoom": str(layer.minzoom),
            "maxzoom": str(layer.maxzoom),
            "attribution": layer.attribution or "",
            "type": "overlay",
            "version": "1.3",
            "description": f"{layer.name}: exported by oam-preview",
        }
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO metadata VALUES (?, ?)", list(rows.items()))

    def close(self) -> None:
        self.db.close()


def write_pmtiles(
    output: Path,
    tiles: Iterable[tuple[int, bytes]],
    header: Mapping[str, Any],
    metadata: Mapping[str, Any],
) -> int:
    """Write ``tiles`` (PMTiles tile id, bytes), in tile-id order (a clustered archive), as
    PMTiles v3 at ``output`` through a temporary file, so a killed write leaves no half file;
    ``header``: its tile type, compression, bounds and centre (:func:`pmtiles_header`);
    how many tiles it holds. :class:`ExportError` for none (a PMTiles file cannot be empty)."""
    from pmtiles.writer import Writer

    part = output.with_name(output.name + ".tmp")
    count = 0
    try:
        with part.open("wb") as f:
            writer = Writer(f)
            for tile_id, data in tiles:
                writer.write_tile(tile_id, data)
                count += 1
            if not count:
                raise ExportError("no tile of the area has pixels: nothing to write")
            writer.finalize(dict(header), dict(metadata))
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    os.replace(part, output)
    return count


def pmtiles_header(
    tile_type: Any,
    compression: Any,
    bounds: tuple[float, float, float, float],
    center: tuple[float, float, int],
) -> dict[str, Any]:
    """A PMTiles header's fields of a layer: ``bounds`` (EPSG:4326 degrees, west <= east) and
    ``center`` (lon, lat, zoom)."""
    w, s, e, n = bounds
    lon, lat, zoom = center
    return {
        "tile_type": tile_type,
        "tile_compression": compression,
        "min_lon_e7": int(w * 1e7),
        "min_lat_e7": int(s * 1e7),
        "max_lon_e7": int(e * 1e7),
        "max_lat_e7": int(n * 1e7),
        "center_zoom": int(zoom),
        "center_lon_e7": int(lon * 1e7),
        "center_lat_e7": int(lat * 1e7),
    }


def store_pmtiles(store: TileStore, layer: Layer, tile_format: str, output: Path) -> None:
    """Write the tiles of ``store`` as PMTiles v3 at ``output`` (:func:`write_pmtiles`)."""
    from pmtiles.tile import Compression, TileType, zxy_to_tileid

    types = {"png": TileType.PNG, "jpg": TileType.JPEG, "webp": TileType.WEBP}
    order = sorted(
        (zxy_to_tileid(z, x, flip(z, row)), rowid)
        for rowid, z, x, row in store.db.execute("SELECT rowid, zoom_level, tile_column, tile_row FROM tiles")
    )

    def tiles() -> Iterator[tuple[int, bytes]]:
        for tile_id, rowid in order:
            (data,) = store.db.execute("SELECT tile_data FROM tiles WHERE rowid = ?", (rowid,)).fetchone()
            yield tile_id, data

    metadata = {
        "name": layer.name,
        "attribution": layer.attribution or "",
        "type": "overlay",
        "format": tile_format,
        "minzoom": layer.minzoom,
        "maxzoom": layer.maxzoom,
        "description": f"{layer.name}: exported by oam-preview",
    }
    # Images are compressed already.
    header = pmtiles_header(types[tile_format], Compression.NONE, layer.bounds, layer.center)
    write_pmtiles(output, tiles(), header, metadata)


def working_path(output: Path) -> Path:
    """Where the tiles of ``output`` are kept while they are being asked for."""
    if output.suffix == ".mbtiles":
        return output
    return output.with_name(output.name + ".part.mbtiles")


def container_of(output: Path) -> str:
    """The container a file name asks for, by its extension."""
    kind = output.suffix.lower().lstrip(".")
    if kind not in CONTAINERS:
        raise ExportError("the output name must end in .mbtiles or .pmtiles")
    return kind
