// The view's bbox and the layers' bounds (static/view.js): degrees, EPSG:4326.
import assert from "node:assert/strict";
import { test } from "node:test";

import { bboxText, boxesOverlap, cornersOf, splitBox, tileBoundsOf, tileMayHoldImagery, wrapLng } from "../../oam_preview/static/view.js";

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

test("a box across the antimeridian splits in two", () => {
  assert.deepEqual(splitBox([170, -1, -170, 1]), [
    [170, -1, 180, 1],
    [-180, -1, -170, 1],
  ]);
  assert.deepEqual(splitBox([1, 2, 3, 4]), [[1, 2, 3, 4]]);
  assert.ok(boxesOverlap([0, 0, 2, 2], [1, 1, 3, 3]));
  assert.ok(!boxesOverlap([0, 0, 1, 1], [1, 0, 2, 1])); // an edge is not an overlap
});

test("a tile is asked only where a footprint in the answered view lies", () => {
  const coverage = { view: [-10, -10, 10, 10], boxes: [[1, 1, 2, 2], [179, 0, -179, 1]] };
  const view = [-5, -5, 5, 5];
  assert.ok(tileMayHoldImagery([0, 0, 5, 5], coverage, view));
  assert.ok(!tileMayHoldImagery([-5, -5, 0, 0], coverage, view)); // no footprint there
  // The map moved past the answered view: no new tile until the next answer.
  assert.ok(!tileMayHoldImagery([0, 0, 5, 5], coverage, [5, 5, 15, 15]));
  assert.ok(!tileMayHoldImagery([0, 0, 5, 5], null, view)); // no answer yet
  assert.ok(tileMayHoldImagery([-5, -5, 0, 0], "any", view)); // not every footprint listed
  // Across the antimeridian: the footprint's either half, the view's either half.
  const world = { view: [170, -10, -170, 10], boxes: [[179, 0, -179, 1]] };
  assert.ok(tileMayHoldImagery([-180, 0, -179.5, 0.5], world, [175, -5, -175, 5]));
  assert.ok(!tileMayHoldImagery([-178, 0, -177, 0.5], world, [175, -5, -175, 5]));
});
