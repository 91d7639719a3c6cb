"""An export run, and an export job's process: what to package, its tiles asked of the tile
routes' functions, resumable.

:func:`export` packages one :class:`~oam_preview.offline.request.ExportRequest` (``oam-preview
export``, and each job): its layer planned from what it covers
(:func:`~oam_preview.offline.coverage.covered`), its tiles rendered by :class:`ExportTiles` (the
functions the tile views call: :mod:`oam_preview.tiler.tile_bodies`), so a package holds the
tile routes' very bytes; one image's are those of ``/api/images/{id}/tiles``, an ids group's
the mosaic of ``ids=…&order=catalog``, a mosaic query's those of ``/api/mosaic/tiles``.
Every package is first an MBTiles file (:mod:`oam_preview.offline.package`), committed a
batch at a time, so a killed export run again asks only for the tiles not yet done; a
PMTiles package is written from it once every tile is done.

:func:`run` is a job of :mod:`oam_preview.offline.jobs` (``python -m oam_preview.offline.worker
DIR [LIFELINE]``, or an RQ work horse).
"""

from __future__ import annotations

import functools
import os
import pickle
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..catalog import Image
from ..config import Settings
from ..errors import OamPreviewError, OutsideBounds, ZoomOutOfRange
from ..tiler.tile_bodies import TileBody
from .coverage import Layer, Tile, covered, plan, tiles
from .jobs import ACTIVE, Limits, disk_usage, write_json
from .lifeline import watch
from .package import TileStore, store_pmtiles, working_path
from .renderer import TileRenderer
from .request import ExportError, ExportRequest
from .runner import Outcome, batch_size, batches
from .runner import run as run_tasks

#: The 404 codes of a tile with nothing there (API.md), noted as done: not asked again.
EMPTY_CODES = (OutsideBounds.code, ZoomOutOfRange.code)
#: Seconds between two progress writes of a running job.
PROGRESS_EVERY = 0.5
#: The error of a job stopped with the server that ran it.
SERVER_STOPPED = "the server stopped while the export ran: ask again to resume"

Results = list[tuple[Tile, bytes | None]]


class ExportTiles:
    """An export's tiles in one process. ``images``: the images to serve (a job's snapshot);
    ``None``: the settings' catalog."""

    def __init__(self, settings: Settings, images: Sequence[Image] | None = None) -> None:
        self.renderer = TileRenderer(settings, images)

    def layer(self, request: ExportRequest) -> Layer:
        """What ``request`` packages (:func:`plan`); :class:`ExportError` with the API's words."""
        if not request.single:
            self.renderer.wait_for_footprints()  # a mosaic's TileJSON and boxes: its images placed
        try:
            found = self.renderer.within_deadline(
                functools.partial(covered, self.renderer, request, self.renderer.find, self.renderer.allowed)
            )
        except OamPreviewError as exc:
            raise ExportError(exc.message) from None  # the route asked is no business of a user
        return plan(request, found.doc, found.areas)

    def draw(self, request: ExportRequest, tile: Tile) -> TileBody:
        """Tile ``z/x/y`` of ``request``, as its tile route draws it (256 px)."""
        if request.single:
            return self.renderer.image_tile(request.ids[0], request.asked, tile, 256, request.tile_format)
        return self.renderer.mosaic_tile(request.selection, request.asked, tile, 256, request.tile_format)

    def __call__(self, task: tuple[ExportRequest, list[Tile]]) -> tuple[int, Results]:
        """How many tiles the batch had, and each with its bytes, ``None`` when the route answers
        that nothing is there; a tile answered anything else is left out (not done: a later
        run asks again), as is one whose image or selection is missing (a later run may find it)."""
        request, batch = task
        done: Results = []
        for tile in batch:
            answer = self.renderer.attempt(functools.partial(self.draw, request, tile))
            if isinstance(answer, bytes):
                done.append((tile, answer))
            elif isinstance(answer, OamPreviewError) and answer.code in EMPTY_CODES:
                done.append((tile, None))
        return len(batch), done


