"""The ``oam-preview`` command: serve, seed, export, worker, thumbnail, catalog, check, demo."""

from __future__ import annotations

import errno
import os
import sqlite3
import stat
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .config import Settings

if TYPE_CHECKING:
    from .serve import CatalogCheck


class Commands(click.Group):
    """The commands, whose failures of the system they run on (a path that cannot be written, a
    full disk) are one line, ``Error: …``, with exit status 1: never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except OSError as exc:
            raise click.ClickException(
                f"{exc.filename}: {exc.strerror}" if exc.filename and exc.strerror else str(exc)
            ) from None
        except sqlite3.OperationalError as exc:  # an MBTiles file that cannot be opened or written
            raise click.ClickException(f"writing the tile package: {exc}") from None


def writable_output(ctx: click.Context, param: click.Parameter, path: Path) -> Path:
    """An ``--output`` option's check: ``path`` if a file can be written there, else a one-line
    error saying why, before any work is done."""
    parent = path.parent
    try:
        problem = 0 if stat.S_ISDIR(parent.stat().st_mode) else errno.ENOTDIR
    except OSError as exc:
        problem = exc.errno or errno.ENOENT
    if not problem and not os.access(parent, os.W_OK):
        problem = errno.EACCES
    if problem:
        raise click.ClickException(f"cannot write {path}: {os.strerror(problem)}")
    return path


def progress_of(label: str, total: int, unit: str) -> Any:
    """The progress of ``total`` ``unit`` on stderr, a context manager with ``update(n)``: click's
    bar on a terminal, else :class:`~oam_preview.progress_lines.ProgressLines` (a bar off a
    terminal is silent until it ends)."""
    if sys.stderr.isatty():
        return click.progressbar(length=total, label=f"{label} ({unit})", file=sys.stderr)
    from .progress_lines import ProgressLines

    return ProgressLines(label, total, unit)


@click.group(cls=Commands)
@click.version_option(package_name="oam-preview")
def main() -> None:
    """Thumbnails, XYZ tiles, TileJSON and WMTS of remote GeoTIFFs listed in a catalog."""


@main.command()
@click.option("--catalog", "catalog", default=None, help="Catalog path or URL (default: the demo).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--prefix", default=None, help="URL prefix of the API, e.g. /preview.")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64), help="Processes.")
@click.option(
    "--threads", default=8, show_default=True, type=click.IntRange(1, 256), help="Threads per process."
)
@click.option(
    "--proxies", default=None, type=click.IntRange(0, 10), help="Trusted reverse proxies (X-Forwarded-*)."
)
@click.option(
    "--max-requests",
    default=0,
    show_default=True,
    type=click.IntRange(0, None),
    help="Restart a worker after this many requests (0: never); bounds slow memory growth.",
)
def serve(
    catalog: str | None,
    host: str,
    port: int,
    prefix: str | None,
    workers: int,
    threads: int,
    proxies: int | None,
    max_requests: int,
) -> None:
    """Run the app under gunicorn (threaded workers)."""
    overrides = {
        "OAM_PREVIEW_CATALOG": catalog,
        "OAM_PREVIEW_PREFIX": prefix,
        "OAM_PREVIEW_TRUSTED_PROXIES": None if proxies is None else str(proxies),
    }
    env = {k: v for k, v in overrides.items() if v is not None}
    try:
        settings = Settings.from_mapping({**os.environ, **env})
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    from . import serve as gunicorn_server

    try:  # first: a serve that cannot listen changes nothing
        listener = gunicorn_server.listening_socket(host, port)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {listen_problem(exc)}") from None
    port = listener.getsockname()[1]  # the one chosen, for --port 0
    if settings.catalog == "demo":
        # One file server for every worker, started here, so each worker reads this server's
        # own catalog file instead of starting a file server of its own.
        from .demo import DEMO_BASEMAP_URL, allowing_demo, build, own_catalog_file, start_server

        directory = build()
        server = start_server(directory)
        env["OAM_PREVIEW_CATALOG"] = str(own_catalog_file(directory, server.url))
        env["OAM_PREVIEW_UPSTREAM_ALLOW"] = allowing_demo(settings.upstream_allow, server)
        env.setdefault("OAM_PREVIEW_BASEMAP_URL", os.environ.get("OAM_PREVIEW_BASEMAP_URL", DEMO_BASEMAP_URL))
        click.echo(f"demo images served from {server.url} ({directory})", err=True)
    os.environ.update(env)
    source = os.environ["OAM_PREVIEW_CATALOG"]
    check = gunicorn_server.check_catalog(source, settings.catalog_max_records)
    if check.error is not None:
        raise click.ClickException(check.error)
    warn_of_skipped(source if settings.catalog != "demo" else "demo", check)

    # Before any worker imports prometheus-client: every worker's metrics go to one directory.
    remove_at_exit = gunicorn_server.prepare_process()
    click.echo(f"oam-preview on http://{host}:{port}{settings.prefix}/", err=True)
    bind = f"fd://{listener.fileno()}"  # the socket bound above, taken over by gunicorn
    gunicorn_server.run(
        gunicorn_server.gunicorn_settings(bind, workers, threads, max_requests, remove_at_exit)
    )


#: Skipped records listed by ``serve`` at most; ``oam-preview catalog`` lists them all.
SKIPPED_SHOWN = 20


def listen_problem(exc: OSError) -> str:
    """Why a port cannot be listened on, in a few words, with what to do when it is taken."""
    if exc.errno == errno.EADDRINUSE:
        return "address already in use (another server? --port chooses another)"
    return exc.strerror or str(exc)


def warn_of_skipped(source: str, check: CatalogCheck) -> None:
    """A catalog's skipped records on stderr, each with why: a warning when none is usable."""
    if not check.skipped and check.images:
        return
    if not check.images:
        found = f"{len(check.skipped)} records skipped" if check.skipped else "it lists no record"
        click.echo(f"Warning: catalog {source} has no usable image: {found}", err=True)
    else:
        click.echo(f"Warning: catalog {source}: {len(check.skipped)} records skipped", err=True)
    for name, reason in check.skipped[:SKIPPED_SHOWN]:
        click.echo(f"  skipped {name}: {reason}", err=True)
    if len(check.skipped) > SKIPPED_SHOWN:
        click.echo(
            f"  … and {len(check.skipped) - SKIPPED_SHOWN} more (oam-preview catalog {source})", err=True
        )


