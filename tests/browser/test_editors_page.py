"""The page's "Open in iD", "Open in JOSM" and "Copy TMS URL", per image and for the mosaic, in
real headless Chromium; JOSM's remote control is a fake on loopback that records what it gets."""

from __future__ import annotations

import http.server
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from playwright.sync_api import expect

from ..support.apps import LiveApp, serve_app
from ..support.loopback import LoopbackServer
from ..support.page import ROW, by_id, goto, map_view_fragment, open_page, wait_js

pytestmark = pytest.mark.browser

ID_EDITOR = "https://www.openstreetmap.org/edit?editor=id#"


class FakeJosm(http.server.BaseHTTPRequestHandler):
    """JOSM's remote control as it answers a command: ``OK``, with CORS; every request kept."""

    requests: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        type(self).requests.append(self.path)
        body = b"OK\r\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def fake_josm() -> Iterator[LoopbackServer]:
    FakeJosm.requests = []
    with LoopbackServer(FakeJosm) as server:
        yield server


@pytest.fixture(scope="module")
def editors_app(browser_catalog, browser_images, fake_josm) -> Iterator[LiveApp]:
    config = {"OAM_PREVIEW_JOSM_REMOTE_CONTROL": fake_josm.url}
    with serve_app(browser_catalog, images=browser_images, config=config) as live:
        yield live


def follow(context: Any, page: Any, link: Any) -> str:
    """Click an editor link (it opens a new tab) and return the URL that tab went to."""
    with context.expect_page() as opened:
        link.click()
    popup = opened.value
    popup.wait_for_load_state()
    url = popup.url
    popup.close()
    return url


def josm_command(before: int) -> dict[str, list[str]]:
    """The query of the one imagery command the fake JOSM got after its first ``before`` requests."""
    new = FakeJosm.requests[before:]
    imagery = [p for p in new if p.startswith("/imagery?")]
    assert len(imagery) == 1, new
    # JOSM reads everything after `url=` as the URL: parse it as JOSM does.
    head, _, url = imagery[0].partition("&url=")
    command = parse_qs(urlsplit(head).query)
    command["url"] = [unquote(url)]
    return command


def test_open_in_id_and_josm_per_image_and_for_the_mosaic(editors_app, browser_chromium, fake_josm):
    context, page, probe = open_page(browser_chromium, permissions=["clipboard-read", "clipboard-write"])
    page.probe = probe
    # iD is not reached: its page is answered here, the URL (and its hash) is what matters.
    context.route(
        "https://www.openstreetmap.org/**", lambda route: route.fulfill(body="iD", content_type="text/html")
    )
    try:
        korea = by_id(editors_app, "korea-aerial")
        goto(page, editors_app, map_view_fragment(*korea.center, 15))
        page.locator(f"{ROW}[data-id='korea-aerial']").click()
        card = page.locator(".card[data-id='korea-aerial']")
        expect(card).to_be_visible()
        wait_js(page, "() => !!oamPreview.state.selected.get('korea-aerial').tilejson")
        template = page.evaluate(
            "() => oamPreview.state.selected.get('korea-aerial').feature.properties.tiles"
        )
        tms = template.replace("{z}", "{zoom}")

        # JOSM: the fake remote control gets the imagery command with the TMS template.
        before = len(FakeJosm.requests)
        follow(context, page, card.get_by_role("link", name="Open in JOSM"))
        command = josm_command(before)
        assert command["type"] == ["tms"]
        assert command["title"] == ["Korea ski slope aerial"]
        assert command["url"] == [tms]
        maxzoom = page.evaluate("() => oamPreview.state.selected.get('korea-aerial').tilejson.maxzoom")
        assert command["max_zoom"] == [str(maxzoom)]

        # iD: the custom background and the changeset's source, prefilled.
        url = follow(context, page, card.get_by_role("link", name="Open in iD"))
        assert url.startswith(ID_EDITOR)
        params = dict(p.split("=", 1) for p in url[len(ID_EDITOR) :].split("&"))
        assert unquote(params["background"]) == f"custom:{template}"
        assert unquote(params["source"]) == "Drone Team, Korea ski slope aerial, 2019-02-10"
        assert params["map"].count("/") == 2

        # The fallback: the TMS template to paste.
        card.get_by_role("button", name="Copy TMS URL").click()
        expect(page.locator("#toast")).to_have_text("Copied TMS URL")
        assert page.evaluate("() => navigator.clipboard.readText()") == tms

        # The mosaic of the current filters.
        page.fill("#f-q", "Korea")
        page.locator("#f-mosaic").check()
        actions = page.locator("#mosaic-actions")
        expect(actions.get_by_role("link", name="Open in JOSM")).to_be_visible()
        wait_js(page, "() => (oamPreview.mosaic.tilejson || {tiles: ['']}).tiles[0].includes('q=Korea')")
        mosaic_template = page.evaluate("() => oamPreview.mosaic.tilejson.tiles[0]")
        before = len(FakeJosm.requests)
        follow(context, page, actions.get_by_role("link", name="Open in JOSM"))
        command = josm_command(before)
        assert command["url"] == [mosaic_template.replace("{z}", "{zoom}")]
        mosaic_url = urlsplit(command["url"][0])
        assert mosaic_url.path.endswith("/api/mosaic/tiles/{zoom}/{x}/{y}.png")
        assert parse_qs(mosaic_url.query)["q"] == ["Korea"]
        url = follow(context, page, actions.get_by_role("link", name="Open in iD"))
        assert unquote(dict(p.split("=", 1) for p in url[len(ID_EDITOR) :].split("&"))["background"]) == (
            f"custom:{mosaic_template}"
        )
        actions.get_by_role("button", name="Copy TMS URL").click()
        expect(page.locator("#toast")).to_have_text("Copied mosaic TMS URL")
        assert page.evaluate("() => navigator.clipboard.readText()") == mosaic_template.replace(
            "{z}", "{zoom}"
        )
    finally:
        context.close()
