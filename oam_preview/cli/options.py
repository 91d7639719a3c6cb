"""What the commands share: the group that turns system errors into one line, the option
parsers (one for a zoom range, one for a bbox), the settings a command runs with (the
``catalog or demo`` switch applied), progress on stderr and the process's warnings policy."""

from __future__ import annotations

import errno
import os
import sqlite3
import stat
import sys
import warnings
from pathlib import Path
from typing import Any

import click

from ..config import Settings


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


def quiet_library_warnings() -> None:
    """The process's one warnings policy, set by the command group before any command runs.

    The libraries' warnings (rasterio's ``NotGeoreferencedWarning``, rio-cogeo's notes,
    numpy's ``RuntimeWarning`` on a nodata-only block) are not shown: a command says what
    matters in its own lines, a server in its log. Forked gunicorn workers inherit the filter.
    ``python -W …`` or ``PYTHONWARNINGS`` still win: whoever set them asked to see them.
    """
    if not sys.warnoptions:
        warnings.simplefilter("ignore")


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


def zoom_range(ctx: click.Context, param: click.Parameter, text: str | None) -> tuple[int, int] | None:
    """A ``--zoom`` option: a zoom (``14``) or a range (``12-16``) as ``(lowest, highest)``,
    zooms of the Web Mercator grid; ``None`` when not given."""
    if text is None:
        return None
    low, _, high = text.partition("-")
    try:
        zooms = int(low), int(high or low)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a zoom or a range of zooms, e.g. 12-16") from None
    if not 0 <= zooms[0] <= zooms[1]:
        raise click.BadParameter(f"{text!r}: zooms from 0 up, the lowest first, e.g. 12-16")
    return zooms


def bbox_of(
    ctx: click.Context, param: click.Parameter, text: str | None
) -> tuple[float, float, float, float] | None:
    """A ``--bbox`` option: ``west,south,east,north`` in degrees (EPSG:4326); ``None`` when
    not given."""
    if text is None:
        return None
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise click.BadParameter(f"{text!r} is not west,south,east,north in degrees") from None
    if len(values) != 4:
        raise click.BadParameter("--bbox is west,south,east,north")
    return values[0], values[1], values[2], values[3]


def command_settings(*, serve_demo: bool = True, **overrides: str | None) -> Settings:
    """The settings a command runs with: ``OAM_PREVIEW_*`` from the environment, the command's
    options (``catalog="…"``: ``OAM_PREVIEW_CATALOG``; ``None`` or "": not given) over them and,
    unless ``serve_demo`` is false, the demo served when the catalog is the demo
    (:func:`~oam_preview.demo.switch.serving_config`). A bad value is a usage error."""
    given = {f"OAM_PREVIEW_{name.upper()}": value for name, value in overrides.items() if value}
    try:
        if not serve_demo:
            return Settings.from_mapping({**os.environ, **given})
        from ..demo.switch import serving_settings

        return serving_settings({**os.environ, **given})
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


def progress_of(label: str, total: int, unit: str) -> Any:
    """The progress of ``total`` ``unit`` on stderr, a context manager with ``update(n)``: click's
    bar on a terminal, else :class:`~oam_preview.progress_lines.ProgressLines` (a bar off a
    terminal is silent until it ends)."""
    if sys.stderr.isatty():
        return click.progressbar(length=total, label=f"{label} ({unit})", file=sys.stderr)
    from ..progress_lines import ProgressLines

    return ProgressLines(label, total, unit)