def export(
    settings: Settings,
    request: ExportRequest,
    output: Path,
    processes: int = 1,
    max_tiles: int = 100_000,
    images: Sequence[Image] | None = None,
    progress: Callable[[int], None] = lambda n: None,
    started: Callable[[int, int], None] = lambda total, pending: None,
) -> Outcome:
    """Package ``request`` at ``output`` (MBTiles or PMTiles by ``request.container``), resuming an
    earlier run. ``images``: the catalog to serve (``None``: the settings'); ``started(total,
    pending)`` once the plan is known, ``progress(n)`` after every ``n`` tiles asked for.

    :class:`~oam_preview.offline.coverage.TooManyTiles` past ``max_tiles``; :class:`ExportError`
    when there is nothing to export. With tiles failed the package stays unfinished."""
    here = ExportTiles(settings, images)
    layer = here.layer(request)
    wanted = tiles(layer, max_tiles)
    store = TileStore(working_path(output), request.canonical())
    try:
        store.write_metadata(layer, request.tile_format)
        done = store.done()
        pending = [t for t in wanted if t not in done]
        started(len(wanted), len(pending))
        outcome = Outcome(skipped=len(wanted) - len(pending))
        tasks = [(request, batch) for batch in batches(pending, batch_size(len(pending), processes))]
        make = functools.partial(ExportTiles, settings, images)
        for n, results in run_tasks(tasks, processes, make, here):
            store.put(results)
            stored = sum(1 for _, data in results if data is not None)
            outcome += Outcome(stored, len(results) - stored, n - len(results))
            progress(n)
        if outcome.complete and request.container == "pmtiles":
            store_pmtiles(store, layer, request.tile_format, output)
    finally:
        store.close()
    if outcome.complete and request.container == "pmtiles":
        store.path.unlink()
    return outcome


def run(directory: str, local: bool = False, lifeline: int | None = None) -> None:
    """Run the job in ``directory``: in a local worker process (``local``: its pid is noted, so a
    dead one is seen), or an RQ work horse, maybe on another machine. ``lifeline``: the read end
    of the server's lifeline (:mod:`oam_preview.offline.lifeline`): when it ends, the job is marked
    failed (:data:`SERVER_STOPPED`) and its process exits at once (what it committed stays,
    for the next run to resume)."""
    import warnings

    warnings.simplefilter("ignore")
    path = Path(directory)
    with (path / "input.pickle").open("rb") as f:
        settings, request, images = pickle.load(f)
    limits = Limits.of(settings)
    base = {"pid": os.getpid()} if local else {}
    write_json(
        path / "state.json", {**base, "state": "running", "done": 0, "total": None, "updated": time.time()}
    )
    counts = {"done": 0, "total": 0, "resumed": 0, "written": 0.0}
    writing = threading.Lock()  # the lifeline's last word is the last one written
    ended: list[str] = []  # the job's outcome, once written

    def started(total: int, pending: int) -> None:
        counts["done"], counts["total"], counts["resumed"] = total - pending, total, total - pending
        write("running")

    def progress(n: int) -> None:
        counts["done"] += n
        if time.monotonic() - counts["written"] >= PROGRESS_EVERY:
            used = disk_usage(path.parent)
            if used > limits.max_disk_bytes:
                raise ExportError(
                    f"the exports' disk limit ({limits.max_disk_bytes / 1e6:.1f} MB) was reached"
                )
            write("running")

    def document(state: str, error: str | None = None) -> dict[str, Any]:
        doc = {
            **base,
            "state": state,
            "done": counts["done"],
            "total": counts["total"],
            "resumed": counts["resumed"],
            "updated": time.time(),
        }
        if error:
            doc["error"] = error
        return doc

    def write(state: str, error: str | None = None) -> None:
        counts["written"] = time.monotonic()
        with writing:
            write_json(path / "state.json", document(state, error))
            if state not in ACTIVE:
                ended.append(state)

    def server_stopped() -> None:
        writing.acquire()  # held until the exit: no progress is written after this
        if not ended:  # a job that just finished keeps its outcome
            write_json(path / "state.json", document("failed", SERVER_STOPPED))
        os._exit(1)  # at once, whatever the other threads hold (a read waiting on a slow host)

    if lifeline is not None:
        watch(lifeline, server_stopped)

    try:
        outcome = export(
            settings,
            request,
            path / f"export.{request.container}",
            max_tiles=limits.max_tiles,
            images=images,
            progress=progress,
            started=started,
        )
    except ExportError as exc:  # TooManyTiles among them
        write("failed", str(exc))
        return
    except Exception as exc:  # a bug: said in the job, not lost with the process
        write("failed", f"internal error: {type(exc).__name__}")
        raise
    if outcome.failed:
        write(
            "failed", f"{outcome.failed} tiles could not be rendered (upstream errors); ask again to resume"
        )
    else:
        write("done")


if __name__ == "__main__":
    run(sys.argv[1], local=True, lifeline=int(sys.argv[2]) if len(sys.argv) > 2 else None)
