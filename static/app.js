/* oam-preview map page.
 *
 * A native ES module (no build step): compare's swipe, the timeline, the
 * render picker and legend (renders.js) and the health report panel
 * (report.js) are modules of their own beside it. Every URL comes from the
 * server-rendered #oam-config block, so the page works under any prefix.
 * Catalog strings are only ever put into the DOM as text (textContent,
 * attributes); nothing from the catalog goes through innerHTML.
 */
import { createBasemap } from "./basemap.js";
import { copyToClipboard, debounce, el, escapeHtml } from "./dom.js";
import { idEditorUrl, josmImageryUrl, sourceTag, tmsTemplate } from "./editors.js";
import { formatDate, formatGsd, numberFormat, titleOf } from "./format.js";
import { fragmentText, NO_RENDERING, parseHash, renderingQuery } from "./fragment.js";
import { getJSON, isAbort, withParams, withQuery } from "./http.js";
import { newestRequest } from "./newest.js";
import { createRenderPicker } from "./renders.js";
import { createReportPanel, gradeBadge } from "./report.js";
import { createSwipe } from "./swipe.js";
import { createTimeline } from "./timeline.js";

(() => {
  const CONFIG = JSON.parse(document.getElementById("oam-config").textContent);

  const ROW_HEIGHT = 76; // px; fixed so the list can be virtualised by arithmetic
  const PAGE_SIZE = 100; // list rows fetched per request
  const OVERSCAN = 6; // rows rendered beyond the visible ones, for smooth scrolling
  const FOOTPRINT_LIMIT = 1000; // the API's maximum page
  const MOVE_DEBOUNCE_MS = 250;
  const INPUT_DEBOUNCE_MS = 300;
  const THUMB_SIZE = 128; // 2x the displayed 64 px, sharp on high-DPI screens
  const THUMB_DELAY_MS = 120;
  const BOUNDS_INSET_DEG = 1e-6;
  const FIT_PADDING_PX = 40; // around the images of the first view
  const FIT_MAX_ZOOM = 18; // the first view of one small image
  const REDUCED_MOTION = window.matchMedia("(prefers-reduced-motion: reduce)").matches;

  const STYLE = {
    footprint: { color: "#d9480f", weight: 1.5, opacity: 0.9, fillOpacity: 0.06 },
    hover: { color: "#f59f00", weight: 3, opacity: 1, fillOpacity: 0.25 },
    selected: { color: "#0b7285", weight: 2.5, opacity: 1, fillOpacity: 0 },
  };

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

  let map;
  let basemap = null; // the base map's state (basemap.js)
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
  };

  // -------------------------------------------------------------- helpers

  let toastTimer;
  function toast(message) {
    dom.toast.textContent = message;
    dom.toast.classList.add("show");
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => dom.toast.classList.remove("show"), 2500);
  }

  // ------------------------------------------------------- filters / query

  /** Wrap a longitude into [-180, 180]; `east` keeps 180 rather than -180. */
  function wrapLng(lng, east) {
    const wrapped = ((((lng + 180) % 360) + 360) % 360) - 180;
    return east && wrapped === -180 ? 180 : wrapped;
  }

  /** The map view as an API bbox; west > east when it crosses the antimeridian. */
  function viewBbox() {
    const b = map.getBounds();
    let west = b.getWest();
    let east = b.getEast();
    if (east - west >= 360) {
      west = -180;
      east = 180;
    } else {
      west = wrapLng(west, false);
      east = wrapLng(east, true);
    }
    const south = Math.max(-90, b.getSouth());
    const north = Math.min(90, b.getNorth());
    return [west, south, east, north].map((v) => +v.toFixed(6)).join(",");
  }

  function filterParams(withBbox) {
    return {
      q: state.q.trim(),
      acquired_after: state.after,
      acquired_before: state.before,
      bbox: withBbox ? viewBbox() : "",
      order: state.order === "catalog" ? "" : state.order,
    };
  }

  // ------------------------------------------------------ virtualised list
  //
  // Only the rows in (or near) the viewport exist in the DOM; they are
  // absolutely positioned inside a spacer as tall as all matches. Pages of
  // PAGE_SIZE records are fetched by offset when a row needs one.

  const list = {
    key: "", // the query the cached pages belong to
    requests: newestRequest(),
    query: null, // the newest query's request: its pages share its signal; older answers are dropped
    total: 0,
    known: false, // whether `total` has been answered for this query
    pages: new Map(), // page number -> features[] | "loading"
    rows: new Map(), // index -> row element currently in the DOM
    active: -1, // keyboard cursor
    renderQueued: false,
    markedQuery: null,
  };

  function refreshList() {
    const params = filterParams(state.inview);
    const key = JSON.stringify(params);
    if (key === list.key) return;
    list.key = key;
    list.query = list.requests.start();
    list.pages.clear();
    list.known = false;
    list.active = -1;
    dom.list.scrollTop = 0;
    clearRows();
    dom.count.textContent = "Searching…";
    loadPage(0);
  }

  function loadPage(pageNo) {
    if (list.pages.has(pageNo)) return;
    list.pages.set(pageNo, "loading");
    const query = list.query;
    const url = withParams(CONFIG.images_url, {
      ...JSON.parse(list.key),
      limit: PAGE_SIZE,
      offset: pageNo * PAGE_SIZE,
    });
    getJSON(url, query.signal)
      .then((fc) => {
        if (!query.isNewest()) return;
        list.pages.set(pageNo, fc.features || []);
        list.total = typeof fc.numberMatched === "number" ? fc.numberMatched : list.total;
        if (!list.known && typeof fc.numberMatched !== "number") {
          list.total = (fc.features || []).length; // a server without counts: one page
        }
        list.known = true;
        showCount();
        scheduleRender();
      })
      .catch((err) => {
        if (isAbort(err) || !query.isNewest()) return;
        list.pages.delete(pageNo);
        dom.count.textContent = `Could not load images: ${err.message}`;
      });
  }

  function showCount() {
    const n = numberFormat.format(list.total);
    const where = state.inview ? " in view" : "";
    dom.count.textContent = `${n} image${list.total === 1 ? "" : "s"} match${list.total === 1 ? "es" : ""}${where}`;
    dom.list.setAttribute("aria-label", `Catalog images, ${n} matching`);
  }

  function itemAt(index) {
    const page = list.pages.get(Math.floor(index / PAGE_SIZE));
    return Array.isArray(page) ? page[index % PAGE_SIZE] : undefined;
  }

  function clearRows() {
    for (const row of list.rows.values()) row.remove();
    list.rows.clear();
    dom.spacer.style.height = "0px";
  }

  function scheduleRender() {
    if (list.renderQueued) return;
    list.renderQueued = true;
    requestAnimationFrame(() => {
      list.renderQueued = false;
      renderList();
    });
  }

  function renderList() {
    dom.spacer.style.height = `${list.total * ROW_HEIGHT}px`;
    const top = dom.list.scrollTop;
    const height = dom.list.clientHeight || window.innerHeight;
    const first = Math.max(0, Math.floor(top / ROW_HEIGHT) - OVERSCAN);
    const last = Math.min(list.total - 1, Math.ceil((top + height) / ROW_HEIGHT) + OVERSCAN);
    const kept = new Map();
    for (let i = first; i <= last; i++) {
      const feature = itemAt(i);
      if (!feature) loadPage(Math.floor(i / PAGE_SIZE));
      const id = feature ? feature.id : "";
      let row = list.rows.get(i);
      if (!row || row.dataset.id !== id) {
        if (row) row.remove();
        row = feature ? buildRow(feature, i) : buildPlaceholder(i);
        dom.spacer.append(row);
      }
      updateRow(row, i);
      kept.set(i, row);
    }
    for (const [i, row] of list.rows) if (!kept.has(i)) row.remove();
    list.rows = kept;
    markListRendered();
    loadThumbnailsSoon();
    const activeRow = list.rows.get(list.active);
    if (activeRow) dom.list.setAttribute("aria-activedescendant", activeRow.id);
    else dom.list.removeAttribute("aria-activedescendant");
  }

  /** Give thumbnails to the rows still shown once scrolling pauses, so a fast
   * fling through thousands of rows does not request thousands of images. */
  function loadThumbnails() {
    for (const img of dom.spacer.querySelectorAll("img.thumb[data-src]")) {
      img.src = img.dataset.src;
      img.removeAttribute("data-src");
    }
  }

  const loadThumbnailsSoon = debounce(loadThumbnails, THUMB_DELAY_MS);

  /** Performance marks for the benchmark: when each new query's rows first show. */
  function markListRendered() {
    if (list.markedQuery === list.query || !list.known) return;
    list.markedQuery = list.query;
    if (!performance.getEntriesByName("oam:first-list-render").length) {
      performance.mark("oam:first-list-render");
    }
    performance.mark("oam:list-rendered");
  }

  function buildRow(feature, index) {
    const p = feature.properties || {};
    const thumb = el("img", {
      class: "thumb",
      alt: "",
      width: 64,
      height: 64,
      decoding: "async",
      // The src is set by loadThumbnails once the row has stayed on screen.
      "data-src": p.thumbnail ? withParams(p.thumbnail, { max_size: THUMB_SIZE }) : null,
    });
    // A failed thumbnail leaves a neutral tile rather than a broken-image icon.
    thumb.addEventListener("error", () => thumb.classList.add("failed"), { once: true });
    const facts = [formatDate(p), formatGsd(p.gsd)].filter(Boolean).join(" · ");
    if (p.product_type) state.productTypes.set(feature.id, p.product_type);
    const who = [p.provider, p.license].filter(Boolean).join(" · ");
    return el(
      "div",
      {
        class: "row",
        role: "option",
        id: `row-${index}`,
        "data-id": feature.id,
        "data-index": index,
        style: `top:${index * ROW_HEIGHT}px`,
      },
      thumb,
      el(
        "div",
        { class: "meta" },
        el("div", { class: "title", text: titleOf(feature), title: titleOf(feature) }),
        el("div", { class: "facts" }, el("span", { class: "row-grade" }), facts, el("span", { class: "row-type" })),
        el("div", { class: "who", text: who }),
      ),
    );
  }

  function buildPlaceholder(index) {
    return el(
      "div",
      {
        class: "row placeholder",
        role: "option",
        id: `row-${index}`,
        "data-id": "",
        "data-index": index,
        "aria-busy": "true",
        style: `top:${index * ROW_HEIGHT}px`,
      },
      el("div", { class: "thumb" }),
      el("div", { class: "meta", text: "Loading…" }),
    );
  }

  function updateRow(row, index) {
    const id = row.dataset.id;
    const selected = !!id && state.selected.has(id);
    row.classList.toggle("selected", selected);
    row.classList.toggle("hover", !!id && id === state.hoveredId);
    row.classList.toggle("active", index === list.active);
    row.setAttribute("aria-selected", String(selected));
    row.setAttribute("aria-posinset", index + 1);
    row.setAttribute("aria-setsize", list.total);
    // The product type when known (a listing says it once the worker has read the file).
    const type = row.querySelector(".row-type");
    const productType = (id && state.productTypes.get(id)) || "";
    if (type && type.textContent !== (productType && ` · ${productType}`)) type.textContent = productType && ` · ${productType}`;
    const grade = id ? state.grades.get(id) || "" : "";
    const badge = row.querySelector(".row-grade");
    if (badge && badge.dataset.grade !== grade) {
      badge.dataset.grade = grade;
      badge.replaceChildren(...(grade ? [gradeBadge(grade)] : []));
    }
  }

  function refreshRowStates() {
    for (const [i, row] of list.rows) updateRow(row, i);
  }

  function setActive(index) {
    if (list.total === 0) return;
    list.active = Math.max(0, Math.min(list.total - 1, index));
    const top = list.active * ROW_HEIGHT;
    if (top < dom.list.scrollTop) dom.list.scrollTop = top;
    else if (top + ROW_HEIGHT > dom.list.scrollTop + dom.list.clientHeight) {
      dom.list.scrollTop = top + ROW_HEIGHT - dom.list.clientHeight;
    }
    renderList();
  }

  function onListKey(event) {
    const pageRows = Math.max(1, Math.floor(dom.list.clientHeight / ROW_HEIGHT) - 1);
    const moves = {
      ArrowDown: 1,
      ArrowUp: -1,
      PageDown: pageRows,
      PageUp: -pageRows,
    };
    if (event.key in moves) {
      setActive(list.active < 0 ? 0 : list.active + moves[event.key]);
    } else if (event.key === "Home") {
      setActive(0);
    } else if (event.key === "End") {
      setActive(list.total - 1);
    } else if (event.key === "Enter" || event.key === " ") {
      const feature = itemAt(list.active);
      if (feature) toggleImage(feature);
    } else {
      return;
    }
    event.preventDefault();
  }

  function rowFeature(target) {
    const row = target.closest && target.closest(".row");
    if (!row || !row.dataset.id) return null;
    return { row, feature: itemAt(Number(row.dataset.index)) };
  }

  function wireList() {
    dom.list.addEventListener("scroll", scheduleRender, { passive: true });
    dom.list.addEventListener("keydown", onListKey);
    dom.list.addEventListener("click", (event) => {
      const hit = rowFeature(event.target);
      if (!hit || !hit.feature) return;
      list.active = Number(hit.row.dataset.index);
      toggleImage(hit.feature);
    });
    dom.list.addEventListener("mouseover", (event) => {
      const hit = rowFeature(event.target);
      setHover(hit ? hit.row.dataset.id : null);
    });
    dom.list.addEventListener("mouseleave", () => setHover(null));
    window.addEventListener("resize", scheduleRender);
  }

  // ------------------------------------------------------------ footprints

  const footprints = {
    layer: null,
    byId: new Map(), // id -> Leaflet path
    requests: newestRequest(),
    key: "",
    // More images in view than one page holds: every footprint the filters select comes as
    // vector tiles (/api/footprints, static/footprint_tiles.js) instead of GeoJSON outlines.
    tiles: null,
    tilesKey: "",
  };

  function tileState(id) {
    if (id === state.hoveredId) return "hover";
    return state.selected.has(id) ? "selected" : null;
  }

  /** Vector tiles of the filters' footprints on (`on`) or off; rebuilt when the filters change. */
  function showFootprintTiles(on) {
    const params = filterParams(false);
    const key = on ? JSON.stringify(params) : "";
    if (key === footprints.tilesKey) return;
    footprints.tilesKey = key;
    if (footprints.tiles) map.removeLayer(footprints.tiles);
    footprints.tiles = null;
    if (!on || !window.oamFootprintTiles) return;
    footprints.tiles = window.oamFootprintTiles.layer(CONFIG.api_root, params, { state: tileState }).addTo(map);
  }

  /** A click on the vector tiles: an image opens (as a click on its outline), a cluster zooms in. */
  async function pickFootprintTile(latlng) {
    if (!footprints.tiles) return false;
    const hits = window.oamFootprintTiles.pick(footprints.tiles, latlng);
    const image = hits.find((hit) => hit.id);
    if (image) {
      try {
        toggleImage(await getJSON(`${CONFIG.images_url}/${encodeURIComponent(image.id)}`));
      } catch (err) {
        toast(`Could not load ${image.id}: ${err.message}`);
      }
      return true;
    }
    if (hits.length) {
      map.setView(latlng, Math.min(map.getZoom() + 2, map.getMaxZoom()));
      return true;
    }
    return false;
  }

  function footprintStyle(id) {
    if (id === state.hoveredId) return STYLE.hover;
    if (state.selected.has(id)) return STYLE.selected;
    return STYLE.footprint;
  }

  function restyleFootprint(id) {
    restyleMarkers(id);
    if (footprints.tiles && id) footprints.tiles.rerenderTiles();
    const path = id && footprints.byId.get(id);
    if (!path) return;
    path.setStyle(footprintStyle(id));
    if (id === state.hoveredId) path.bringToFront();
  }

  function setHover(id) {
    if (state.hoveredId === id) return;
    const previous = state.hoveredId;
    state.hoveredId = id;
    restyleFootprint(previous);
    restyleFootprint(id);
    refreshRowStates();
  }

  function onFootprint(feature, path) {
    const id = feature.id;
    footprints.byId.set(id, path);
    path.bindTooltip(() => el("span", { text: titleOf(feature) }), { sticky: true });
    path.on("mouseover", () => setHover(id));
    path.on("mouseout", () => setHover(null));
    path.on("click", () => selectFromMap(feature));
  }

  /** A click on the map's outline or marker: show the image, and its row in the list. */
  function selectFromMap(feature) {
    // A shown image stays (its card's × hides it): the click asks its value instead.
    if (!state.selected.has(feature.id)) toggleImage(feature);
    for (const [pageNo, page] of list.pages) {
      if (!Array.isArray(page)) continue;
      const at = page.findIndex((f) => f.id === feature.id);
      if (at >= 0) {
        setActive(pageNo * PAGE_SIZE + at);
        return;
      }
    }
  }

  /** The first view, unless the fragment gave one: every image the filters
   * match (the first answer covers the whole world), with padding; one image
   * fills the view. */
  function fitFirstView(fc) {
    footprints.fitted = true;
    let bounds = null;
    for (const feature of fc.features || []) {
      const path = footprints.byId.get(feature.id);
      if (!path || !path.getBounds) continue;
      if (bounds) bounds.extend(path.getBounds());
      else bounds = L.latLngBounds(path.getBounds().getSouthWest(), path.getBounds().getNorthEast());
    }
    if (!bounds) return;
    const padding = L.point(FIT_PADDING_PX, FIT_PADDING_PX);
    const zoom = Math.min(FIT_MAX_ZOOM, map.getBoundsZoom(bounds, false, padding));
    map.setView(bounds.getCenter(), zoom, { animate: false });
    performance.mark("oam:first-view");
  }

  // ---------------------------------------------------------------- markers
  //
  // An outline a few pixels across cannot be seen or clicked: such images get a
  // marker at their middle instead, and markers closer than CLUSTER_PX on screen
  // merge into one that counts them (a click zooms to them). Recomputed per zoom
  // on a grid of world pixels, so panning keeps the same clusters.

  const MARKER_BELOW_PX = 10; // footprints smaller than this, across, become markers
  const CLUSTER_PX = 36;

  const DENSITY_MAX_ZOOM = 6; // the density discs show up to this zoom
  const DENSITY_STYLE = { radius: 14, stroke: false, fillColor: "#d9480f", fillOpacity: 0.12, interactive: false };

  const markers = {
    layer: null,
    density: null, // discs under the markers, one per small image
    groups: [], // {ids, bounds, marker}
    features: [],
  };

  /** Markers in a frame of their own: not in the long task that draws 1000 outlines. */
  function scheduleMarkers() {
    if (markers.queued) return;
    markers.queued = true;
    requestAnimationFrame(() => {
      markers.queued = false;
      drawMarkers();
    });
  }

  function drawMarkers() {
    markers.layer.clearLayers();
    markers.density.clearLayers();
    markers.groups = [];
    const zoom = map.getZoom();
    const cells = new Map();
    const dense = zoom <= DENSITY_MAX_ZOOM;
    for (const feature of markers.features) {
      const path = footprints.byId.get(feature.id);
      if (!path || !path.getBounds) continue;
      const bounds = path.getBounds();
      const nw = map.project(bounds.getNorthWest(), zoom);
      const se = map.project(bounds.getSouthEast(), zoom);
      if (Math.max(se.x - nw.x, se.y - nw.y) >= MARKER_BELOW_PX) continue;
      const middle = nw.add(se).divideBy(2);
      // Coverage at a glance: translucent discs that darken where imagery piles up.
      if (dense) markers.density.addLayer(L.circleMarker(map.unproject(middle, zoom), DENSITY_STYLE));
      const key = `${Math.floor(middle.x / CLUSTER_PX)},${Math.floor(middle.y / CLUSTER_PX)}`;
      let cell = cells.get(key);
      if (!cell) cells.set(key, (cell = { features: [], bounds: L.latLngBounds(bounds.getSouthWest(), bounds.getNorthEast()), sum: L.point(0, 0) }));
      cell.features.push(feature);
      cell.bounds.extend(bounds);
      cell.sum = cell.sum.add(middle);
    }
    for (const cell of cells.values()) {
      const n = cell.features.length;
      const at = map.unproject(cell.sum.divideBy(n), zoom);
      const ids = cell.features.map((f) => f.id);
      const icon = L.divIcon({
        className: n === 1 ? "fp-marker" : "fp-marker fp-cluster",
        html: n === 1 ? "" : String(n), // a count, never catalog text
        // Coverage at a glance: a cluster grows with the imagery under it.
        iconSize: n === 1 ? [14, 14] : Array(2).fill(Math.min(48, Math.round(22 + 5 * Math.log2(n)))),
      });
      const title = n === 1 ? titleOf(cell.features[0]) : `${n} images: click to zoom in`;
      const marker = L.marker(at, { icon, keyboard: true, title, alt: title, riseOnHover: true });
      const group = { ids, bounds: cell.bounds, marker };
      marker.on("add", () => {
        const node = marker.getElement();
        node.dataset.ids = ids.join(" ");
        if (n === 1) node.dataset.id = ids[0];
        styleMarker(group);
      });
      marker.on("mouseover", () => setHover(n === 1 ? ids[0] : null));
      marker.on("mouseout", () => setHover(null));
      marker.on("click", () => {
        if (n === 1) selectFromMap(cell.features[0]);
        else map.fitBounds(cell.bounds, { padding: [60, 60], maxZoom: 18, animate: !REDUCED_MOTION });
      });
      markers.groups.push(group);
      markers.layer.addLayer(marker);
    }
  }

  function styleMarker(group) {
    const node = group.marker.getElement();
    if (!node) return;
    node.classList.toggle("hover", group.ids.includes(state.hoveredId));
    node.classList.toggle("selected", group.ids.some((id) => state.selected.has(id)));
  }

  function restyleMarkers(id) {
    for (const group of markers.groups) if (!id || group.ids.includes(id)) styleMarker(group);
  }

  function refreshFootprints() {
    const params = { ...filterParams(true), limit: FOOTPRINT_LIMIT };
    const key = JSON.stringify(params);
    if (key === footprints.key) return;
    footprints.key = key;
    const request = footprints.requests.start();
    getJSON(withParams(CONFIG.images_url, params), request.signal)
      .then((fc) => {
        if (!request.isNewest()) return;
        const shown = (fc.features || []).length;
        const matched = typeof fc.numberMatched === "number" ? fc.numberMatched : shown;
        const tiled = matched > shown && Boolean(window.oamFootprintTiles);
        footprints.layer.clearLayers();
        footprints.byId.clear();
        showFootprintTiles(tiled);
        if (!tiled) footprints.layer.addData(fc.features || []);
        markers.features = tiled ? [] : fc.features || []; // the tiles cluster small ones themselves
        if (!footprints.fitted) fitFirstView(fc);
        scheduleMarkers();
        performance.mark("oam:footprints-drawn");
        dom.footprintNote.hidden = !tiled;
        dom.footprintNote.textContent =
          `${numberFormat.format(matched)} images in view, drawn as vector tiles: click one to show it, a cluster to zoom in.`;
      })
      .catch((err) => {
        if (isAbort(err)) return;
        footprints.key = ""; // let the next move retry
        toast(`Could not load footprints: ${err.message}`);
      });
  }

  // ------------------------------------------------- the "all imagery" layer
  //
  // The mosaic of every image the filters select (not the "in view" box: the
  // layer covers the world), in the list's order, below the single images.

  const mosaic = {
    layer: null,
    key: "",
    tilejson: null,
    requests: newestRequest(),
  };

  function mosaicParams() {
    const params = filterParams(false);
    params.order = state.order; // explicit: the mosaic's own default is newest
    return params;
  }

  function refreshMosaic() {
    if (!state.mosaic) {
      if (mosaic.layer) map.removeLayer(mosaic.layer);
      mosaic.layer = null;
      mosaic.key = "";
      dom.mosaicActions.hidden = true;
      return;
    }
    const params = mosaicParams();
    const key = JSON.stringify(params);
    if (key === mosaic.key) return;
    mosaic.key = key;
    const request = mosaic.requests.start();
    getJSON(withParams(CONFIG.mosaic_tilejson_url, params), request.signal)
      .then((tilejson) => {
        if (!request.isNewest() || !state.mosaic) return;
        mosaic.tilejson = tilejson;
        if (mosaic.layer) map.removeLayer(mosaic.layer);
        mosaic.layer = L.tileLayer(tilejson.tiles[0], {
          zIndex: 5, // above the base map (1), below single images (10 and up)
          maxZoom: map.getMaxZoom(),
          maxNativeZoom: typeof tilejson.maxzoom === "number" ? tilejson.maxzoom : undefined,
          attribution: tilejson.attribution ? escapeHtml(tilejson.attribution) : "",
          className: "mosaic-layer",
        }).addTo(map);
        fillMosaicActions(tilejson, params);
      })
      .catch((err) => {
        if (isAbort(err) || !request.isNewest()) return;
        if (mosaic.layer) map.removeLayer(mosaic.layer);
        mosaic.layer = null;
        dom.mosaicActions.hidden = true;
        toast(err.status === 404 ? "No image matches the filters" : `Could not show all imagery: ${err.message}`);
      });
  }

  function fillMosaicActions(tilejson, params) {
    const copy = (label, text, what) =>
      el("button", { type: "button", class: "copy", text: label, "data-copy": what, onclick: () => copyText(text, what) });
    dom.mosaicActions.replaceChildren(
      copy("Copy XYZ", tilejson.tiles[0], "mosaic XYZ URL"),
      copy("Copy TileJSON", withParams(CONFIG.mosaic_tilejson_url, params), "mosaic TileJSON URL"),
      copy("Copy WMTS", withParams(CONFIG.mosaic_wmts_url, params), "mosaic WMTS URL"),
      ...editorLinks(tilejson.tiles[0], {
        title: tilejson.name,
        source: sourceTag(tilejson.name, "", ""),
        center: tilejson.center,
        maxZoom: typeof tilejson.maxzoom === "number" ? tilejson.maxzoom : null,
      }, "mosaic TMS URL"),
    );
    dom.mosaicActions.hidden = false;
  }

  // --------------------------------------------------------------- timeline
  //
  // The acquisition dates of the images in view that match the search (not the
  // dates: the brush sets those), as a histogram; dragging across it sets the
  // list's and the mosaic's acquired_after/acquired_before, a click sets
  // compare's split date.

  const TIMELINE_DEBOUNCE_MS = 40;
  const timeline = { chart: null, key: "", requests: newestRequest(), dates: [] };

  function refreshTimeline() {
    const params = { q: state.q.trim(), bbox: viewBbox(), limit: FOOTPRINT_LIMIT };
    const key = JSON.stringify(params);
    if (key === timeline.key) return;
    timeline.key = key;
    const request = timeline.requests.start();
    getJSON(withParams(CONFIG.images_url, params), request.signal)
      .then((fc) => {
        if (!request.isNewest()) return;
        timeline.dates = (fc.features || [])
          .map((f) => (f.properties || {}).acquisition_start || (f.properties || {}).acquisition_end || "")
          .filter(Boolean);
        timeline.chart.update(timeline.dates);
        timeline.chart.setRange(state.after, state.before);
        performance.mark("oam:timeline-drawn");
        if (state.compare && !state.split) refreshCompare();
      })
      .catch((err) => {
        if (isAbort(err)) return;
        timeline.key = "";
      });
  }

  function wireTimeline() {
    timeline.chart = createTimeline(dom.timeline, {
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
        if (state.compare) refreshCompare();
        timeline.chart.setMark(state.compare ? date : "");
        writeHash();
      },
    });
    dom.timelineClear.addEventListener("click", () => {
      state.after = state.before = "";
      dom.after.value = dom.before.value = "";
      refreshAll();
    });
  }

  // ---------------------------------------------------------------- compare
  //
  // Two layers either side of a divider (swipe.js): the mosaic of the images
  // acquired before the split date on the left and after it on the right by
  // default, or any shown image. Both follow the list's other filters and order.

  const compare = { swipe: null, layers: { left: null, right: null }, urls: { left: "", right: "" }, generation: 0 };

  /** A date between the middle two of the dates in view: half the imagery each side. */
  function defaultSplit() {
    const days = timeline.dates.map((d) => d.slice(0, 10)).sort();
    if (days.length < 2) return days[0] || new Date().toISOString().slice(0, 10);
    const a = Date.parse(days[Math.floor(days.length / 2) - 1]);
    const b = Date.parse(days[Math.floor(days.length / 2)]);
    return new Date((a + b) / 2).toISOString().slice(0, 10);
  }

  function sideParams(side) {
    const params = mosaicParams();
    const d = state.split;
    if (side === "before" && d) params.acquired_before = state.before && state.before < d ? state.before : d;
    if (side === "after" && d) params.acquired_after = state.after && state.after > d ? state.after : d;
    return params;
  }

  function fillSideOptions() {
    const d = state.split || "the split date";
    for (const [select, value] of [[dom.left, state.left], [dom.right, state.right]]) {
      const options = [
        el("option", { value: "before", text: `All imagery before ${d}` }),
        el("option", { value: "after", text: `All imagery after ${d}` }),
        el("option", { value: "all", text: "All imagery" }),
        ...[...state.selected.values()].map((e) => el("option", { value: `image:${e.feature.id}`, text: titleOf(e.feature) })),
      ];
      if (!options.some((o) => o.value === value)) options.push(el("option", { value, text: value.replace(/^image:/, "") }));
      select.replaceChildren(...options);
      select.value = value;
    }
  }

  /** The tile URL template of a side, or null (nothing matches, or not loaded yet). */
  async function sideTiles(side) {
    if (side.startsWith("image:")) {
      const entry = state.selected.get(side.slice(6));
      return entry && entry.tilejson ? entry.tilejson.tiles[0] : null;
    }
    try {
      const tilejson = await getJSON(withParams(CONFIG.mosaic_tilejson_url, sideParams(side)));
      return tilejson.tiles[0];
    } catch (err) {
      const which = { before: `before ${state.split}`, after: `after ${state.split}`, all: "" }[side];
      toast(err.status === 404 ? `Compare: no image ${which} matches the filters` : err.message);
      return null;
    }
  }

  async function refreshCompare() {
    dom.compareOptions.hidden = !state.compare;
    document.body.classList.toggle("comparing", state.compare);
    if (!state.compare) {
      compare.generation += 1;
      for (const side of ["left", "right"]) {
        if (compare.layers[side]) map.removeLayer(compare.layers[side]);
        compare.layers[side] = null;
        compare.urls[side] = "";
      }
      if (compare.swipe) compare.swipe.remove();
      compare.swipe = null;
      timeline.chart.setMark("");
      return;
    }
    if (!state.split && timeline.dates.length) state.split = defaultSplit();
    dom.split.value = state.split;
    timeline.chart.setMark(state.split);
    fillSideOptions();
    if (!compare.swipe) {
      compare.swipe = createSwipe(map, {
        position: state.swipe,
        onChange: (position) => {
          state.swipe = Math.round(position * 1000) / 1000;
          writeHashSoon();
        },
      });
    }
    const generation = (compare.generation += 1);
    const urls = await Promise.all([sideTiles(state.left), sideTiles(state.right)]);
    if (generation !== compare.generation || !state.compare) return;
    ["left", "right"].forEach((side, i) => {
      if (urls[i] === compare.urls[side]) return;
      if (compare.layers[side]) map.removeLayer(compare.layers[side]);
      compare.urls[side] = urls[i] || "";
      compare.layers[side] = urls[i]
        ? L.tileLayer(urls[i], {
            zIndex: 900 + i, // above every other layer: compare shows its two sides
            maxZoom: map.getMaxZoom(),
            className: `compare-layer compare-${side}`,
          }).addTo(map)
        : null;
    });
    compare.swipe.setLayers(compare.layers.left, compare.layers.right);
    performance.mark("oam:compare-drawn");
    writeHash();
  }

  function wireCompare() {
    dom.compareToggle.addEventListener("change", () => {
      state.compare = dom.compareToggle.checked;
      refreshCompare();
      writeHash();
    });
    dom.split.addEventListener("change", () => {
      state.split = dom.split.value;
      refreshCompare();
    });
    dom.left.addEventListener("change", () => {
      state.left = dom.left.value;
      refreshCompare();
    });
    dom.right.addEventListener("change", () => {
      state.right = dom.right.value;
      refreshCompare();
    });
    dom.copyLink.addEventListener("click", () => {
      writeHash();
      copyText(location.href, "link");
    });
  }

  // ---------------------------------------------------- selected image layers

  /** TileJSON/bbox [w, s, e, n] as Leaflet bounds; east is unwrapped past 180. */
  function toLatLngBounds(bbox) {
    if (!Array.isArray(bbox) || bbox.length < 4) return null;
    const [w, s, e, n] = bbox;
    return L.latLngBounds([s, w], [n, e < w ? e + 360 : e]);
  }

  function toggleImage(feature) {
    if (state.selected.has(feature.id)) removeImage(feature.id);
    else addImage(feature, { fly: true, opacity: 1 });
  }

  let nextZ = 10;

  async function addImage(feature, { fly, opacity, render }) {
    const entry = { feature, opacity, layer: null, tilejson: null, card: null, render: { ...NO_RENDERING, ...render } };
    state.selected.set(feature.id, entry);
    entry.card = buildCard(entry);
    fillCard(entry);
    dom.selectedList.prepend(entry.card);
    dom.selected.hidden = false;
    restyleFootprint(feature.id);
    refreshRowStates();
    writeHash();
    try {
      if (renderingQuery(entry.render) || !feature.properties.product_type) {
        // A rendering from a link: the Feature's URLs with it, before the first tile. A listing's
        // Feature of a file the worker has not read lacks its product type and that type's
        // renders: the image's own Feature reads the file's header for them.
        entry.feature = await getJSON(withQuery(`${CONFIG.images_url}/${encodeURIComponent(feature.id)}`, renderingQuery(entry.render)));
        if (state.selected.get(feature.id) !== entry) return; // removed meanwhile
        fillCard(entry);
      }
      const tilejson = await getJSON(entry.feature.properties.tilejson);
      if (state.selected.get(feature.id) !== entry) return; // removed meanwhile
      entry.tilejson = tilejson;
      entry.layer = makeTileLayer(tilejson, opacity).addTo(map);
      fillCard(entry);
      if (state.compare) refreshCompare(); // a side may be this image
      if (fly) flyTo(tilejson.bounds || feature.bbox, tilejson);
    } catch (err) {
      toast(`Could not show ${titleOf(feature)}: ${err.message}`);
    }
  }

  function makeTileLayer(tilejson, opacity) {
    const b = tilejson.bounds;
    const options = {
      opacity,
      zIndex: (nextZ += 1),
      maxZoom: map.getMaxZoom(),
      minZoom: typeof tilejson.minzoom === "number" ? tilejson.minzoom : 0,
      maxNativeZoom: typeof tilejson.maxzoom === "number" ? tilejson.maxzoom : undefined,
      attribution: tilejson.attribution ? escapeHtml(tilejson.attribution) : "",
      className: "image-layer",
    };
    // Leaflet bounds cannot cross the antimeridian; without them tiles are
    // merely requested more widely and answered 404 outside the image.
    if (Array.isArray(b) && b.length === 4 && b[0] <= b[2]) {
      // Inset by ~10 cm: TileJSON bounds are rounded, and a tile that only
      // touches the image within that rounding is answered 404 (outside).
      const e = Math.min(BOUNDS_INSET_DEG, (b[2] - b[0]) / 4, (b[3] - b[1]) / 4);
      options.bounds = L.latLngBounds([b[1] + e, b[0] + e], [b[3] - e, b[2] - e]);
    }
    return L.tileLayer(tilejson.tiles[0], options);
  }

  /** Fly to an image: fit its bounds, but within the zooms its layer shows at. */
  function flyTo(bbox, tilejson) {
    const bounds = toLatLngBounds(bbox);
    if (!bounds) return;
    const minZoom = tilejson && typeof tilejson.minzoom === "number" ? tilejson.minzoom : 0;
    const maxZoom = tilejson && typeof tilejson.maxzoom === "number" ? tilejson.maxzoom : 18;
    const fit = map.getBoundsZoom(bounds, false, L.point(40, 40));
    const zoom = Math.max(minZoom, Math.min(maxZoom, fit));
    const center = bounds.getCenter();
    if (REDUCED_MOTION) map.setView(center, zoom);
    else map.flyTo(center, zoom, { duration: 0.8 });
  }

  function removeImage(id) {
    const entry = state.selected.get(id);
    if (!entry) return;
    state.selected.delete(id);
    if (entry.layer) map.removeLayer(entry.layer);
    entry.card.remove();
    dom.selected.hidden = state.selected.size === 0;
    restyleFootprint(id);
    refreshRowStates();
    if (state.compare) refreshCompare(); // a side may have been this image
    writeHash();
  }

  // The links editors understand (editors.js): iD's custom background with the image's
  // `source=`, JOSM's remote control, and the TMS template ({zoom}) to paste by hand.
  function editorLinks(template, { title, source, center, maxZoom }, what) {
    const link = (text, href, cls) =>
      el("a", { class: `button ${cls}`, href, target: "_blank", rel: "noopener", text });
    return [
      link("Open in iD", idEditorUrl(template, { center, source }), "open-id"),
      link("Open in JOSM", josmImageryUrl(CONFIG.josm_remote_url, template, { title, maxZoom }), "open-josm"),
      el("button", {
        type: "button",
        class: "copy",
        text: "Copy TMS URL",
        "data-copy": what,
        onclick: () => copyText(tmsTemplate(template), what),
      }),
    ];
  }

  function imageEditorLinks(entry) {
    const p = entry.feature.properties;
    const tilejson = entry.tilejson || {};
    const title = titleOf(entry.feature);
    const date = (p.acquisition_end || p.acquisition_start || "").slice(0, 10);
    return editorLinks(p.tiles, {
      title,
      source: sourceTag(title, p.provider, date),
      center: tilejson.center,
      maxZoom: typeof tilejson.maxzoom === "number" ? tilejson.maxzoom : null,
    }, "TMS URL");
  }

  function metadataText(feature) {
    return JSON.stringify({ id: feature.id, bbox: feature.bbox, ...feature.properties }, null, 2);
  }

  /** Copy `text` to the clipboard and say so (dom.js). */
  const copyText = (text, what) => copyToClipboard(text, what, toast);

  function buildCard(entry) {
    const { feature } = entry;
    const title = titleOf(feature);
    const slider = el("input", {
      type: "range",
      min: 0,
      max: 1,
      step: 0.05,
      value: entry.opacity,
      class: "opacity",
      "aria-label": `Opacity of ${title}`,
    });
    slider.addEventListener("input", () => {
      entry.opacity = Number(slider.value);
      if (entry.layer) entry.layer.setOpacity(entry.opacity);
      writeHashSoon();
    });
    const imageUrl = () => `${CONFIG.images_url}/${encodeURIComponent(feature.id)}`;
    // The catalog's looks of the image (renders.js): a pick asks for the Feature drawn with it.
    entry.picker = createRenderPicker({
      apiRoot: CONFIG.api_root,
      imageUrl,
      onPick: (name) => applyRendering(entry, { ...entry.render, render: name }),
    });
    const report = createReportPanel({
      reportUrl: `${imageUrl()}/report`,
      previewUrl: () => withParams(entry.feature.properties.thumbnail, { max_size: THUMB_SIZE }),
      copyText,
      onGrade: (grade) => {
        state.grades.set(feature.id, grade);
        refreshRowStates();
      },
    });
    const card = el(
      "li",
      { class: "card", "data-id": feature.id },
      el(
        "div",
        { class: "card-head" },
        el("button", {
          type: "button",
          class: "card-title link",
          text: title,
          title: "Zoom to this image",
          onclick: () => flyTo((entry.tilejson && entry.tilejson.bounds) || feature.bbox, entry.tilejson),
        }),
        el("button", {
          type: "button",
          class: "close",
          text: "×",
          "aria-label": `Remove ${title} from the map`,
          onclick: () => removeImage(feature.id),
        }),
      ),
      entry.picker.element,
      el("label", { class: "opacity-label" }, el("span", { text: "Opacity" }), slider),
      el("div", { class: "actions" }),
      renderPanel(entry),
      report.element,
      el("details", { class: "details metadata" }, el("summary", { text: "Metadata" }), metadataList(feature)),
    );
    return card;
  }

  /** Fill the card's actions; again once the TileJSON adds the zooms to the editor links. */
  function fillCard(entry) {
    const p = entry.feature.properties;
    if (p.product_type && state.productTypes.get(entry.feature.id) !== p.product_type) {
      state.productTypes.set(entry.feature.id, p.product_type);
      refreshRowStates();
    }
    const actions = entry.card.querySelector(".actions");
    const copy = (label, text, what) =>
      el("button", { type: "button", class: "copy", text: label, "data-copy": what, onclick: () => copyText(text, what) });
    actions.replaceChildren(
      copy("Copy XYZ", p.tiles, "XYZ URL"),
      copy("Copy TileJSON", p.tilejson, "TileJSON URL"),
      copy("Copy WMTS", p.wmts, "WMTS URL"),
      copy("Copy metadata", metadataText(entry.feature), "metadata"),
      ...imageEditorLinks(entry),
    );
    entry.picker.update(entry.feature, entry.render.render);
    entry.card.querySelector(".metadata dl").replaceWith(metadataList(entry.feature));
  }

  // ------------------------------------------------------ rendering panel
  //
  // API.md "Rendering options": nodata, bidx, rescale, colormap_name. The panel
  // asks the server for the image's Feature with them, whose tiles, TileJSON and
  // WMTS URLs carry them in canonical form; the layer and the copy buttons take
  // those URLs, so what is copied is what is shown.

  let colormapNames = null; // GET /api/colormaps, once

  async function loadColormaps() {
    if (!colormapNames) {
      colormapNames = getJSON(`${CONFIG.api_root}/api/colormaps`).then((doc) => doc.colormaps || []);
    }
    return colormapNames;
  }

  function renderPanel(entry) {
    const id = entry.feature.id;
    const r = entry.render;
    const field = (label, input) => el("label", { class: "render-field" }, el("span", { text: label }), input);
    const nodataOn = el("input", { type: "checkbox", class: "r-nodata-on", checked: r.nodata !== "" });
    const nodata = el("input", { type: "text", inputmode: "decimal", class: "r-nodata", value: r.nodata || "0", size: 5, "aria-label": "Nodata value" });
    const bidx = el("input", { type: "text", class: "r-bidx", value: r.bidx, placeholder: "default", size: 7, "aria-label": "Bands, e.g. 1,2,3 or 1" });
    const low = el("input", { type: "text", inputmode: "decimal", class: "r-min", value: r.rescale.split(",")[0] || "", placeholder: "auto", size: 6, "aria-label": "Rescale minimum" });
    const high = el("input", { type: "text", inputmode: "decimal", class: "r-max", value: r.rescale.split(",")[1] || "", placeholder: "auto", size: 6, "aria-label": "Rescale maximum" });
    const colormap = el("select", { class: "r-colormap", "aria-label": "Colormap of one band" }, el("option", { value: "", text: "none" }));
    if (r.colormap_name) colormap.append(el("option", { value: r.colormap_name, text: r.colormap_name }));
    colormap.value = r.colormap_name;
    const bands = el("span", { class: "r-bands hint" });
    const status = el("p", { class: "r-status", role: "status" });
    const panel = el(
      "details",
      { class: "render-panel" },
      el("summary", { text: "Rendering" }),
      el("div", { class: "render-grid" },
        el("label", { class: "render-field" }, nodataOn, el("span", { text: "Nodata transparent:" }), nodata),
        field("Bands", bidx),
        bands,
        el("div", { class: "render-field" }, el("span", { text: "Rescale" }), low, el("span", { text: "–" }), high),
        field("Colormap (one band)", colormap),
      ),
      status,
    );
    const read = () => {
      const lo = low.value.trim();
      const hi = high.value.trim();
      return {
        render: entry.render.render, // the picker's: the panel's options apply over it
        nodata: nodataOn.checked ? nodata.value.trim() || "0" : "",
        // A lossy upload's collar is near black (or white), not the value: nearblack's scan (API.md collar).
        collar: nodataOn.checked ? (nodata.value.trim() === "255" ? "white" : "black") : "",
        bidx: bidx.value.replace(/\s+/g, ""),
        rescale: lo !== "" && hi !== "" ? `${lo},${hi}` : "",
        colormap_name: colormap.value,
      };
    };
    const apply = debounce(() => applyRendering(entry, read()), INPUT_DEBOUNCE_MS);
    for (const input of [nodataOn, nodata, bidx, low, high, colormap]) {
      input.addEventListener(input.tagName === "SELECT" || input.type === "checkbox" ? "change" : "input", apply);
    }
    // Colormaps and band counts only when the panel is opened: most people never do.
    panel.addEventListener("toggle", () => {
      if (!panel.open || panel.dataset.filled) return;
      panel.dataset.filled = "1";
      loadColormaps()
        .then((names) => {
          for (const name of names) {
            if (name !== entry.render.colormap_name) colormap.append(el("option", { value: name, text: name }));
          }
          colormap.value = entry.render.colormap_name;
        })
        .catch((err) => (status.textContent = `Colormaps: ${err.message}`));
      getJSON(`${CONFIG.images_url}/${encodeURIComponent(id)}/statistics`)
        .then((doc) => {
          const n = Object.keys(doc).filter((k) => /^b\d+$/.test(k)).length; // "b1", "b2", …
          if (n) bands.textContent = `${n} band${n === 1 ? "" : "s"}`;
        })
        .catch(() => {});
    });
    return panel;
  }

  /** Resolve when ``url`` renders; else throw the API's error message. */
  async function checkRenders(url) {
    const response = await fetch(url);
    if (response.ok) return;
    let message = `HTTP ${response.status}`;
    try {
      message = (await response.json()).error.message || message;
    } catch (_) {
      /* not JSON: keep the status */
    }
    throw new Error(message);
  }

  async function applyRendering(entry, render) {
    const status = entry.card.querySelector(".r-status");
    const id = entry.feature.id;
    const asked = (entry.asked = (entry.asked || 0) + 1); // a newer pick or edit wins
    try {
      const feature = await getJSON(withQuery(`${CONFIG.images_url}/${encodeURIComponent(id)}`, renderingQuery(render)));
      const tilejson = await getJSON(feature.properties.tilejson);
      // The Feature and TileJSON do not read pixels; a small thumbnail does, so a band
      // past the image's count or a missing rescale is said here, not as broken tiles.
      if (renderingQuery(render)) await checkRenders(withParams(feature.properties.thumbnail, { max_size: 64 }));
      if (state.selected.get(id) !== entry || asked !== entry.asked) return;
      entry.render = render;
      entry.feature = feature;
      entry.tilejson = tilejson;
      if (entry.layer) entry.layer.setUrl(tilejson.tiles[0]);
      fillCard(entry);
      status.textContent = renderingQuery(render) ? `Shown with ${renderingQuery(render)}` : "";
      status.classList.remove("error");
      writeHash();
    } catch (err) {
      if (asked !== entry.asked) return;
      // A 400 names the parameter and what it accepts: say it where it was typed.
      status.textContent = err.message;
      status.classList.add("error");
      if (render.render !== entry.render.render) {
        entry.picker.update(entry.feature, entry.render.render); // the pick did not take
        toast(`Could not show ${render.render || "the default render"}: ${err.message}`);
      }
    }
  }

  // -------------------------------------------------------- point values

  /** A click on a shown image: every band's value there (GET .../point/{lon},{lat}). */
  async function showPointValue(latlng) {
    const lng = wrapLng(latlng.lng, false);
    const entries = [...state.selected.values()].filter((e) => e.tilejson && e.layer);
    entries.sort((a, b) => b.layer.options.zIndex - a.layer.options.zIndex); // topmost first
    const entry = entries.find((e) => {
      const bounds = toLatLngBounds(e.tilejson.bounds || e.feature.bbox);
      return bounds && (bounds.contains(latlng) || bounds.contains(L.latLng(latlng.lat, lng)));
    });
    if (!entry) return;
    const query = new URLSearchParams();
    if (entry.render.render) query.set("render", entry.render.render);
    if (entry.render.bidx) query.set("bidx", entry.render.bidx);
    if (entry.render.nodata) query.set("nodata", entry.render.nodata);
    const url = withQuery(
      `${CONFIG.images_url}/${encodeURIComponent(entry.feature.id)}/point/${lng.toFixed(7)},${latlng.lat.toFixed(7)}`,
      query.toString().replace(/%2C/g, ","),
    );
    let content;
    try {
      const doc = await getJSON(url);
      const rows = (doc.values || []).map((value, i) =>
        el("tr", {}, el("th", { text: `Band ${(doc.bands || [])[i] ?? i + 1}` }), el("td", { text: value === null ? "masked" : String(value) })),
      );
      content = el(
        "div",
        { class: "point-value" },
        el("strong", { text: titleOf(entry.feature) }),
        el("table", {}, ...rows),
        el("div", { class: "hint", text: doc.mask ? "valid pixel" : "masked (no data)" }),
      );
    } catch (err) {
      content = el("div", { class: "point-value", text: err.status === 404 ? "Outside the image" : err.message });
    }
    L.popup({ maxWidth: 260 }).setLatLng(latlng).setContent(content).openOn(map);
  }

  function metadataList(feature) {
    const p = feature.properties || {};
    const rows = [
      ["Title", p.title],
      ["Acquired", formatDate(p)],
      ["GSD", formatGsd(p.gsd)],
      ["Product type", p.product_type ? `${p.product_type}${p.product_type_source ? ` (${p.product_type_source})` : ""}` : ""],
      ["Provider", p.provider],
      ["License", p.license],
      ["ID", feature.id],
    ];
    const dl = el("dl");
    for (const [name, value] of rows) {
      if (value === undefined || value === null || value === "") continue;
      dl.append(el("dt", { text: name }), el("dd", { text: value }));
    }
    // Only http(s) links: a catalog could hold a javascript: URL.
    if (/^https?:\/\//i.test(p.source_url || "")) {
      dl.append(el("dt", { text: "GeoTIFF" }), el("dd", {}, el("a", { href: p.source_url, text: "source file", rel: "noopener" })));
    }
    return dl;
  }

  // ------------------------------------------------------------- URL state
  //
  // The fragment's format and parsing: fragment.js.

  let lastHash = "";

  function stateToHash() {
    const params = new URLSearchParams();
    const c = map.getCenter();
    const z = map.getZoom();
    const digits = Math.max(0, Math.ceil(Math.log10(2 ** z)) + 1);
    params.set("map", `${z}/${c.lat.toFixed(digits)}/${c.lng.toFixed(digits)}`);
    if (state.q) params.set("q", state.q);
    if (state.after) params.set("after", state.after);
    if (state.before) params.set("before", state.before);
    if (state.inview) params.set("inview", "1");
    if (state.order !== "catalog") params.set("order", state.order);
    if (state.mosaic) params.set("mosaic", "1");
    if (state.compare) {
      params.set("compare", "1");
      if (state.split) params.set("split", state.split);
      params.set("left", state.left);
      params.set("right", state.right);
      params.set("swipe", String(state.swipe));
    }
    const sel = [...state.selected.values()]
      .reverse() // oldest first, so restoring stacks them in the same order
      .map((e) => (e.opacity === 1 ? e.feature.id : `${e.feature.id}~${e.opacity}`));
    if (sel.length) params.set("sel", sel.join(","));
    for (const e of [...state.selected.values()].reverse()) {
      const query = renderingQuery(e.render);
      if (query) params.append("render", `${e.feature.id}~${query}`);
    }
    return `#${fragmentText(params)}`;
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
    state.q = wanted.q;
    state.after = wanted.after;
    state.before = wanted.before;
    state.inview = wanted.inview;
    state.order = wanted.order;
    state.mosaic = wanted.mosaic;
    state.compare = wanted.compare;
    state.split = wanted.split;
    state.left = wanted.left;
    state.right = wanted.right;
    state.swipe = wanted.swipe;
    dom.compareToggle.checked = state.compare;
    if (compare.swipe) compare.swipe.setPosition(state.swipe, false);
    dom.order.value = state.order;
    dom.mosaicToggle.checked = state.mosaic;
    dom.q.value = state.q;
    dom.after.value = state.after;
    dom.before.value = state.before;
    dom.inview.checked = state.inview;
    if (wanted.view) map.setView([wanted.view.lat, wanted.view.lng], wanted.view.zoom, { animate: false });
    // Only the first view fits the images; a fragment's view or selection decides it instead.
    if (footprints.fitted === undefined) footprints.fitted = !!wanted.view || wanted.sel.length > 0;
    const wantedIds = new Set(wanted.sel.map((s) => s.id));
    for (const id of [...state.selected.keys()]) if (!wantedIds.has(id)) removeImage(id);
    for (const { id, opacity } of wanted.sel) {
      const entry = state.selected.get(id);
      if (entry) {
        entry.opacity = opacity;
        if (entry.layer) entry.layer.setOpacity(opacity);
        entry.card.querySelector(".opacity").value = opacity;
        const render = wanted.render.get(id) || NO_RENDERING;
        if (renderingQuery(render) !== renderingQuery(entry.render)) applyRendering(entry, render);
      } else {
        restoreImage(id, opacity, !wanted.view, wanted.render.get(id));
      }
    }
    refreshAll();
  }

  async function restoreImage(id, opacity, fly, render) {
    try {
      const feature = await getJSON(`${CONFIG.images_url}/${encodeURIComponent(id)}`);
      if (!state.selected.has(id)) addImage(feature, { fly, opacity, render });
    } catch (err) {
      toast(`Image ${id} is not in the catalog: ${err.message}`);
    }
  }

  // ---------------------------------------------------------------- set-up

  function refreshAll() {
    refreshList();
    refreshFootprints();
    refreshMosaic();
    refreshTimeline();
    if (timeline.chart) timeline.chart.setRange(state.after, state.before);
    refreshCompare();
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
    dom.after.addEventListener("change", fromForm);
    dom.before.addEventListener("change", fromForm);
    dom.inview.addEventListener("change", fromForm);
    dom.order.addEventListener("change", fromForm);
    dom.mosaicToggle.addEventListener("change", fromForm);
    document.getElementById("filters").addEventListener("submit", (event) => {
      event.preventDefault(); // Enter in the search box applies at once
      fromForm();
    });
  }

  function init() {
    map = L.map("map", {
      preferCanvas: true, // thousands of footprints draw far faster on canvas
      worldCopyJump: true,
      // Explicit, or Leaflet derives them from the layers: an image layer's
      // TileJSON minzoom of 17 would stop the user from zooming out.
      minZoom: 0,
      maxZoom: 22,
      zoomControl: true,
    }).fitWorld({ animate: false }); // the whole world: the first footprints answer has every image
    map.attributionControl.setPrefix('<a href="https://leafletjs.com">Leaflet</a>');
    basemap = createBasemap(map, CONFIG, toast);
    footprints.layer = L.geoJSON(null, {
      style: (feature) => footprintStyle(feature.id),
      onEachFeature: onFootprint,
    }).addTo(map);
    markers.layer = L.layerGroup().addTo(map);
    const densityPane = map.createPane("density");
    densityPane.style.zIndex = 390; // below the outlines (overlay pane, 400)
    densityPane.style.pointerEvents = "none";
    DENSITY_STYLE.pane = "density";
    DENSITY_STYLE.renderer = L.canvas({ pane: "density" });
    markers.density = L.layerGroup().addTo(map);
    map.on("zoomend", scheduleMarkers);
    map.on("click", async (event) => {
      if (!(await pickFootprintTile(event.latlng))) showPointValue(event.latlng);
    });

    wireList();
    wireFilters();
    wireTimeline();
    wireCompare();
    map.on("moveend", debounce(refreshTimeline, TIMELINE_DEBOUNCE_MS));
    const onMove = debounce(() => {
      if (state.inview) refreshList();
      refreshFootprints();
      writeHash();
    }, MOVE_DEBOUNCE_MS);
    map.on("moveend", onMove);
    window.addEventListener("hashchange", () => {
      if (location.hash !== lastHash) applyHash(location.hash);
    });
    applyHash(location.hash);
    // Exposed for tests and debugging; the page itself never reads it.
    window.oamPreview = { map, state, list, footprints, markers, mosaic, basemap, timeline, compare, STYLE };
  }

  init();
})();
