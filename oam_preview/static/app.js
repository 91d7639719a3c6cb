/* oam-preview map page: the page's state, its URL fragment and the wiring of its features.
 *
 * Native ES modules (no build step), one factory per feature: the list (list.js), footprints
 * (footprints.js), markers of small images (markers.js), the layers — mosaic (mosaic_layer.js),
 * compare (compare.js), the shown images and their cards (selected.js, render_panel.js) — the
 * timeline (dates_in_view.js) and the token login (login.js). Each is given the state and
 * callbacks; only this module knows them all. Every URL comes from the server-rendered
 * #oam-config block (any prefix works); catalog strings reach the DOM only as text. */
import { createBasemap } from "./basemap.js";
import { createCompare } from "./compare.js";
import { createDatesInView } from "./dates_in_view.js";
import { copyToClipboard, createToast, debounce } from "./dom.js";
import { createFootprints, STYLE } from "./footprints.js";
import { createHeader } from "./header.js";
import { fragmentOf, NO_RENDERING, parseHash, renderingQuery } from "./fragment.js";
import { getJSON } from "./http.js";
import { createLinks } from "./links.js";
import { createList, ROW_HEIGHT } from "./list.js";
import { createLogin } from "./login.js";
import { createMarkers } from "./markers.js";
import { createMosaicLayer } from "./mosaic_layer.js";
import { createPointValue } from "./point_value.js";
import { createSelected } from "./selected.js";
import { bboxText, viewBox } from "./view.js";

const CONFIG = JSON.parse(document.getElementById("oam-config").textContent);

const MOVE_DEBOUNCE_MS = 250;
const INPUT_DEBOUNCE_MS = 300;
const TIMELINE_DEBOUNCE_MS = 40;
const REDUCED_MOTION = window.matchMedia("(prefers-reduced-motion: reduce)").matches;

// ---------------------------------------------------------------- state

const state = {
  q: "",
  after: "",
  before: "",
  inview: false,
  order: "catalog",
  mosaic: false, // the "all imagery" layer is on
  compare: false, // the swipe is on
  split: "", // compare's date D: left shows before it, right after it (ISO date)
  left: "before", // a side: "before", "after", "all" (the mosaic) or "image:<id>"
  right: "after",
  swipe: 0.5, // the divider's place, 0..1 of the map's width
  hoveredId: null,
  selected: new Map(), // id -> {feature, opacity, layer, tilejson, card, render, picker}
  grades: new Map(), // id -> the grade of its health report, once this page has asked for it
  productTypes: new Map(), // id -> its product type, from a Feature that said it (a listing may not)
};

const $ = (id) => document.getElementById(id);
const dom = {
  list: $("list"),
  spacer: $("list-spacer"),
  count: $("count"),
  footprintNote: $("footprint-note"),
  q: $("f-q"),
  after: $("f-after"),
  before: $("f-before"),
  inview: $("f-inview"),
  order: $("f-order"),
  mosaicToggle: $("f-mosaic"),
  mosaicActions: $("mosaic-actions"),
  selected: $("selected"),
  selectedList: $("selected-list"),
  toast: $("toast"),
  timeline: $("timeline-chart"),
  timelineClear: $("timeline-clear"),
  compareToggle: $("f-compare"),
  compareOptions: $("compare-options"),
  split: $("f-split"),
  left: $("f-left"),
  right: $("f-right"),
  copyLink: $("copy-link"),
  filtersToggle: $("filters-toggle"),
  filterPanel: $("filter-panel"),
  filterSummary: $("filter-summary"),
};

const toast = createToast(dom.toast);

/** Copy `text` to the clipboard and say so (dom.js). */
const copyText = (text, what) => copyToClipboard(text, what, toast);

// ---------------------------------------------------------------- the map and its features

const map = L.map("map", {
  preferCanvas: true, // thousands of footprints draw far faster on canvas
  worldCopyJump: true,
  // Explicit, or Leaflet derives them from the layers: an image layer's
  // TileJSON minzoom of 17 would stop the user from zooming out.
  minZoom: 0,
  maxZoom: 22,
  zoomControl: true,
}).fitWorld({ animate: false }); // the whole world: the first footprints answer has every image
map.attributionControl.setPrefix('<a href="https://leafletjs.com">Leaflet</a>');
const basemap = createBasemap(map, CONFIG, toast);

/** The map view as an API bbox; west > east when it crosses the antimeridian. */
function viewBbox() {
  const b = map.getBounds();
  return bboxText(b.getWest(), b.getSouth(), b.getEast(), b.getNorth());
}

/** Where the imagery layers of many images may ask tiles: the footprints answer and the view now. */
function footprintsInView() {
  const b = map.getBounds();
  return { coverage: footprints.model.coverage, view: viewBox(b.getWest(), b.getSouth(), b.getEast(), b.getNorth()) };
}

