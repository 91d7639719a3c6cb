"""The ``oam-preview`` command: one module per command, added to the group here.

``serve``, ``thumbnail``, ``catalog``, ``check``, ``seed``, ``export``, ``worker``
and ``demo``; what they share (the option parsers, the settings a command runs
with, progress, the warnings policy) is in :mod:`.options`. A command module
imports what it runs when it runs, so ``oam-preview --help`` loads no GDAL.
"""

from __future__ import annotations

import click

from .catalog import catalog_command
from .check import check_command
from .demo import demo_command
from .export import export_command
from .options import Commands, quiet_library_warnings
from .seed import seed_command
from .serve import serve_command
from .thumbnail import thumbnail_command
from .worker import worker_command

__all__ = ["main"]


@click.group(cls=Commands)
@click.version_option(package_name="oam-preview")
def main() -> None:
    """Thumbnails, XYZ tiles, TileJSON and WMTS of remote GeoTIFFs listed in a catalog."""
    quiet_library_warnings()


for command in (
    serve_command,
    thumbnail_command,
    catalog_command,
    check_command,
    seed_command,
    export_command,
    worker_command,
    demo_command,
):
    main.add_command(command)
