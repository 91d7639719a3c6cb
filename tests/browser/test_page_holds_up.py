"""The page holds up on the demo (issue 33, item 6), in Chromium, offline: tile layers ask no tile
where no image lies (zero console errors), the list shows at 1280x720 with compare on, the
compare selects say their dates, a failed thumbnail says so, hover does not tint the imagery,
the timeline reads, and the Rendering panel offers the server's 2-98 % values.
"""

from __future__ import annotations

import json
import re
from urllib.request import urlopen

import numpy as np
import pytest
from playwright.sync_api import expect

from tests.support.page import hover_map_middle, http_errors, map_patch, offline_page, settle, wait_until

from ..support.apps import serve_app
from ..support.catalog_documents import Image, write_catalog

pytestmark = pytest.mark.browser

BEIRA = "#map=16/-19.835000/34.853000"
MOSAIC_TILES = "/api/mosaic/tiles/"


@pytest.fixture(scope="module")
def demo_app(browser_demo):
    catalog, _ = browser_demo
    with serve_app(catalog, basemap="") as live:
        yield live


def test_the_world_view_with_the_mosaic_asks_no_tile_without_imagery(demo_app, browser_chromium):
    context, page = offline_page(browser_chromium, demo_app)
    try:
        page.goto(demo_app.page_url + "#mosaic=1")
        expect(page.locator("#count")).to_contain_text("match")
        wait_until(page, "() => performance.getEntriesByName('oam:first-view').length > 0")
        settle(page, ".mosaic-layer")
        mosaic = [s for s, url in page.probe.responses if MOSAIC_TILES in url]
        assert mosaic.count(200) >= 3, mosaic  # the imagery is there
        assert http_errors(page.probe, demo_app.host) == []
        assert page.probe.console_errors == []
    finally:
        context.close()


def test_comparing_beira_asks_no_tile_without_imagery(demo_app, browser_chromium):
    context, page = offline_page(browser_chromium, demo_app)
    try:
        page.goto(demo_app.page_url + BEIRA + "&compare=1")
        expect(page.locator("#count")).to_contain_text("match")
        settle(page, ".compare-left")
        settle(page, ".compare-right")
        for side in ("left", "right"):
            loaded = page.evaluate(
                "s => [...document.querySelectorAll('.compare-' + s + ' img.leaflet-tile')]"
                ".filter(i => i.naturalWidth > 0).length",
                side,
            )
            assert loaded >= 2, side
        assert http_errors(page.probe, demo_app.host) == []
        assert page.probe.console_errors == []
    finally:
        context.close()


LIST_ROWS_IN_VIEW = """() => {
  const list = document.getElementById('list').getBoundingClientRect();
  const visible = Math.min(list.bottom, window.innerHeight) - Math.max(list.top, 0);
  return Math.floor(visible / 76);
}"""

# The width (px) the text of a select's chosen option takes in its font, and the room it has.
SELECT_TEXT = """id => {
  const s = document.getElementById(id), style = getComputedStyle(s);
  const ctx = document.createElement('canvas').getContext('2d');
  ctx.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
  const text = s.options[s.selectedIndex].text;
  const room = s.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight) - 20;
  return {text, width: ctx.measureText(text).width, room};
}"""


def test_at_1280x720_with_compare_on_the_list_shows_and_the_sides_say_their_dates(
    demo_app, browser_chromium, browser_artifacts
):
    context, page = offline_page(browser_chromium, demo_app, width=1280, height=720)
    try:
        page.goto(demo_app.page_url + BEIRA)
        expect(page.locator("#count")).to_contain_text("match")
        page.locator("#f-compare").check()
        expect(page.locator("#f-split")).not_to_have_value("")
        page.wait_for_timeout(500)
        page.screenshot(path=str(browser_artifacts / "compare-1280x720.png"))
        assert page.evaluate("() => document.getElementById('sidebar').scrollTop") == 0
        assert page.evaluate(LIST_ROWS_IN_VIEW) >= 3
        split = page.locator("#f-split").input_value()
        for select in ("f-left", "f-right"):
            shown = page.evaluate(SELECT_TEXT, select)
            assert split in shown["text"], shown
            assert shown["width"] <= shown["room"], shown
        # The filters stay one click away, and come back as they were.
        toggle = page.locator("#filters-toggle")
        expect(toggle).to_have_attribute("aria-expanded", "false")
        toggle.click()
        expect(page.locator("#f-q")).to_be_visible()
        toggle.click()
        expect(page.locator("#f-q")).to_be_hidden()
        assert page.evaluate(LIST_ROWS_IN_VIEW) >= 3
        assert page.probe.console_errors == []
    finally:
        context.close()


