"""The map page in real headless Chromium against the real app (issue 4)."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

import pytest
from playwright.sync_api import expect

from ..support.apps import serve_app
from ..support.catalog_documents import XSS_TITLE
from ..support.page import (
    ROW,
    assert_no_console_errors,
    by_id,
    expect_rows,
    goto,
    map_view_fragment,
    open_page,
    wait_js,
    wait_tiles,
)
from ..support.processes import free_port

pytestmark = pytest.mark.browser

# ---------------------------------------------------------------- listing


def test_list_shows_the_catalogs_images(browser_app, browser_page):
    page = browser_page
    goto(page, browser_app)
    expect(page.locator("#count")).to_have_text("4 images match")
    expect_rows(page, {i.id for i in browser_app.images})
    korea = page.locator(f"{ROW}[data-id='korea-aerial']")
    expect(korea.locator(".title")).to_have_text("Korea ski slope aerial")
    # The product type once the worker has read the file (earlier tests may have shown it).
    expect(korea.locator(".facts")).to_have_text(re.compile(r"^2019-02-10 · 15 cm( · visual)?$"))
    expect(korea.locator(".who")).to_have_text("Drone Team · CC-BY 4.0")
    # Thumbnails come from the server's thumbnail endpoint and decode.
    wait_js(
        page,
        "() => [...document.querySelectorAll('.row img.thumb')]"
        ".every(img => img.complete && img.naturalWidth > 0)",
    )
    thumbs = page.probe.statuses(browser_app.host, "/thumbnail.")
    assert thumbs and set(thumbs) <= {200, 304}
    assert_no_console_errors(page)


def test_only_in_view_follows_panning(browser_app, browser_page):
    page = browser_page
    korea = by_id(browser_app, "korea-aerial")
    bahamas = by_id(browser_app, "bahamas-landsat")
    goto(page, browser_app, map_view_fragment(*korea.center, 15, "&inview=1"))
    expect(page.locator("#f-inview")).to_be_checked()
    expect(page.locator("#count")).to_have_text("1 image matches in view")
    expect_rows(page, {"korea-aerial"})

    page.evaluate("([lat, lng]) => oamPreview.map.setView([lat, lng], 7)", list(bahamas.center))
    expect_rows(page, {"bahamas-landsat"})

    # A real drag: the Bahamas (about 220 px wide at zoom 7) leave the view.
    box = page.locator("#map").bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x - 300, y, steps=5)
    page.mouse.move(x - 700, y, steps=5)
    page.mouse.up()
    expect(page.locator("#count")).to_have_text("0 images match in view")
    expect_rows(page, set())

    page.locator("#f-inview").uncheck()
    expect(page.locator("#count")).to_have_text("4 images match")
    assert_no_console_errors(page)


def test_search_and_dates_filter(browser_app, browser_page):
    page = browser_page
    goto(page, browser_app)
    expect_rows(page, {i.id for i in browser_app.images})
    page.locator("#f-q").fill("bahamas")
    expect(page.locator("#count")).to_have_text("1 image matches")
    expect_rows(page, {"bahamas-landsat"})
    page.locator("#f-q").fill("drone team")  # provider, any case
    expect_rows(page, {"korea-aerial"})
    page.locator("#f-q").fill("")
    page.locator("#f-after").fill("2020-01-01")
    expect_rows(page, {"colorado-rgba", "hostile-title"})
    page.locator("#f-before").fill("2020-12-31")
    expect_rows(page, {"colorado-rgba"})
    assert "after=2020-01-01" in page.url and "before=2020-12-31" in page.url
    assert_no_console_errors(page)


# ------------------------------------------------------------------ layers


def test_clicking_adds_layers_whose_tiles_load(browser_app, browser_chromium):
    context, page, probe = open_page(browser_chromium, permissions=["clipboard-read", "clipboard-write"])
    page.probe = probe
    try:
        goto(page, browser_app)
        page.locator(f"{ROW}[data-id='korea-aerial']").click()
        card = page.locator(".card[data-id='korea-aerial']")
        expect(card).to_be_visible()
        expect(page.locator(f"{ROW}[data-id='korea-aerial']")).to_have_attribute("aria-selected", "true")
        statuses = wait_tiles(page, browser_app.host, 4)
        assert statuses.count(200) >= 4, statuses
        assert all(s in (200, 304) for s in statuses), statuses
        wait_js(
            page,
            "() => [...document.querySelectorAll('.image-layer img')].some(i => i.complete && i.naturalWidth === 256)",
        )

        # An image's TileJSON minzoom must not stop the map from zooming out.
        assert page.evaluate("() => oamPreview.map.getMinZoom()") == 0
        expect(page.locator(".leaflet-control-zoom-out")).not_to_have_class(re.compile("disabled"))

        # Opacity: the slider drives the layer and the URL.
        card.locator("input.opacity").fill("0.5")
        expect(page.locator(".image-layer").first).to_have_css("opacity", "0.5")
        wait_js(page, "() => location.hash.includes('sel=korea-aerial~0.5')")

        # Editor links and copy buttons.
        template = page.evaluate(
            "() => oamPreview.state.selected.get('korea-aerial').feature.properties.tiles"
        )
        assert "{z}/{x}/{y}" in template and template.startswith(browser_app.host)
        id_href = card.get_by_role("link", name="Open in iD").get_attribute("href")
        prefix = "https://www.openstreetmap.org/edit?editor=id#background=custom:"
        assert id_href.startswith(prefix)
        assert unquote(id_href[len(prefix) :].split("&")[0]) == template
        josm_href = card.get_by_role("link", name="Open in JOSM").get_attribute("href")
        assert josm_href.startswith("http://127.0.0.1:8111/imagery?title=")
        assert "type=tms" in josm_href
        assert unquote(josm_href.split("&url=")[1]) == template.replace("{z}", "{zoom}")
        card.get_by_role("button", name="Copy XYZ").click()
        expect(page.locator("#toast")).to_have_text("Copied XYZ URL")
        assert page.evaluate("() => navigator.clipboard.readText()") == template
        card.get_by_role("button", name="Copy TileJSON").click()
        tilejson_url = page.evaluate("() => navigator.clipboard.readText()")
        assert page.request.get(tilejson_url).json()["tiles"]

        # Several at once, stacked.
        page.locator(f"{ROW}[data-id='bahamas-landsat']").click()
        expect(page.locator(".card")).to_have_count(2)
        expect(page.locator(".image-layer")).to_have_count(2)

        # A second click removes one; the close button the other.
        page.locator(f"{ROW}[data-id='korea-aerial']").click()
        expect(page.locator(".card")).to_have_count(1)
        expect(page.locator(".image-layer")).to_have_count(1)
        page.get_by_role("button", name="Remove Bahamas satellite mosaic from the map").click()
        expect(page.locator(".image-layer")).to_have_count(0)
        expect(page.locator("#selected")).to_be_hidden()
        assert "sel=" not in page.url
        assert_no_console_errors(page)
    finally:
        context.close()


def test_hover_highlights_both_ways(browser_app, browser_page):
    page = browser_page
    korea = by_id(browser_app, "korea-aerial")
    goto(page, browser_app, map_view_fragment(*korea.center, 16))
    wait_js(page, "() => oamPreview.footprints.byId.has('korea-aerial')")
    hover_color = page.evaluate("() => oamPreview.STYLE.hover.color")
    footprint_color = "() => oamPreview.footprints.byId.get('korea-aerial').options.color"

    page.locator(f"{ROW}[data-id='korea-aerial']").hover()
    assert page.evaluate(footprint_color) == hover_color
    page.locator("#toolbar").hover()
    assert page.evaluate(footprint_color) != hover_color

    # The footprint fills the view at zoom 16: hover the map's middle.
    box = page.locator("#map").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    expect(page.locator(f"{ROW}[data-id='korea-aerial']")).to_have_class(re.compile(r"\bhover\b"))
    assert page.evaluate(footprint_color) == hover_color
    assert_no_console_errors(page)


def test_keyboard_selects_from_the_list(browser_app, browser_page):
    page = browser_page
    goto(page, browser_app)
    expect_rows(page, {i.id for i in browser_app.images})
    page.locator("#list").focus()
    page.keyboard.press("ArrowDown")
    first = page.locator(".row.active")
    expect(first).to_have_count(1)
    first_id = first.get_attribute("data-id")
    assert page.locator("#list").get_attribute("aria-activedescendant") == first.get_attribute("id")
    page.keyboard.press("Enter")
    expect(page.locator(f".card[data-id='{first_id}']")).to_be_visible()
    page.keyboard.press("End")
    last_id = page.locator(".row.active").get_attribute("data-id")
    assert last_id != first_id
    page.keyboard.press(" ")
    expect(page.locator(".card")).to_have_count(2)
    page.keyboard.press("Home")
    page.keyboard.press("Enter")  # the first again: removed
    expect(page.locator(".card")).to_have_count(1)
    assert_no_console_errors(page)


# ---------------------------------------------------------- safety / state


def test_hostile_title_renders_as_text(browser_app, browser_page):
    page = browser_page
    goto(page, browser_app)
    row = page.locator(f"{ROW}[data-id='hostile-title']")
    expect(row.locator(".title")).to_have_text(XSS_TITLE)
    expect(row.locator(".who")).to_have_text("<b>Bold</b> & Co · <i>odd</i>")
    row.click()
    card = page.locator(".card[data-id='hostile-title']")
    expect(card.locator(".card-title")).to_have_text(XSS_TITLE)
    expect(card.locator(".actions a")).to_have_count(2)
    card.locator(".details summary").click()
    expect(card.locator("dd").first).to_have_text(XSS_TITLE)
    page.wait_for_timeout(500)
    assert page.evaluate("() => window.__xss") is None
    assert page.locator("img[src='x']").count() == 0
    assert page.locator(".leaflet-control-attribution b, .leaflet-control-attribution i").count() == 0
    assert_no_console_errors(page)


def test_a_link_reproduces_the_view(browser_app, browser_chromium, browser_page):
    page = browser_page
    goto(page, browser_app)
    page.locator("#f-q").fill("a")  # matches every title here but one
    page.locator(f"{ROW}[data-id='korea-aerial']").click()
    page.locator(".card input.opacity").fill("0.7")
    wait_js(page, "() => location.hash.includes('korea-aerial~0.7')")
    page.wait_for_timeout(1500)  # the fly-to ends and the view lands in the URL
    link = page.url
    view = page.evaluate("() => [oamPreview.map.getZoom(), oamPreview.map.getCenter()]")

    context, other, probe = open_page(browser_chromium)
    other.probe = probe
    try:
        other.goto(link)
        expect(other.locator("#f-q")).to_have_value("a")
        card = other.locator(".card[data-id='korea-aerial']")
        expect(card).to_be_visible()
        expect(card.locator("input.opacity")).to_have_value("0.7")
        expect(other.locator(".image-layer")).to_have_count(1)
        again = other.evaluate("() => [oamPreview.map.getZoom(), oamPreview.map.getCenter()]")
        assert again[0] == view[0]
        assert abs(again[1]["lat"] - view[1]["lat"]) < 1e-4
        assert abs(again[1]["lng"] - view[1]["lng"]) < 1e-4
        assert_no_console_errors(other)
    finally:
        context.close()
    assert_no_console_errors(page)


def test_works_under_a_url_prefix(browser_prefixed_app, browser_page):
    page = browser_page
    live = browser_prefixed_app
    assert live.root.endswith("/tools/oam")
    goto(page, live)
    expect_rows(page, {i.id for i in live.images})
    page.locator(f"{ROW}[data-id='korea-aerial']").click()
    statuses = wait_tiles(page, live.host, 2)
    assert statuses.count(200) >= 2, statuses
    own = [url for _, url in page.probe.responses if url.startswith(live.host)]
    assert own and all(urlsplit(url).path.startswith("/tools/oam/") for url in own), own
    assert all(status < 400 for status, url in page.probe.responses if url.startswith(live.host))
    assert_no_console_errors(page)


def test_page_stays_usable_when_the_basemap_fails(browser_catalog, browser_images, browser_page):
    page = browser_page
    # A port nothing listens on: every base map tile fails to connect.
    dead_port = free_port()
    basemap = f"http://127.0.0.1:{dead_port}/{{z}}/{{x}}/{{y}}.png"
    with serve_app(browser_catalog, images=browser_images, basemap=basemap) as live:
        goto(page, live)
        expect(page.locator("#toast")).to_have_text(
            "The base map could not be loaded: showing the offline one"
        )
        expect_rows(page, {i.id for i in live.images})
        page.locator(f"{ROW}[data-id='korea-aerial']").click()
        assert wait_tiles(page, live.host, 2).count(200) >= 2
    # Only the base map's own failures reach the console.
    assert all("ERR_CONNECTION_REFUSED" in e for e in page.probe.console_errors), page.probe.console_errors


# ------------------------------------------------------------ screenshots


def test_screenshots_for_a_person(browser_app, browser_chromium, browser_artifacts):
    """Desktop and 375 px phone views with a layer shown, under tests/artifacts/."""
    korea = by_id(browser_app, "korea-aerial")
    for name, width, height in (
        ("map-page.png", 1280, 800),
        ("map-page-phone.png", 375, 740),
    ):
        context, page, probe = open_page(browser_chromium, width=width, height=height)
        page.probe = probe
        try:
            goto(page, browser_app)
            page.locator(f"{ROW}[data-id='korea-aerial']").click()
            wait_tiles(page, browser_app.host, 4)
            wait_js(
                page,
                "() => [...document.querySelectorAll('.image-layer img')].filter(i => i.complete).length >= 4",
            )
            page.wait_for_timeout(1200)  # the fly-to settles
            assert page.evaluate("() => document.documentElement.scrollWidth") <= width
            page.screenshot(path=str(browser_artifacts / name))
            assert (browser_artifacts / name).stat().st_size > 10_000
            assert korea.id in page.url
            assert_no_console_errors(page)
        finally:
            context.close()
