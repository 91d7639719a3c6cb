"""``oam-preview check SOURCE`` (and ``oam-preview catalog SOURCE --report``): health reports on
the command line (:mod:`oam_preview.tiler.checkup`), as text or JSON.

A local file is served by the project's Range file server on loopback while it is
checked, so its report is the one it will have once published: every request and byte
counted, its sidecars asked for as a web server would be.
"""

from __future__ import annotations

import concurrent.futures
import json
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import click

from ..config import Settings

if TYPE_CHECKING:  # loaded by the command that runs, not by the others
    from ..tiler.health_report import Report

#: Columns of a finding's code in the text report.
CODE_WIDTH = 24


@click.command("check")
@click.argument("source")
@click.option("--json", "as_json", is_flag=True, help="The report as JSON.")
def check_command(source: str, as_json: bool) -> None:
    """Is SOURCE (a GeoTIFF URL or local path) ready to serve? Its health report: findings,
    measured cost and the command that fixes it. Exit status 0 ready, 1 warnings, 2 not servable."""
    sys.exit(check_source(source, as_json))


@contextmanager
def served(source: str) -> Iterator[str]:
    """The URL ``source`` is read at: itself, or a local file served from its directory on loopback."""
    if "://" in source:
        yield source
        return
    path = Path(source)
    if not path.is_file():
        raise click.ClickException(f"{source}: no such file")
    from ..demo.fileserver import FileServer

    with FileServer(path.resolve().parent) as server:
        yield f"{server.url}/{path.name}"


def check_source(source: str, as_json: bool, out: TextIO | None = None) -> int:
    """Print ``source``'s report; its exit status (0 ready, 1 warnings, 2 not servable)."""
    from ..tiler.checkup import check

    # The operator's own file on the command line, not a catalog record: no address is refused.
    settings = replace(Settings.from_env(), upstream_allow="any")
    with served(source) as url:
        report = replace(check(url, settings), source=source)
    print(json.dumps(report.to_dict(), indent=2) if as_json else text(report), file=out or sys.stdout)
    return report.exit_code


def text(report: Report) -> str:
    """The report for a terminal: the grade, each finding and its fix, the measured reads."""
    verdict = {"ok": "ready", "warning": "served, with warnings", "not_servable": "not servable"}[
        report.grade
    ]
    lines = [f"{report.source}: {report.grade} ({verdict})"]
    for finding in report.findings:
        if finding.code == "cost":
            continue
        lines.append(f"  {finding.severity:<8} {finding.code:<{CODE_WIDTH}} {finding.message}")
    cost = next((f for f in report.findings if f.code == "cost"), None)
    if cost is not None:
        lines.append("  reads (requests, bytes; an ideal COG's in brackets):")
        for read in cost.evidence["reads"]:
            measured = (
                "not counted" if read["requests"] is None else f"{read['requests']} req, {read['bytes']:,} B"
            )
            ideal = f"[{read['minimum_requests']} req, {read['minimum_bytes']:,} B]"
            failed = f"  failed: {read['error']}" if read["error"] else ""
            lines.append(f"    {read['read']:<22} {measured:<24} {ideal} {read['seconds']:.2f} s{failed}")
    if report.requests is not None:
        lines.append(f"  this report: {report.requests} upstream requests, {report.bytes:,} bytes")
    if report.fix:
        lines.append(f"fix: {report.fix}")
    return "\n".join(lines)


def report_catalog(source: str, as_json: bool, concurrency: int, out: TextIO | None = None) -> int:
    """Grade every image of the catalog ``source``, ``concurrency`` files at once, with a progress
    bar; print a table (or JSON) and the count of each finding. The exit status of the worst."""
    from ..catalog.served import served_catalog
    from ..tiler.checkup import check

    out = out or sys.stdout
    settings = Settings.from_env()
    catalog = served_catalog(source, settings)  # private ones too: the operator's own report
    reports: list[Report] = []
    with (
        concurrent.futures.ThreadPoolExecutor(concurrency) as pool,
        click.progressbar(length=len(catalog), label="checking", file=sys.stderr) as bar,
    ):
        futures = [pool.submit(check, image.source_url, settings, None, image.id) for image in catalog.images]
        for future in concurrent.futures.as_completed(futures):
            reports.append(future.result())
            bar.update(1)
    reports.sort(key=lambda r: r.image_id or "")
    counts = Counter(code for report in reports for code in report.problems())
    grades = Counter(report.grade for report in reports)
    if as_json:
        doc: dict[str, Any] = {
            "source": source,
            "grades": dict(grades),
            "findings": dict(counts),
            "reports": [r.to_dict() for r in reports],
        }
        print(json.dumps(doc, indent=2), file=out)
    else:
        width = max((len(r.image_id or "") for r in reports), default=2)
        for report in reports:
            print(
                f"{report.image_id or '':<{width}}  {report.grade:<12}  {', '.join(report.problems())}",
                file=out,
            )
        print(
            f"\n{len(reports)} images: " + ", ".join(f"{n} {g}" for g, n in sorted(grades.items())), file=out
        )
        for code, n in counts.most_common():
            print(f"  {n:>5}  {code}", file=out)
    return max((r.exit_code for r in reports), default=0)