KOREA = "korea-aerial"
ROW = "#list .row"


def korea_view(app) -> str:
    (korea,) = [i for i in app.images if i.id == KOREA]
    lat, lng = korea.center
    return f"#map=18/{lat:.6f}/{lng:.6f}"  # the layer shows from zoom 17


def test_hovering_a_shown_image_does_not_tint_it(browser_app, browser_page):
    page = browser_page
    page.goto(browser_app.page_url + korea_view(browser_app) + f"&sel={KOREA}")
    wait_until(page, "() => document.querySelectorAll('.image-layer img').length > 0")
    settle(page, ".image-layer")
    page.locator("#toolbar").hover()
    page.wait_for_timeout(300)
    before = map_patch(page)
    hover_map_middle(page)
    expect(page.locator(f"{ROW}[data-id='{KOREA}']")).to_have_class(re.compile(r"\bhover\b"))
    page.wait_for_timeout(300)
    during = map_patch(page)
    assert float(np.abs(during - before).mean()) < 2.0
    assert page.evaluate(f"() => oamPreview.footprints.byId.get('{KOREA}').options.fillOpacity") == 0
    assert page.probe.console_errors == []


def test_hovering_over_the_mosaic_does_not_tint_it(browser_app, browser_page):
    page = browser_page
    page.goto(browser_app.page_url + korea_view(browser_app) + "&mosaic=1")
    wait_until(page, f"() => oamPreview.footprints.byId.has('{KOREA}')")
    hover_map_middle(page)
    expect(page.locator(f"{ROW}[data-id='{KOREA}']")).to_have_class(re.compile(r"\bhover\b"))
    fill = f"() => oamPreview.footprints.byId.get('{KOREA}').options.fillOpacity"
    assert page.evaluate(fill) == 0
    # Without imagery under it the hover still fills the outline: it shows where the image is.
    page.locator("#f-mosaic").uncheck()
    page.locator("#toolbar").hover()
    hover_map_middle(page)
    wait_until(page, f"() => ({fill})() > 0")


# The timeline's bars and its "max N per …" label, as boxes on screen.
TIMELINE_BOXES = """() => {
  const box = n => { const r = n.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
  const chart = document.querySelector('.timeline-chart');
  return {
    chart: box(chart),
    bars: [...chart.querySelectorAll('.timeline-bar')].map(box),
    label: box([...chart.querySelectorAll('text')].find(t => t.textContent.startsWith('max '))),
  };
}"""


