"""Measure the map page with a large catalog: shared by the slow test (browser/test_scale.py)
and benchmarks/page_load.py.

Figures come from the page's own ``performance`` marks (see ``markListRendered``
in static/app.js), so they are what a user would wait for, not the polling
interval of the test.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass

from .page import ROW


@dataclass
class Figures:
    records: int
    first_list_render_ms: float  # navigation start -> first rows with titles
    first_footprints_ms: float  # navigation start -> footprints of the view drawn
    list_dom_rows: int  # rows in the DOM with the whole catalog listed
    footprints_drawn: int  # GeoJSON outlines on the map (none when the footprints come as vector tiles)
    footprint_tiles: bool  # the view matches more than a page: footprints as vector tiles
    pan_list_ms: float  # pan (only-in-view on) -> list of the new view shown, debounce included
    pan_footprints_ms: float  # same pan -> its footprints drawn
    pan_timeline_ms: float  # same pan -> the timeline of the new view drawn (issue 20: <= 300 ms)
    scroll_ms: float  # jump to the middle of the list -> its rows filled
    longest_task_ms: float  # longest main-thread task seen after load (responsiveness)

    def report(self) -> str:
        return "\n".join(
            f"  {k:22} {v:>10.1f}" if isinstance(v, float) else f"  {k:22} {v:>10}"
            for k, v in asdict(self).items()
        )


def _wait(page, predicate: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not page.evaluate(predicate):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {predicate}")
        page.wait_for_timeout(20)


def _mark(page, name: str) -> float:
    return float(page.evaluate(f"() => performance.getEntriesByName({name!r}).at(-1).startTime"))


def measure(page, url: str, records: int) -> Figures:
    """Load ``url`` (the page of a catalog of ``records`` images) and time what matters."""
    page.goto(url)
    # Long tasks (> 50 ms) that would make the page feel stuck.
    page.evaluate(
        """() => { window.__longest = 0;
        new PerformanceObserver(l => { for (const e of l.getEntries())
          window.__longest = Math.max(window.__longest, e.duration); })
          .observe({type: 'longtask', buffered: true}); }"""
    )
    _wait(page, "() => performance.getEntriesByName('oam:first-list-render').length > 0")
    _wait(page, "() => performance.getEntriesByName('oam:footprints-drawn').length > 0")
    first_list = _mark(page, "oam:first-list-render")
    first_footprints = _mark(page, "oam:footprints-drawn")
    dom_rows = page.locator(".row").count()
    drawn = page.evaluate("() => oamPreview.footprints.byId.size")
    tiled = page.evaluate("() => oamPreview.footprints.tiles !== null")

    # Pan with "only in view" on: the list and the footprints follow the map.
    page.locator("#f-inview").check()
    _wait(page, "() => document.querySelector('#count').textContent.includes('in view')")
    page.wait_for_timeout(500)
    marks = (
        "() => ['oam:list-rendered', 'oam:footprints-drawn', 'oam:timeline-drawn']"
        ".map(n => performance.getEntriesByName(n).length)"
    )
    before = page.evaluate(marks)
    start = page.evaluate(
        "() => { const t = performance.now(); oamPreview.map.panBy([300, 120], {animate: false}); return t; }"
    )
    _wait(
        page,
        f"() => {{ const m = ({marks})(); return m[0] > {before[0]} && m[1] > {before[1]} && m[2] > {before[2]}; }}",
    )
    pan_list = _mark(page, "oam:list-rendered") - start
    pan_footprints = _mark(page, "oam:footprints-drawn") - start
    pan_timeline = _mark(page, "oam:timeline-drawn") - start

    # Jump to the middle of the whole catalog's list.
    page.locator("#f-inview").uncheck()
    _wait(
        page,
        "() => !document.querySelector('#count').textContent.includes('in view') && document.querySelector('#count').textContent.includes('match')",
    )
    page.wait_for_timeout(300)
    start = page.evaluate(
        "() => { const l = document.querySelector('#list'); const t = performance.now();"
        " l.scrollTop = l.scrollHeight / 2; return t; }"
    )
    _wait(
        page,
        f"() => document.querySelectorAll({json.dumps(ROW)}).length > 3 && !document.querySelector('.row.placeholder')"
        " && Number(document.querySelector('.row').dataset.index) > 1000",
    )
    scroll = float(page.evaluate("() => performance.now()") - start)
    longest = page.evaluate("() => window.__longest")
    return Figures(
        records,
        first_list,
        first_footprints,
        dom_rows,
        drawn,
        tiled,
        pan_list,
        pan_footprints,
        pan_timeline,
        scroll,
        float(longest),
    )
