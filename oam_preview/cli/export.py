"""``oam-preview export``: a tile package (MBTiles or PMTiles) of images, a mosaic, or a catalog
query's footprints, for offline use."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from .options import bbox_of, command_settings, progress_of, writable_output, zoom_range

#: The zooms of ``export --footprints`` unless ``--zoom`` says otherwise.
FOOTPRINT_ZOOMS = (0, 14)


def export_footprints(output: Path, query: str, zooms: tuple[int, int], catalog: str | None) -> None:
    """``export --footprints``: the footprint vector tiles of a catalog query as one PMTiles file."""
    import urllib.parse

    from ..catalog.query import ImageQuery
    from ..catalog.served import served_catalog
    from ..errors import BadRequest
    from ..offline.footprint_archive import write_pmtiles

    if output.suffix.lower() != ".pmtiles":
        raise click.UsageError("the output name must end in .pmtiles")
    try:
        selected = ImageQuery.from_args(dict(urllib.parse.parse_qsl(query)))
    except BadRequest as exc:
        raise click.UsageError(f"--mosaic: {exc.message}") from None
    minzoom, maxzoom = zooms
    settings = command_settings(catalog=catalog)
    found = served_catalog(settings.catalog, settings)  # the profiles' private marks: left out
    try:
        count = write_pmtiles(output, found, selected, minzoom, maxzoom)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"wrote {output}: {count} tiles, zooms {minzoom}-{maxzoom}", err=True)


@click.command("export")
@click.argument("image_ids", nargs=-1)
@click.option(
    "--mosaic", default=None, help="Export the mosaic of this query instead, e.g. 'gsd_max=1' ('' for all)."
)
@click.option(
    "-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
    callback=writable_output, help="FILE.mbtiles or FILE.pmtiles (the format from the extension).",
)  # fmt: skip
@click.option(
    "--zoom",
    default=None,
    callback=zoom_range,
    help="A zoom or a range, e.g. 12-16 (default: overview zooms to native).",
)
@click.option(
    "--bbox",
    default=None,
    callback=bbox_of,
    help="west,south,east,north (EPSG:4326); default: the imagery's bounds.",
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
    zoom: tuple[int, int] | None,
    bbox: tuple[float, float, float, float] | None,
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
        export_footprints(output, mosaic or "", zoom or FOOTPRINT_ZOOMS, catalog)
        return
    import urllib.parse

    from ..errors import OamPreviewError
    from ..offline import package as tile_package
    from ..offline import request as export_request
    from ..offline import worker as export

    if bool(image_ids) == (mosaic is not None):
        raise click.UsageError("give IMAGE_IDS or --mosaic, one of them")
    low, high = zoom or (None, None)
    rendering_args = {"bidx": bidx, "nodata": nodata, "rescale": list(rescale) or None}
    try:
        container = tile_package.container_of(output)
        request = export_request.ExportRequest.build(
            image_ids,
            None if mosaic is None else dict(urllib.parse.parse_qsl(mosaic)),
            tile_format=fmt,
            container=container,
            bbox=bbox,
            minzoom=low,
            maxzoom=high,
            rendering=export_request.rendering_from_json(
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
    except export_request.ExportError as exc:
        raise click.UsageError(str(exc)) from None
    except OamPreviewError as exc:
        raise click.UsageError(exc.message) from None
    settings = command_settings(catalog=catalog)
    bar: Any = None

    def started(total: int, pending: int) -> None:
        nonlocal bar
        bar = progress_of(f"exporting {output.name}", pending, "tiles")
        bar.__enter__()

    try:
        outcome = export.export(
            settings, request, output, processes, max_tiles, started=started, progress=lambda n: bar.update(n)
        )
    except export_request.ExportError as exc:
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