def overlaps(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@pytest.mark.parametrize("view", ["korea", "world"])
def test_the_timeline_label_is_off_its_bars_and_one_date_is_no_block(browser_app, browser_page, view):
    page = browser_page
    page.goto(browser_app.page_url + (korea_view(browser_app) if view == "korea" else ""))
    wait_until(page, "() => document.querySelectorAll('.timeline-bar').length > 0")
    page.wait_for_timeout(500)  # the first view's own answer
    boxes = page.evaluate(TIMELINE_BOXES)
    assert boxes["bars"]
    assert not [bar for bar in boxes["bars"] if overlaps(bar, boxes["label"])], boxes
    if view == "korea":  # one image in view, one date: a bar among a week of days
        width = boxes["chart"][2] - boxes["chart"][0]
        (bar,) = boxes["bars"]
        assert bar[2] - bar[0] <= width / 5, boxes
        assert page.evaluate("() => oamPreview.timeline.chart.bins.length") >= 7
    assert page.probe.console_errors == []


@pytest.fixture(scope="module")
def broken_app(tmp_path_factory, browser_geotiffs, browser_images):
    """The small catalog and one record whose file is not on its server (answered 404)."""
    korea = next(i for i in browser_images if i.id == KOREA)
    missing = Image(
        "missing-file",
        "no-such-file.tif",
        "A file gone from its server",
        korea.bbox,
        "2022-01-01",
        0.2,
        "Gone",
        "CC0",
    )
    images = [*browser_images, missing]
    path = write_catalog(tmp_path_factory.mktemp("broken") / "catalog.geojson", images, browser_geotiffs)
    with serve_app(path, images=images) as live:
        yield live


def test_a_failed_thumbnail_and_image_say_so(broken_app, browser_page):
    page = browser_page
    page.goto(broken_app.page_url + "#q=gone")
    row = page.locator(f"{ROW}[data-id='missing-file']")
    failed = row.locator(".thumb.failed")
    expect(failed).to_be_visible()
    expect(failed).to_have_attribute("title", re.compile("no preview", re.I))
    # Visibly not an empty white tile: it has a colour of its own.
    colour = failed.evaluate("n => getComputedStyle(n).backgroundColor")
    assert colour not in ("rgba(0, 0, 0, 0)", "rgb(255, 255, 255)"), colour
    row.click()
    card = page.locator(".card[data-id='missing-file']")
    expect(card).to_have_class(re.compile(r"\bfailed\b"))
    expect(card.locator(".card-status")).to_contain_text("Not on the map")
    expect(row).not_to_have_class(re.compile(r"\bselected\b"))
    expect(row).to_have_class(re.compile(r"\bfailed\b"))
    # The × still takes it away.
    card.locator("button.close").click()
    expect(card).to_have_count(0)
    expect(row).not_to_have_class(re.compile(r"\bfailed\b"))


def test_the_rendering_panel_offers_the_servers_stretch_of_the_bands_picked(demo_app, browser_chromium):
    """False colour (NIR, red, green) on the demo's 16-bit image: the panel offers the server's
    2-98 % of those bands, and one click shows the image with it."""
    image = "nairobi-uint16"
    with urlopen(f"{demo_app.root}/api/images/{image}/statistics?bidx=4,1,2") as response:
        stats = json.load(response)
    p2 = min(stats[b]["percentile_2"] for b in ("b4", "b1", "b2"))
    p98 = max(stats[b]["percentile_98"] for b in ("b4", "b1", "b2"))
    context, page = offline_page(browser_chromium, demo_app)
    try:
        page.goto(demo_app.page_url + f"#sel={image}")
        card = page.locator(f".card[data-id='{image}']")
        card.locator(".render-panel summary").click()
        expect(card.locator(".r-bands")).to_have_text("4 bands")
        card.locator(".r-bidx").fill("4,1,2")
        offer = card.locator(".r-stretch")
        expect(offer).to_contain_text("2–98 %")
        # The offer of the bands typed (not the first one, of every band): within 1 % of the
        # server's percentiles, rounded outwards.
        span = p98 - p2
        wait_until(
            page,
            """([sel, p2, p98, slack]) => {
              const d = document.querySelector(sel).dataset;
              return +d.low <= p2 && +d.low >= p2 - slack && +d.high >= p98 && +d.high <= p98 + slack;
            }""",
            [f".card[data-id='{image}'] .r-stretch", p2, p98, span * 0.01],
        )
        offer.click()
        expect(card.locator(".r-min")).to_have_value(offer.get_attribute("data-low"))
        expect(card.locator(".r-max")).to_have_value(offer.get_attribute("data-high"))
        expect(card.locator(".r-status")).to_contain_text("rescale=")
        url = page.evaluate(f"() => oamPreview.state.selected.get('{image}').layer._url")
        assert "bidx=4,1,2" in url and f"rescale={offer.get_attribute('data-low')}," in url, url
        assert page.probe.console_errors == []
    finally:
        context.close()