@main.command()
@click.argument("source")
@click.option(
    "-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path), callback=writable_output
)
@click.option("--catalog", default=None, help="Catalog to look SOURCE up in, when it is an id.")
@click.option("--max-size", default=256, show_default=True, type=click.IntRange(16, 1024))
def thumbnail(source: str, output: Path, catalog: str | None, max_size: int) -> None:
    """Write a thumbnail of SOURCE (a GeoTIFF path or URL, or a catalog image id)."""
    import warnings

    from .catalog import Image, load
    from .catalog.model import slugify
    from .errors import OamPreviewError
    from .remote.opener import Opener
    from .tiler.imagery import Imagery
    from .tiler.render import encode

    warnings.simplefilter("ignore")
    settings = Settings.from_env()
    if "://" in source or Path(source).exists():
        image = Image(id=slugify(Path(source).name), source_url=source)
        # The operator's own URL on the command line, not a catalog record: no policy applies.
        settings = replace(settings, upstream_allow="any")
    else:
        if catalog is None and settings.catalog == "demo":
            from .demo import allowing_demo, build, running_demo_catalog, start_server

            found = running_demo_catalog()
            allow = allowing_demo(settings.upstream_allow, start_server(build()))
            settings = replace(settings, upstream_allow=allow)
        else:
            found = load(catalog or settings.catalog)
        try:
            image = found.require(source)
        except OamPreviewError as exc:
            raise click.ClickException(exc.message) from None
    fmt = output.suffix.lstrip(".").lower() or "png"
    if fmt not in ("png", "jpg", "jpeg", "webp"):
        raise click.UsageError("the output name must end in .png, .jpg or .webp")
    try:
        body, _ = encode(Imagery(Opener(settings), settings).thumbnail(image, max_size), fmt)
    except OamPreviewError as exc:
        raise click.ClickException(f"{exc.code}: {exc.message}") from None
    output.write_bytes(body)
    click.echo(f"wrote {output} ({len(body)} bytes)", err=True)


