"""``oam-preview seed``: the shared cache warmed with the tiles of images or of a mosaic."""

from __future__ import annotations

import sys

import click

from .options import bbox_of, command_settings, progress_of, zoom_range


@click.command("seed")
@click.argument("image_ids", nargs=-1)
@click.option(
    "--mosaic",
    default=None,
    help="Seed the mosaic of this query instead, e.g. 'order=newest&gsd_max=1' ('' for all).",
)
@click.option("--zoom", required=True, callback=zoom_range, help="A zoom or a range of zooms, e.g. 12-16.")
@click.option(
    "--bbox",
    default=None,
    callback=bbox_of,
    help="west,south,east,north (EPSG:4326); default: each image's bounds.",
)
@click.option("--catalog", default=None, help="Catalog path or URL (default: OAM_PREVIEW_CATALOG).")
@click.option("--cache-url", default=None, help="redis://host:port/db (default: OAM_PREVIEW_CACHE_URL).")
@click.option(
    "--format", "fmt", default="png", show_default=True, type=click.Choice(["png", "jpg", "webp", "auto"])
)
@click.option("--retina", is_flag=True, help="512 px tiles ({y}@2x) instead of 256 px.")
@click.option(
    "--processes", default=1, show_default=True, type=click.IntRange(1, 64), help="Spawned processes."
)
@click.option("--force", is_flag=True, help="Render again the tiles marked done by an earlier run.")
@click.option("--max-tiles", default=100_000, show_default=True, type=click.IntRange(1, None))
@click.option("--queue", default=None, help="redis://… of an RQ queue: enqueue for `oam-preview worker`.")
def seed_command(
    image_ids: tuple[str, ...],
    mosaic: str | None,
    zoom: tuple[int, int],
    bbox: tuple[float, float, float, float] | None,
    catalog: str | None,
    cache_url: str | None,
    fmt: str,
    retina: bool,
    processes: int,
    force: bool,
    max_tiles: int,
    queue: str | None,
) -> None:
    """Warm the shared cache with the tiles of IMAGE_IDS, or of a mosaic, over a bbox and zoom range
    (resumable)."""
    from ..offline import coverage, seed

    if bool(image_ids) == (mosaic is not None):
        raise click.UsageError("give IMAGE_IDS or --mosaic, one of them")
    if not command_settings(serve_demo=False, catalog=catalog, cache_url=cache_url).cache_url:
        raise click.UsageError("seeding needs the shared cache: --cache-url or OAM_PREVIEW_CACHE_URL")
    settings = command_settings(catalog=catalog, cache_url=cache_url)
    zooms = range(zoom[0], zoom[1] + 1)
    size = 512 if retina else 256
    jobs = [seed.Job(i, fmt, size) for i in image_ids] or [seed.Job("mosaic", fmt, size, mosaic=mosaic)]
    here = seed.Seeder(settings)
    plan, skipped = [], 0
    for job in jobs:
        try:
            doc = here.describe(job)
        except LookupError as exc:
            raise click.ClickException(str(exc)) from None
        wanted = list(coverage.tiles_within([tuple(doc["bounds"])], zooms, bbox))
        key = seed.done_key(job, doc["source_url"])
        pending = wanted if force else [t for b in seed.batches(wanted, 1000) for t in here.pending(key, b)]
        skipped += len(wanted) - len(pending)
        plan.append((job, key, pending))
    total = sum(len(p) for _, _, p in plan)
    if total > max_tiles:
        raise click.UsageError(f"{total} tiles to seed, more than --max-tiles {max_tiles}")
    if queue:
        queued = seed.enqueue(queue, settings, plan)
        click.echo(f"{total} tiles in {queued} jobs on the queue {seed.QUEUE}; {skipped} already done")
        return
    with progress_of("seeding", total, "tiles") as bar:
        outcome = seed.seed(settings, plan, processes, bar.update, here=here if processes == 1 else None)
    click.echo(
        f"{total} tiles: {outcome.stored} cached, {outcome.empty} empty (404), {outcome.failed} failed; "
        f"{skipped} already done"
    )
    if outcome.failed:
        sys.exit(1)
