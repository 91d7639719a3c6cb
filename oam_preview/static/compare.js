/* Compare: two layers either side of a divider (swipe.js): the mosaic of the images acquired
 * before the split date on the left and after it on the right by default, or any shown image.
 * Both follow the list's other filters and order.
 */
import { el } from "./dom.js";
import { titleOf } from "./format.js";
import { getJSON, withParams } from "./http.js";
import { askNewTiles, imageryLayer } from "./imagery_layer.js";
import { createSwipe } from "./swipe.js";

/** A date between the middle two of `dates` (ISO strings): half the imagery each side; the
 * one date when there is one, `today` (an ISO date) when none. */
export function middleDate(dates, today) {
  const days = dates.map((d) => d.slice(0, 10)).sort();
  if (days.length < 2) return days[0] || today;
  const a = Date.parse(days[Math.floor(days.length / 2) - 1]);
  const b = Date.parse(days[Math.floor(days.length / 2)]);
  return new Date((a + b) / 2).toISOString().slice(0, 10);
}

/** The mosaic query of a side ("before" or "after" the split date `split`; "all" as is) from
 * the mosaic's `params` and the filters' own `after`/`before` dates (the narrower wins). */
export function sideQuery(side, params, { split, after, before }) {
  const out = { ...params };
  if (side === "before" && split) out.acquired_before = before && before < split ? before : split;
  if (side === "after" && split) out.acquired_after = after && after > split ? after : split;
  return out;
}

/**
 * @param {object} deps
 *   map; config; state; dom; params(): the mosaic's query; dates(): the acquisition dates in
 *   view (the timeline's); chart(): the timeline chart (its mark is the split date);
 *   toast(message); onChange(): the state changed (write the URL); onSwipe(): the divider moved;
 *   where(): the footprints in view ({coverage, view}: imagery_layer.js), for the mosaic sides
 */
export function createCompare({ map, config, state, dom, params, dates, chart, toast, onChange, onSwipe, where }) {
  const model = { swipe: null, layers: { left: null, right: null }, urls: { left: "", right: "" }, generation: 0 };

  function fillSideOptions() {
    const d = state.split || "the split date";
    for (const [select, value] of [
      [dom.left, state.left],
      [dom.right, state.right],
    ]) {
      const options = [
        // Short, so the date shows in the select's width.
        el("option", { value: "before", text: `Imagery before ${d}` }),
        el("option", { value: "after", text: `Imagery after ${d}` }),
        el("option", { value: "all", text: "All imagery" }),
        ...[...state.selected.values()].map((e) => el("option", { value: `image:${e.feature.id}`, text: titleOf(e.feature) })),
      ];
      if (!options.some((o) => o.value === value)) options.push(el("option", { value, text: value.replace(/^image:/, "") }));
      select.replaceChildren(...options);
      select.value = value;
    }
  }

  /** The TileJSON of a side, or null (nothing matches, or not loaded yet). */
  async function sideTileJSON(side) {
    if (side.startsWith("image:")) {
      const entry = state.selected.get(side.slice(6));
      return entry && entry.tilejson ? entry.tilejson : null;
    }
    try {
      return await getJSON(withParams(config.mosaic_tilejson_url, sideQuery(side, params(), state)));
    } catch (err) {
      const which = { before: `before ${state.split}`, after: `after ${state.split}`, all: "" }[side];
      toast(err.status === 404 ? `Compare: no image ${which} matches the filters` : err.message);
      return null;
    }
  }

  function off() {
    model.generation += 1;
    for (const side of ["left", "right"]) {
      if (model.layers[side]) map.removeLayer(model.layers[side]);
      model.layers[side] = null;
      model.urls[side] = "";
    }
    if (model.swipe) model.swipe.remove();
    model.swipe = null;
    chart().setMark("");
  }

  async function refresh() {
    dom.compareOptions.hidden = !state.compare;
    document.body.classList.toggle("comparing", state.compare);
    if (!state.compare) {
      off();
      return;
    }
    if (!state.split && dates().length) state.split = middleDate(dates(), new Date().toISOString().slice(0, 10));
    dom.split.value = state.split;
    chart().setMark(state.split);
    fillSideOptions();
    if (!model.swipe) {
      model.swipe = createSwipe(map, {
        position: state.swipe,
        onChange: (position) => {
          state.swipe = Math.round(position * 1000) / 1000;
          onSwipe();
        },
      });
    }
    const generation = (model.generation += 1);
    const sides = [state.left, state.right];
    const tilejsons = await Promise.all(sides.map(sideTileJSON));
    if (generation !== model.generation || !state.compare) return;
    ["left", "right"].forEach((side, i) => {
      const tilejson = tilejsons[i];
      const url = tilejson ? tilejson.tiles[0] : "";
      if (url === model.urls[side]) return;
      if (model.layers[side]) map.removeLayer(model.layers[side]);
      model.urls[side] = url;
      model.layers[side] = tilejson
        ? imageryLayer(tilejson, {
            zIndex: 900 + i, // above every other layer: compare shows its two sides
            maxZoom: map.getMaxZoom(),
            className: `compare-layer compare-${side}`,
            // A mosaic side asks tiles only where a footprint lies; an image's, its bounds.
            ...(sides[i].startsWith("image:") ? {} : { where }),
          }).addTo(map)
        : null;
    });
    model.swipe.setLayers(model.layers.left, model.layers.right);
    performance.mark("oam:compare-drawn");
    onChange();
  }

  dom.compareToggle.addEventListener("change", () => {
    state.compare = dom.compareToggle.checked;
    refresh();
    onChange();
  });
  dom.split.addEventListener("change", () => {
    state.split = dom.split.value;
    refresh();
  });
  dom.left.addEventListener("change", () => {
    state.left = dom.left.value;
    refresh();
  });
  dom.right.addEventListener("change", () => {
    state.right = dom.right.value;
    refresh();
  });

  /** The footprints in view changed: the sides ask the tiles they now may have. */
  function askSidesNewTiles() {
    askNewTiles(model.layers.left);
    askNewTiles(model.layers.right);
  }

  return { model, refresh, askNewTiles: askSidesNewTiles };
}