/** The listing's filters, with the view's bbox when `withBbox`. */
function filterParams(withBbox) {
  return {
    q: state.q.trim(),
    acquired_after: state.after,
    acquired_before: state.before,
    bbox: withBbox ? viewBbox() : "",
    order: state.order === "catalog" ? "" : state.order,
  };
}

/** The mosaic's query: the filters (not the view: the layer covers the world) in the list's order. */
function mosaicParams() {
  return { ...filterParams(false), order: state.order }; // explicit: the mosaic's own default is newest
}

function setHover(id) {
  if (state.hoveredId === id) return;
  const previous = state.hoveredId;
  state.hoveredId = id;
  restyle(previous);
  restyle(id);
  list.refreshRowStates();
}

/** An image's outline and markers follow its hover and shown states. */
function restyle(id) {
  markers.restyle(id);
  footprints.restyle(id);
}

/** A click on the map's outline or marker: show the image, and its row in the list. */
function selectFromMap(feature) {
  // A shown image stays (its card's × hides it): the click asks its value instead.
  if (!state.selected.has(feature.id)) selected.toggle(feature);
  list.reveal(feature.id);
}

const list = createList({
  config: CONFIG,
  state,
  dom,
  params: () => filterParams(state.inview),
  onToggle: (feature) => selected.toggle(feature),
  onHover: setHover,
});
const footprints = createFootprints({
  map,
  config: CONFIG,
  state,
  dom,
  params: filterParams,
  toast,
  onHover: setHover,
  onSelect: selectFromMap,
  onImage: (feature) => selected.toggle(feature),
  onDrawn: (features) => markers.setFeatures(features),
  onCoverage: () => {
    mosaic.askNewTiles();
    compare.askNewTiles();
  },
});
const markers = createMarkers({
  map,
  state,
  pathOf: (id) => footprints.model.byId.get(id),
  onHover: setHover,
  onSelect: selectFromMap,
  reducedMotion: REDUCED_MOTION,
});
const links = createLinks({ josmRemote: CONFIG.josm_remote_url, copyText });
const mosaic = createMosaicLayer({ map, config: CONFIG, state, dom, params: mosaicParams, links, toast, where: footprintsInView });
const selected = createSelected({
  map,
  config: CONFIG,
  state,
  dom,
  links,
  copyText,
  toast,
  reducedMotion: REDUCED_MOTION,
  onShownChange: (id) => {
    restyle(id);
    list.refreshRowStates();
  },
  onRowsChange: () => list.refreshRowStates(),
  onLayersChange: () => compare.refresh(),
  onChange: () => writeHash(),
  onChangeSoon: () => writeHashSoon(),
});
const showPointValue = createPointValue({ map, config: CONFIG, state });
const header = createHeader({
  toggle: dom.filtersToggle,
  panel: dom.filterPanel,
  summary: dom.filterSummary,
  list: dom.list,
  rowHeight: ROW_HEIGHT,
  state,
});

/** With compare's options open the header may leave the list too little room: fold it. */
function fitHeader() {
  if (state.compare) requestAnimationFrame(header.fit);
}

// The timeline: a click sets compare's split date, a drag the list's and the mosaic's dates.
const timeline = createDatesInView({
  config: CONFIG,
  container: dom.timeline,
  query: () => ({ q: state.q.trim(), bbox: viewBbox() }),
  range: () => [state.after, state.before],
  onBrush: (after, before) => {
    state.after = after;
    state.before = before;
    dom.after.value = after;
    dom.before.value = before;
    refreshAll();
  },
  onPick: (date) => {
    state.split = date;
    dom.split.value = date;
    if (state.compare) compare.refresh();
    timeline.chart.setMark(state.compare ? date : "");
    writeHash();
  },
  onDates: () => {
    if (state.compare && !state.split) compare.refresh();
  },
});

const compare = createCompare({
  map,
  config: CONFIG,
  state,
  dom,
  params: mosaicParams,
  dates: () => timeline.dates,
  chart: () => timeline.chart,
  toast,
  onChange: () => writeHash(),
  onSwipe: () => writeHashSoon(),
  where: footprintsInView,
});

// ------------------------------------------------------------- URL state
//
// The fragment's format and parsing: fragment.js.

let lastHash = "";

function stateToHash() {
  const c = map.getCenter();
  // Oldest first, so restoring stacks them in the same order.
  const shown = [...state.selected.values()].reverse().map((e) => ({ id: e.feature.id, opacity: e.opacity, render: e.render }));
  return fragmentOf(state, { zoom: map.getZoom(), lat: c.lat, lng: c.lng }, shown);
}

