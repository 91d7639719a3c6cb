"""``oam-preview thumbnail``: one image's thumbnail written to a file."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import click

from ..config import Settings
from .options import command_settings, writable_output


@click.command("thumbnail")
@click.argument("source")
@click.option(
    "-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path), callback=writable_output
)
@click.option("--catalog", default=None, help="Catalog to look SOURCE up in, when it is an id.")
@click.option("--max-size", default=256, show_default=True, type=click.IntRange(16, 1024))
def thumbnail_command(source: str, output: Path, catalog: str | None, max_size: int) -> None:
    """Write a thumbnail of SOURCE (a GeoTIFF path or URL, or a catalog image id)."""
    from ..catalog import Image
    from ..catalog.model import slugify
    from ..catalog.served import served_catalog
    from ..errors import OamPreviewError
    from ..remote.opener import Opener
    from ..tiler.imagery import Imagery
    from ..tiler.render import encode

    fmt = output.suffix.lstrip(".").lower() or "png"
    if fmt not in ("png", "jpg", "jpeg", "webp"):
        raise click.UsageError("the output name must end in .png, .jpg or .webp")
    if "://" in source or Path(source).exists():
        image = Image(id=slugify(Path(source).name), source_url=source)
        # The operator's own URL on the command line, not a catalog record: no policy applies.
        settings = replace(Settings.from_env(), upstream_allow="any")
    else:
        settings = command_settings(catalog=catalog)
        try:
            image = served_catalog(settings.catalog, settings).require(source)  # the operator's: private too
        except OamPreviewError as exc:
            raise click.ClickException(exc.message) from None
    try:
        body, _ = encode(Imagery(Opener(settings), settings).thumbnail(image, max_size), fmt)
    except OamPreviewError as exc:
        raise click.ClickException(f"{exc.code}: {exc.message}") from None
    output.write_bytes(body)
    click.echo(f"wrote {output} ({len(body)} bytes)", err=True)
