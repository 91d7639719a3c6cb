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
