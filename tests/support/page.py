"""The map page's browser helpers (headless Debian Chromium + Playwright): a page that records its
console errors and responses, the waits and look-ups the page tests share, and what they ask of a
page (its HTTP errors, its settled tile layers, its pixels).

Every wait is bounded and polls (no fixed sleeps), so a slow machine only makes a test slower.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .apps import LiveApp
from .catalog_documents import Image

if TYPE_CHECKING:  # playwright is imported by the tests that drive a browser, not by their helpers
    from playwright.sync_api import Page

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "tests" / "artifacts"
CHROMIUM = os.environ.get("OAM_PREVIEW_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

#: A row of the list that stands for an image (not a placeholder).
ROW = ".row[data-id]:not([data-id=''])"


@dataclass
class PageProbe:
    """What a page said on its console and which responses it got."""

    console_errors: list[str] = field(default_factory=list)
    responses: list[tuple[int, str]] = field(default_factory=list)

    def statuses(self, host: str, contains: str) -> list[int]:
        return [s for s, url in self.responses if url.startswith(host) and contains in url]


def open_page(browser: Any, *, width: int = 1280, height: int = 800, **context_options: Any):
    """A fresh context and page, with console errors and responses recorded."""
    context = browser.new_context(viewport={"width": width, "height": height}, **context_options)
    page = context.new_page()
    probe = PageProbe()
    page.on(
        "console",
        lambda msg: probe.console_errors.append(msg.text) if msg.type == "error" else None,
    )
    page.on("pageerror", lambda exc: probe.console_errors.append(f"uncaught: {exc}"))
    page.on(
        "response",
        lambda response: probe.responses.append((response.status, response.url)),
    )
    page.set_default_timeout(20_000)
    return context, page, probe


def offline_page(browser: Any, live: LiveApp, width: int = 1280, height: int = 800, **context_options: Any):
    """A page whose every request outside the app is aborted; the aborted URLs are kept."""
    context, page, probe = open_page(browser, width=width, height=height, **context_options)
    page.probe = probe
    page.blocked = []

    def route(route):
        if route.request.url.startswith(live.host):
            route.continue_()
        else:
            page.blocked.append(route.request.url)
            route.abort()

    context.route("**/*", route)
    return context, page


def by_id(live: LiveApp, image_id: str) -> Image:
    return next(i for i in live.images if i.id == image_id)


def goto(page: Page, live: LiveApp, fragment: str = "") -> None:
    from playwright.sync_api import expect

    page.goto(live.page_url + fragment)
    expect(page.locator("#count")).to_contain_text("match")


def row_ids(page: Page) -> set[str]:
    return set(page.eval_on_selector_all(ROW, "rows => rows.map(r => r.dataset.id)"))


def expect_rows(page: Page, ids: set[str]) -> None:
    """Wait until the list shows exactly ``ids``."""
    deadline = time.monotonic() + 20
    while row_ids(page) != ids or page.locator(".row.placeholder").count():
        if time.monotonic() > deadline:
            raise AssertionError(f"list shows {row_ids(page)}, expected {ids}")
        page.wait_for_timeout(100)


def wait_tiles(page: Page, host: str, minimum: int, timeout: float = 30) -> list[int]:
    """Wait for at least ``minimum`` 200 tile responses from the app; return all tile statuses."""
    deadline = time.monotonic() + timeout
    while True:
        statuses = page.probe.statuses(host, "/tiles/")
        if statuses.count(200) >= minimum or time.monotonic() > deadline:
            return statuses
        page.wait_for_timeout(200)


def wait_js(page: Page, predicate: str, timeout: float = 20) -> None:
    """Poll ``predicate`` (a JS function) until truthy; plain evaluate, so no CSP or rAF quirks."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(predicate):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {predicate}")
        page.wait_for_timeout(100)


def assert_no_console_errors(page: Page) -> None:
    assert page.probe.console_errors == []


def map_view_fragment(lat: float, lng: float, zoom: int, extra: str = "") -> str:
    """The page's URL fragment of a map view: centre in EPSG:4326 degrees, a zoom level."""
    return f"#map={zoom}/{lat:.6f}/{lng:.6f}{extra}"


# True once every tile <img> of the layers matching a CSS selector has loaded or failed.
TILES_SETTLED = """selector => {
  const imgs = [...document.querySelectorAll(selector + ' img.leaflet-tile')];
  return imgs.length > 0 && imgs.every(i => i.complete);
}"""


def wait_until(page: Any, predicate: str, arg: Any = None, timeout: float = 20) -> None:
    """Poll ``predicate`` (a JS function of ``arg``) until truthy (plain evaluate: no CSP quirks)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(predicate, arg):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {predicate} ({arg})")
        page.wait_for_timeout(100)


def http_errors(probe: Any, host: str) -> list[tuple[int, str]]:
    """The app's responses of status 400 and over the page got, path and query only."""
    return [
        (status, url[len(host) :])
        for status, url in probe.responses
        if url.startswith(host) and status >= 400
    ]


def settle(page: Any, selector: str, quiet_ms: int = 1500) -> None:
    """Wait until the tiles of ``selector``'s layers have all answered and no new request came
    for ``quiet_ms`` (a layer that asks more tiles once the footprints answer does it by then)."""
    wait_until(page, TILES_SETTLED, selector)
    while True:
        seen = len(page.probe.responses)
        page.wait_for_timeout(quiet_ms)
        if len(page.probe.responses) == seen:
            return


def map_patch(page: Any, size: int = 40, dx: int = -120, dy: int = 80) -> Any:
    """The RGB pixels (numpy, int) of a ``size`` px square ``dx``, ``dy`` px from the map's middle
    (by default off the middle, where a hover's tooltip would be)."""
    import io

    import numpy as np
    from PIL import Image

    png = page.locator("#map").screenshot()
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    h, w, _ = pixels.shape
    y, x = h // 2 + dy - size // 2, w // 2 + dx - size // 2
    return pixels[y : y + size, x : x + size]


def hover_map_middle(page: Any) -> None:
    """The mouse over the middle of the map."""
    box = page.locator("#map").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