@main.command("catalog")
@click.argument("source")
@click.option("--first", default=5, show_default=True, type=int, help="How many records to print.")
@click.option("--report", "graded", is_flag=True, help="Grade every image (a health report of each file).")
@click.option("--json", "as_json", is_flag=True, help="With --report: the reports as JSON.")
@click.option(
    "--concurrency", default=4, show_default=True, type=click.IntRange(1, 32), help="Files checked at once."
)
def catalog_command(source: str, first: int, graded: bool, as_json: bool, concurrency: int) -> None:
    """Check what a catalog SOURCE yields: count, skipped records and why, the first records;
    with --report, every image's health report and a summary of the findings."""
    from .catalog import CatalogError
    from .catalog.report import print_report

    try:
        if graded:
            from .check_command import report_catalog

            sys.exit(report_catalog(source, as_json, concurrency))
        print_report(source, sys.stdout, first=first)
    except CatalogError as exc:
        raise click.ClickException(str(exc)) from None


@main.command("check")
@click.argument("source")
@click.option("--json", "as_json", is_flag=True, help="The report as JSON.")
def check_command(source: str, as_json: bool) -> None:
    """Is SOURCE (a GeoTIFF URL or local path) ready to serve? Its health report: findings,
    measured cost and the command that fixes it. Exit status 0 ready, 1 warnings, 2 not servable."""
    from .check_command import check_source

    sys.exit(check_source(source, as_json))


@main.command("seed")
@click.argument("image_ids", nargs=-1)
@click.option(
    "--mosaic",
    default=None,
    help="Seed the mosaic of this query instead, e.g. 'order=newest&gsd_max=1' ('' for all).",
)
@click.option("--zoom", required=True, help="A zoom or a range of zooms, e.g. 12-16.")
@click.option("--bbox", default=None, help="west,south,east,north (EPSG:4326); default: each image's bounds.")
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
    zoom: str,
    bbox: str | None,
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
    import warnings

    from . import seed

    warnings.simplefilter("ignore")
    overrides = {"OAM_PREVIEW_CATALOG": catalog, "OAM_PREVIEW_CACHE_URL": cache_url}
    try:
        settings = Settings.from_mapping({**os.environ, **{k: v for k, v in overrides.items() if v}})
        low, _, high = zoom.partition("-")
        zooms = range(int(low), int(high or low) + 1)
        box = tuple(float(v) for v in bbox.split(",")) if bbox else None
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    if not settings.cache_url:
        raise click.UsageError("seeding needs the shared cache: --cache-url or OAM_PREVIEW_CACHE_URL")
    if box is not None and len(box) != 4:
        raise click.UsageError("--bbox is west,south,east,north")
    if bool(image_ids) == (mosaic is not None):
        raise click.UsageError("give IMAGE_IDS or --mosaic, one of them")
    size = 512 if retina else 256
    jobs = [seed.Job(i, fmt, size) for i in image_ids] or [seed.Job("mosaic", fmt, size, mosaic=mosaic)]
    here = seed.Seeder(settings)
    plan, skipped = [], 0
    for job in jobs:
        try:
            doc = here.describe(job)
        except LookupError as exc:
            raise click.ClickException(str(exc)) from None
        area = seed.intersect(tuple(doc["bounds"]), box)
        wanted = [] if area is None else list(seed.tiles(area, zooms))
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
        f"{total} tiles: {outcome.rendered} cached, {outcome.empty} empty (404), {outcome.failed} failed; "
        f"{skipped} already done"
    )
    if outcome.failed:
        sys.exit(1)