function writeHash() {
  const hash = stateToHash();
  if (hash === lastHash) return;
  lastHash = hash;
  history.replaceState(null, "", hash);
}

const writeHashSoon = debounce(writeHash, 200);

/** Make the page match a hash: on load, and when a link is pasted in place. */
function applyHash(hash) {
  const wanted = parseHash(hash);
  for (const key of ["q", "after", "before", "inview", "order", "mosaic", "compare", "split", "left", "right", "swipe"]) {
    state[key] = wanted[key];
  }
  dom.compareToggle.checked = state.compare;
  if (compare.model.swipe) compare.model.swipe.setPosition(state.swipe, false);
  dom.order.value = state.order;
  dom.mosaicToggle.checked = state.mosaic;
  dom.q.value = state.q;
  dom.after.value = state.after;
  dom.before.value = state.before;
  dom.inview.checked = state.inview;
  if (wanted.view) map.setView([wanted.view.lat, wanted.view.lng], wanted.view.zoom, { animate: false });
  // Only the first view fits the images; a fragment's view or selection decides it instead.
  if (footprints.model.fitted === undefined) footprints.model.fitted = !!wanted.view || wanted.sel.length > 0;
  const wantedIds = new Set(wanted.sel.map((s) => s.id));
  for (const id of [...state.selected.keys()]) if (!wantedIds.has(id)) selected.remove(id);
  for (const { id, opacity } of wanted.sel) {
    const entry = state.selected.get(id);
    if (entry) {
      selected.setOpacity(entry, opacity);
      const render = wanted.render.get(id) || NO_RENDERING;
      if (renderingQuery(render) !== renderingQuery(entry.render)) selected.applyRendering(entry, render);
    } else {
      restoreImage(id, opacity, !wanted.view, wanted.render.get(id));
    }
  }
  refreshAll();
}

async function restoreImage(id, opacity, fly, render) {
  try {
    const feature = await getJSON(`${CONFIG.images_url}/${encodeURIComponent(id)}`);
    if (!state.selected.has(id)) selected.add(feature, { fly, opacity, render });
  } catch (err) {
    toast(`Image ${id} is not in the catalog: ${err.message}`);
  }
}

// ---------------------------------------------------------------- wiring

function refreshAll() {
  list.refresh();
  footprints.refresh();
  mosaic.refresh();
  timeline.refresh();
  timeline.chart.setRange(state.after, state.before);
  compare.refresh();
  footprints.restyleAll(); // the mosaic may have come or gone under them
  header.update();
  fitHeader();
  writeHash();
}

function wireFilters() {
  const fromForm = () => {
    state.q = dom.q.value;
    state.after = dom.after.value;
    state.before = dom.before.value;
    state.inview = dom.inview.checked;
    state.order = dom.order.value;
    state.mosaic = dom.mosaicToggle.checked;
    refreshAll();
  };
  const fromFormSoon = debounce(fromForm, INPUT_DEBOUNCE_MS);
  dom.q.addEventListener("input", fromFormSoon);
  for (const input of [dom.after, dom.before, dom.inview, dom.order, dom.mosaicToggle]) {
    input.addEventListener("change", fromForm);
  }
  $("filters").addEventListener("submit", (event) => {
    event.preventDefault(); // Enter in the search box applies at once
    fromForm();
  });
  dom.timelineClear.addEventListener("click", () => {
    state.after = state.before = "";
    dom.after.value = dom.before.value = "";
    refreshAll();
  });
  dom.compareToggle.addEventListener("change", () => {
    footprints.restyleAll(); // compare's imagery is under them now, or no more
    fitHeader();
  });
  window.addEventListener("resize", debounce(fitHeader, MOVE_DEBOUNCE_MS));
  dom.copyLink.addEventListener("click", () => {
    writeHash();
    copyText(location.href, "link");
  });
}

wireFilters();
createLogin({ list, refreshAll });
map.on("click", async (event) => {
  if (!(await footprints.pick(event.latlng))) showPointValue(event.latlng);
});
map.on("moveend", debounce(() => timeline.refresh(), TIMELINE_DEBOUNCE_MS));
map.on(
  "moveend",
  debounce(() => {
    if (state.inview) list.refresh();
    footprints.refresh();
    writeHash();
  }, MOVE_DEBOUNCE_MS),
);
window.addEventListener("hashchange", () => {
  if (location.hash !== lastHash) applyHash(location.hash);
});
applyHash(location.hash);
// Exposed for tests and debugging; the page itself never reads it.
window.oamPreview = {
  map,
  state,
  list: list.model,
  footprints: footprints.model,
  markers: markers.model,
  mosaic: mosaic.model,
  basemap,
  timeline,
  compare: compare.model,
  STYLE,
};
