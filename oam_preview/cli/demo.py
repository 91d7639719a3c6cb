"""``oam-preview demo``: the embedded demo's images built (once), their directory printed."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("demo")
@click.option(
    "--dir",
    "directory",
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to write the images (default: the user's cache directory).",
)
def demo_command(directory: Path | None) -> None:
    """Build the embedded demo images (once) and print where they are."""
    from ..demo.images import build

    click.echo(build(directory))
