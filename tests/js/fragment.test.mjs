// The URL fragment (static/fragment.js): what a shared link asks for, bad values dropped.
import assert from "node:assert/strict";
import { test } from "node:test";

import { fragmentOf, fragmentText, NO_RENDERING, parseHash } from "../../oam_preview/static/fragment.js";

test("an empty fragment gives the defaults", () => {
  const state = parseHash("");
  assert.equal(state.q, "");
  assert.equal(state.order, "catalog");
  assert.equal(state.left, "before");
  assert.equal(state.right, "after");
  assert.equal(state.swipe, 0.5);
  assert.equal(state.view, null);
  assert.deepEqual(state.sel, []);
  assert.equal(state.render.size, 0);
});

test("a full fragment is read back", () => {
  const state = parseHash(
    "#map=16/-19.835/34.853&q=beira&after=2019-01-01&inview=1&order=newest&mosaic=1&compare=1" +
      "&split=2019-03-01&left=image:a-1&right=all&swipe=0.25&sel=a-1~0.5,b_2&render=a-1~render=hillshade%26bidx=1",
  );
  assert.deepEqual(state.view, { zoom: 16, lat: -19.835, lng: 34.853 });
  assert.equal(state.q, "beira");
  assert.equal(state.inview, true);
  assert.equal(state.order, "newest");
  assert.equal(state.mosaic && state.compare, true);
  assert.equal(state.split, "2019-03-01");
  assert.equal(state.left, "image:a-1");
  assert.equal(state.right, "all");
  assert.equal(state.swipe, 0.25);
  assert.deepEqual(state.sel, [
    { id: "a-1", opacity: 0.5 },
    { id: "b_2", opacity: 1 },
  ]);
  assert.deepEqual(state.render.get("a-1"), { ...NO_RENDERING, render: "hillshade", bidx: "1" });
});

test("someone else's bad values are dropped", () => {
  const state = parseHash("#order=drop&split=soon&left=javascript:x&swipe=7&sel=<b>,ok~2&map=1/x/2&render=ok~render=<x>");
  assert.equal(state.order, "catalog");
  assert.equal(state.split, "");
  assert.equal(state.left, "before");
  assert.equal(state.swipe, 1);
  assert.deepEqual(state.sel, [{ id: "ok", opacity: 1 }]);
  assert.equal(state.view, null);
  assert.equal(state.render.get("ok").render, "");
});

test("the fragment keeps its separators readable", () => {
  const params = new URLSearchParams();
  params.set("map", "3/1.5/2");
  params.set("sel", "a~0.5,b");
  params.set("render", "a~render=x:y");
  assert.equal(fragmentText(params), "map=3/1.5/2&sel=a~0.5,b&render=a~render=x:y");
});

test("a page's state written as a fragment reads back the same", () => {
  const state = {
    q: "beira",
    after: "2019-01-01",
    before: "",
    inview: true,
    order: "newest",
    mosaic: true,
    compare: true,
    split: "2019-03-07",
    left: "before",
    right: "image:b_2",
    swipe: 0.6,
  };
  const shown = [
    { id: "a-1", opacity: 0.5, render: { ...NO_RENDERING, bidx: "4,1,2", rescale: "301,9877" } },
    { id: "b_2", opacity: 1, render: NO_RENDERING },
  ];
  const hash = fragmentOf(state, { zoom: 16, lat: -19.835, lng: 34.853 }, shown);
  assert.match(hash, /^#map=16\/-19\.835000\/34\.853000&q=beira&/);
  const back = parseHash(hash);
  for (const key of Object.keys(state)) assert.deepEqual(back[key], state[key], key);
  assert.deepEqual(back.sel, [
    { id: "a-1", opacity: 0.5 },
    { id: "b_2", opacity: 1 },
  ]);
  assert.deepEqual(back.render.get("a-1"), shown[0].render);
  assert.equal(back.render.has("b_2"), false);
});
