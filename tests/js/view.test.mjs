// The view's bbox and the layers' bounds (static/view.js): degrees, EPSG:4326.
import assert from "node:assert/strict";
import { test } from "node:test";

import { bboxText, cornersOf, tileBoundsOf, wrapLng } from "../../oam_preview/static/view.js";

test("longitudes wrap into [-180, 180], east keeping 180", () => {
  assert.equal(wrapLng(190, false), -170);
  assert.equal(wrapLng(-190, false), 170);
  assert.equal(wrapLng(180, false), -180);
  assert.equal(wrapLng(180, true), 180);
  assert.equal(wrapLng(540, true), 180);
});

test("a view's bbox: the world when wider than it, west > east across the antimeridian", () => {
  assert.equal(bboxText(-400, -95, 400, 95), "-180,-90,180,90");
  assert.equal(bboxText(170, -10, 190, 10), "170,-10,-170,10");
  assert.equal(bboxText(1.23456789, 2, 3, 4), "1.234568,2,3,4");
});

test("a bbox's corners unwrap east past 180", () => {
  assert.deepEqual(cornersOf([170, -10, -170, 10]), [
    [-10, 170],
    [10, 190],
  ]);
  assert.equal(cornersOf([1, 2, 3]), null);
  assert.equal(cornersOf(null), null);
});

test("tile bounds are inset by ~10 cm, and none across the antimeridian", () => {
  const [[s, w], [n, e]] = tileBoundsOf([10, 20, 11, 21]);
  assert.ok(w > 10 && w - 10 < 2e-6 && e < 11 && s > 20 && n < 21);
  assert.equal(tileBoundsOf([170, -10, -170, 10]), null);
  assert.equal(tileBoundsOf([0, 0, 1]), null);
  assert.equal(tileBoundsOf(["a", 0, 1, 1]), null);
});
