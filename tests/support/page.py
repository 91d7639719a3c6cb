"""What the map page's browser tests ask of a page: its HTTP errors, its settled tile layers."""

from __future__ import annotations

import time
from typing import Any

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
