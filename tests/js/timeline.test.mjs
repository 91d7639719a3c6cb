// The timeline's bins (static/timeline.js): per day over short spans, per month over long ones.
import assert from "node:assert/strict";
import { test } from "node:test";

import { binDates } from "../../oam_preview/static/timeline.js";

const day = (ms) => new Date(ms).toISOString().slice(0, 10);

test("no dates: no bins", () => {
  assert.deepEqual(binDates([]), { unit: "month", bins: [] });
  assert.deepEqual(binDates(["not a date"]).bins, []);
});

test("a short span is binned per day, every day between counted", () => {
  const { unit, bins } = binDates(["2019-03-09T10:00:00Z", "2019-03-01", "2019-03-09T23:59:00Z"]);
  assert.equal(unit, "day");
  assert.equal(bins.length, 9);
  assert.deepEqual(
    bins.filter((b) => b.count).map((b) => [day(b.start), b.count]),
    [
      ["2019-03-01", 1],
      ["2019-03-09", 2],
    ],
  );
});

test("a long span is binned per calendar month", () => {
  const { unit, bins } = binDates(["2018-11-30", "2019-02-01", "2019-02-28"]);
  assert.equal(unit, "month");
  assert.deepEqual(
    bins.map((b) => [day(b.start), day(b.end), b.count]),
    [
      ["2018-11-01", "2018-12-01", 1],
      ["2018-12-01", "2019-01-01", 0],
      ["2019-01-01", "2019-02-01", 0],
      ["2019-02-01", "2019-03-01", 2],
    ],
  );
});

test("one date is a week's chart with its day in the middle, not one solid block", () => {
  const { unit, bins } = binDates(["2020-09-15T10:00:00Z"]);
  assert.equal(unit, "day");
  assert.equal(bins.length, 7);
  assert.deepEqual(
    bins.map((b) => b.count),
    [0, 0, 0, 1, 0, 0, 0],
  );
  assert.equal(day(bins[3].start), "2020-09-15");
});

test("a few days are padded to a week, a week or more is not", () => {
  assert.equal(binDates(["2020-09-15", "2020-09-16"]).bins.length, 7);
  assert.equal(binDates(["2020-09-01", "2020-09-10"]).bins.length, 10);
});
