"""``oam-preview catalog``: what a catalog source yields, or with ``--report`` every image's
health report."""

from __future__ import annotations

import sys

import click


@click.command("catalog")
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
    from ..catalog import CatalogError
    from ..catalog.report import print_report

    try:
        if graded:
            from .check import report_catalog

            sys.exit(report_catalog(source, as_json, concurrency))
        print_report(source, sys.stdout, first=first)
    except CatalogError as exc:
        raise click.ClickException(str(exc)) from None
