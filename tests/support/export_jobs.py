"""The exports' side of a test: waiting for a job of ``POST /api/exports``, reading a package back."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from oam_preview.offline.package import flip


def finished(client: Any, url: str, timeout: float = 120.0) -> Any:
    """The job's answer (through the Flask test client ``client``) once it is no longer 202;
    fails after ``timeout`` seconds."""
    path = url.split("localhost", 1)[1]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = client.get(path)
        if answer.status_code != 202:
            return answer
        doc = answer.get_json()
        assert doc["state"] in ("queued", "running") and "tiles_done" in doc["progress"]
        time.sleep(0.2)
    raise AssertionError(f"{url} still running after {timeout} s")


def mbtiles_tiles(path: Path) -> dict[tuple[int, int, int], bytes]:
    """The tiles of an MBTiles file by XYZ address."""
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT zoom_level, tile_column, tile_row, tile_data FROM tiles").fetchall()
    return {(z, x, flip(z, row)): bytes(data) for z, x, row, data in rows}
