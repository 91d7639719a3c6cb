// The pure parts of the page's features: the list's arithmetic, the markers' grid, compare's
// sides, the point query, the editors' links.
import assert from "node:assert/strict";
import { test } from "node:test";

import { middleDate, sideQuery } from "../../oam_preview/static/compare.js";
import { idEditorUrl, josmImageryUrl, sourceTag, tmsTemplate } from "../../oam_preview/static/editors.js";
import { formatDate, formatGsd } from "../../oam_preview/static/format.js";
import { countText, ROW_HEIGHT, visibleRows } from "../../oam_preview/static/list.js";
import { clusterKey, clusterSize } from "../../oam_preview/static/markers.js";
import { pointQuery } from "../../oam_preview/static/point_value.js";
import { NO_RENDERING } from "../../oam_preview/static/fragment.js";

test("the list draws the rows in view and a few beyond", () => {
  assert.deepEqual(visibleRows(0, 10 * ROW_HEIGHT, 1000), [0, 16]);
  assert.deepEqual(visibleRows(100 * ROW_HEIGHT, 10 * ROW_HEIGHT, 1000), [94, 116]);
  assert.deepEqual(visibleRows(0, 10 * ROW_HEIGHT, 3), [0, 2]);
});

test("the count line", () => {
  assert.equal(countText(1, false), "1 image matches");
  assert.equal(countText(2, true), "2 images match in view");
});

test("markers closer than a cell merge; clusters grow with their count", () => {
  assert.equal(clusterKey(10, 10), clusterKey(35, 35));
  assert.notEqual(clusterKey(10, 10), clusterKey(37, 10));
  assert.equal(clusterSize(1), 14);
  assert.equal(clusterSize(2), 27);
  assert.equal(clusterSize(1e6), 48);
});

test("compare splits the dates in view in two halves", () => {
  assert.equal(middleDate([], "2026-01-01"), "2026-01-01");
  assert.equal(middleDate(["2019-03-22T10:00:00Z"], "x"), "2019-03-22");
  assert.equal(middleDate(["2019-03-22", "2019-02-20", "2019-02-20", "2019-03-22"], "x"), "2019-03-07");
});

test("a side's query: the narrower of the split and the filters' dates", () => {
  const params = { q: "beira", order: "newest" };
  const dates = { split: "2019-03-01", after: "", before: "" };
  assert.deepEqual(sideQuery("before", params, dates), { ...params, acquired_before: "2019-03-01" });
  assert.deepEqual(sideQuery("after", params, { ...dates, after: "2019-03-10" }), { ...params, acquired_after: "2019-03-10" });
  assert.deepEqual(sideQuery("all", params, dates), params);
  assert.deepEqual(sideQuery("before", params, { ...dates, split: "" }), params);
});

test("the point query keeps what changes the values read", () => {
  assert.equal(pointQuery(NO_RENDERING), "");
  assert.equal(pointQuery({ ...NO_RENDERING, bidx: "3,2,1", nodata: "0", rescale: "0,1" }), "bidx=3,2,1&nodata=0");
});

test("editor links and catalog values", () => {
  assert.equal(tmsTemplate("https://h/{z}/{x}/{y}.png"), "https://h/{zoom}/{x}/{y}.png");
  assert.equal(sourceTag("Beira", "UAV", "2019-03-22"), "UAV, Beira, 2019-03-22");
  assert.match(idEditorUrl("t/{z}", { center: [1, 2, 3], source: "s" }), /#background=custom:t%2F%7Bz%7D&map=3\/2\/1&source=s$/);
  assert.match(josmImageryUrl("http://127.0.0.1:8111/", "t/{z}", { maxZoom: 19 }), /\/imagery\?type=tms&max_zoom=19&url=t%2F%7Bzoom%7D$/);
  assert.equal(formatDate({ acquisition_start: "2019-03-22T10:00:00Z" }), "2019-03-22");
  assert.equal(formatDate({}), "date unknown");
  assert.equal(formatGsd(0.15), "15 cm");
  assert.equal(formatGsd(300), "300 m");
});

test("the server's 2-98 % of the bands shown, one range rounded outwards", async () => {
  const { stretchOf, statisticsBands } = await import("../../oam_preview/static/render_panel.js");
  const doc = {
    b4: { percentile_2: 1234.4, percentile_98: 9876.6 },
    b1: { percentile_2: 301.7, percentile_98: 4000 },
    note: {},
  };
  assert.deepEqual(statisticsBands(doc), ["b4", "b1"]);
  assert.deepEqual(stretchOf(doc), ["301", "9877"]);
  assert.deepEqual(stretchOf({ b1: { percentile_2: 0.0123, percentile_98: 0.4567 } }), ["0.012", "0.457"]);
  assert.equal(stretchOf({}), null);
});