def export_footprints(output: Path, query: str, zoom: str, catalog: str | None) -> None:
    """``export --footprints``: the footprint vector tiles of a catalog query as one PMTiles file."""
    import urllib.parse

    from .catalog import load
    from .catalog.query import ImageQuery
    from .errors import BadRequest
    from .tiler.footprint_archive import write_pmtiles

    if output.suffix.lower() != ".pmtiles":
        raise click.UsageError("the output name must end in .pmtiles")
    try:
        selected = ImageQuery.from_args(dict(urllib.parse.parse_qsl(query)))
        low, _, high = zoom.partition("-")
        minzoom, maxzoom = int(low), int(high or low)
    except BadRequest as exc:
        raise click.UsageError(f"--mosaic: {exc.message}") from None
    except ValueError:
        raise click.UsageError("--zoom is a zoom or a range, e.g. 0-14") from None
    source = catalog or Settings.from_env().catalog
    if source == "demo":
        from .demo import running_demo_catalog

        found = running_demo_catalog()
    else:
        found = load(source)
    try:
        count = write_pmtiles(output, found, selected, minzoom, maxzoom)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"wrote {output}: {count} tiles, zooms {minzoom}-{maxzoom}", err=True)


@main.command("export")
@click.argument("image_ids", nargs=-1)
@click.option(
    "--mosaic", default=None, help="Export the mosaic of this query instead, e.g. 'gsd_max=1' ('' for all)."
)
@click.option(
    "-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
    callback=writable_output, help="FILE.mbtiles or FILE.pmtiles (the format from the extension).",
)  # fmt: skip
@click.option(
    "--zoom", default=None, help="A zoom or a range, e.g. 12-16 (default: overview zooms to native)."
)
@click.option(
    "--bbox", default=None, help="west,south,east,north (EPSG:4326); default: the imagery's bounds."
)
@click.option("--catalog", default=None, help="Catalog path or URL (default: OAM_PREVIEW_CATALOG, the demo).")
@click.option("--format", "fmt", default="png", show_default=True, type=click.Choice(["png", "jpg", "webp"]))
@click.option("--bidx", default=None, help="Bands shown, e.g. 3,2,1 (as the tile API's bidx).")
@click.option("--nodata", default=None, help="A value shown transparent (as the tile API's nodata).")
@click.option("--rescale", multiple=True, help="min,max stretched to 0-255 (as the tile API's rescale).")
@click.option("--colormap-name", default=None, help="A colormap for one band (as the tile API's).")
@click.option("--expression", default=None, help="Band math, e.g. 'b1/b2' (as the tile API's expression).")
@click.option(
    "--colormap", default=None, help="A JSON colormap, e.g. '{\"1\": [0, 97, 71]}' (as the tile API's)."
)
@click.option(
    "--algorithm", default=None, help="hillshade, slope, terrainrgb… (as the tile API's algorithm)."
)
@click.option("--algorithm-params", default=None, help="JSON, e.g. '{\"azimuth\": 315}' (as the tile API's).")
@click.option(
    "--collar", default=None, type=click.Choice(["black", "white", "both"]),
    help="Make a black/white collar transparent as GDAL's nearblack finds it (the tile API's collar).",
)  # fmt: skip
@click.option("--collar-tolerance", default=None, type=click.IntRange(0, 255), help="nearblack's -near (15).")
@click.option(
    "--processes", default=1, show_default=True, type=click.IntRange(1, 64), help="Spawned processes."
)
@click.option("--max-tiles", default=100_000, show_default=True, type=click.IntRange(1, None))
@click.option(
    "--footprints", is_flag=True,
    help="Export the footprints of the --mosaic query (all by default) as vector tiles (PMTiles; --zoom 0-14).",
)  # fmt: skip
def export_command(
    image_ids: tuple[str, ...],
    mosaic: str | None,
    output: Path,
    zoom: str | None,
    bbox: str | None,
    catalog: str | None,
    fmt: str,
    bidx: str | None,
    nodata: str | None,
    rescale: tuple[str, ...],
    colormap_name: str | None,
    expression: str | None,
    colormap: str | None,
    algorithm: str | None,
    algorithm_params: str | None,
    collar: str | None,
    collar_tolerance: int | None,
    processes: int,
    max_tiles: int,
    footprints: bool,
) -> None:
    """Package the tiles of IMAGE_IDS (one image, or the mosaic of several) or of a mosaic query
    as MBTiles or PMTiles, for offline use (resumable: run it again after a kill)."""
    if footprints:
        if image_ids:
            raise click.UsageError("--footprints exports a query's footprints: give --mosaic, not IMAGE_IDS")
        export_footprints(output, mosaic or "", zoom or "0-14", catalog)
        return
    import urllib.parse
    import warnings

    from . import export, tile_package
    from .errors import OamPreviewError

    warnings.simplefilter("ignore")
    overrides = {"OAM_PREVIEW_CATALOG": catalog}
    try:
        settings = Settings.from_mapping({**os.environ, **{k: v for k, v in overrides.items() if v}})
        low, high = (None, None)
        if zoom:
            first, _, last = zoom.partition("-")
            low, high = int(first), int(last or first)
        box = tuple(float(v) for v in bbox.split(",")) if bbox else None
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    if box is not None and len(box) != 4:
        raise click.UsageError("--bbox is west,south,east,north")
    if bool(image_ids) == (mosaic is not None):
        raise click.UsageError("give IMAGE_IDS or --mosaic, one of them")
    rendering_args = {"bidx": bidx, "nodata": nodata, "rescale": list(rescale) or None}
    try:
        container = tile_package.container_of(output)
        request = export.ExportRequest.build(
            image_ids,
            None if mosaic is None else dict(urllib.parse.parse_qsl(mosaic)),
            tile_format=fmt,
            container=container,
            bbox=box,
            minzoom=low,
            maxzoom=high,
            rendering=export.rendering_from_json(
                {
                    **rendering_args,
                    "colormap_name": colormap_name,
                    "expression": expression,
                    "colormap": colormap,
                    "algorithm": algorithm,
                    "algorithm_params": algorithm_params,
                    "collar": collar,
                    "collar_tolerance": collar_tolerance,
                }  # fmt: skip
            ),
        )
    except tile_package.ExportError as exc:
        raise click.UsageError(str(exc)) from None
    except OamPreviewError as exc:
        raise click.UsageError(exc.message) from None
    bar: Any = None

    def started(total: int, pending: int) -> None:
        nonlocal bar
        bar = progress_of(f"exporting {output.name}", pending, "tiles")
        bar.__enter__()

    try:
        outcome = export.export(
            settings, request, output, processes, max_tiles, started=started, progress=lambda n: bar.update(n)
        )
    except tile_package.ExportError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    click.echo(
        f"{outcome.total} tiles: {outcome.stored} stored, {outcome.empty} empty (404), "
        f"{outcome.failed} failed; {outcome.skipped} already done"
    )
    if outcome.failed:
        click.echo(f"{output}: unfinished; run the same command again to resume", err=True)
        sys.exit(1)
    click.echo(f"wrote {output}", err=True)


@main.command()
@click.option(
    "--queue", required=True, help="redis://… of the RQ queues that `seed --queue` and exports fill."
)
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
def worker(queue: str, burst: bool) -> None:
    """Run queued seeding and export jobs (any number of machines may run workers on one queue;
    an export's worker must see OAM_PREVIEW_EXPORT_DIR)."""
    from . import export_jobs, seed

    seed.work(queue, burst, (seed.QUEUE, export_jobs.QUEUE))


@main.command()
@click.option(
    "--dir",
    "directory",
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to write the images (default: the user's cache directory).",
)
def demo(directory: Path | None) -> None:
    """Build the embedded demo images (once) and print where they are."""
    from .demo import build

    click.echo(build(directory))


if __name__ == "__main__":
    main()
