/* The virtualised list of the images the filters match.
 *
 * Only the rows in (or near) the viewport exist in the DOM; they are absolutely positioned
 * inside a spacer as tall as all matches. Pages of PAGE_SIZE records are fetched by offset
 * when a row needs one. Catalog strings become text only (dom.js's `el`).
 */
import { debounce, el } from "./dom.js";
import { formatDate, formatGsd, numberFormat, titleOf } from "./format.js";
import { getJSON, isAbort, withParams } from "./http.js";
import { newestRequest } from "./newest.js";
import { gradeBadge } from "./report.js";

export const ROW_HEIGHT = 76; // px; fixed so the list can be virtualised by arithmetic
export const PAGE_SIZE = 100; // list rows fetched per request
const OVERSCAN = 6; // rows rendered beyond the visible ones, for smooth scrolling
export const THUMB_SIZE = 128; // px, 2x the displayed 64 px, sharp on high-DPI screens
const THUMB_DELAY_MS = 120;

/** The rows [first, last] to draw for a scroll offset and height (px) among `total` rows. */
export function visibleRows(top, height, total) {
  const first = Math.max(0, Math.floor(top / ROW_HEIGHT) - OVERSCAN);
  const last = Math.min(total - 1, Math.ceil((top + height) / ROW_HEIGHT) + OVERSCAN);
  return [first, last];
}

/** "3 images match in view": the count line of a query's answer. */
export function countText(total, inview) {
  const n = numberFormat.format(total);
  return `${n} image${total === 1 ? "" : "s"} match${total === 1 ? "es" : ""}${inview ? " in view" : ""}`;
}

/**
 * @param {object} deps
 *   config: the page's #oam-config; state: app.js's state; dom: its elements;
 *   params(): the list's query (filters, bbox when "in view"); onToggle(feature): show or hide
 *   an image; onHover(id): a row hovered (null: none)
 */
export function createList({ config, state, dom, params, onToggle, onHover }) {
  const model = {
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

  function refresh() {
    const key = JSON.stringify(params());
    if (key === model.key) return;
    model.key = key;
    model.query = model.requests.start();
    model.pages.clear();
    model.known = false;
    model.active = -1;
    dom.list.scrollTop = 0;
    clearRows();
    dom.count.textContent = "Searching…";
    loadPage(0);
  }

  function loadPage(pageNo) {
    if (model.pages.has(pageNo)) return;
    model.pages.set(pageNo, "loading");
    const query = model.query;
    const url = withParams(config.images_url, { ...JSON.parse(model.key), limit: PAGE_SIZE, offset: pageNo * PAGE_SIZE });
    getJSON(url, query.signal)
      .then((fc) => {
        if (!query.isNewest()) return;
        model.pages.set(pageNo, fc.features || []);
        model.total = typeof fc.numberMatched === "number" ? fc.numberMatched : model.total;
        if (!model.known && typeof fc.numberMatched !== "number") {
          model.total = (fc.features || []).length; // a server without counts: one page
        }
        model.known = true;
        showCount();
        scheduleRender();
      })
      .catch((err) => {
        if (isAbort(err) || !query.isNewest()) return;
        model.pages.delete(pageNo);
        dom.count.textContent = `Could not load images: ${err.message}`;
      });
  }

  function showCount() {
    dom.count.textContent = countText(model.total, state.inview);
    dom.list.setAttribute("aria-label", `Catalog images, ${numberFormat.format(model.total)} matching`);
  }

  function itemAt(index) {
    const page = model.pages.get(Math.floor(index / PAGE_SIZE));
    return Array.isArray(page) ? page[index % PAGE_SIZE] : undefined;
  }

  function clearRows() {
    for (const row of model.rows.values()) row.remove();
    model.rows.clear();
    dom.spacer.style.height = "0px";
  }

  function scheduleRender() {
    if (model.renderQueued) return;
    model.renderQueued = true;
    requestAnimationFrame(() => {
      model.renderQueued = false;
      render();
    });
  }

  function render() {
    dom.spacer.style.height = `${model.total * ROW_HEIGHT}px`;
    const [first, last] = visibleRows(dom.list.scrollTop, dom.list.clientHeight || window.innerHeight, model.total);
    const kept = new Map();
    for (let i = first; i <= last; i++) {
      const feature = itemAt(i);
      if (!feature) loadPage(Math.floor(i / PAGE_SIZE));
      const id = feature ? feature.id : "";
      let row = model.rows.get(i);
      if (!row || row.dataset.id !== id) {
        if (row) row.remove();
        row = feature ? buildRow(feature, i) : buildPlaceholder(i);
        dom.spacer.append(row);
      }
      updateRow(row, i);
      kept.set(i, row);
    }
    for (const [i, row] of model.rows) if (!kept.has(i)) row.remove();
    model.rows = kept;
    markRendered();
    loadThumbnailsSoon();
    const activeRow = model.rows.get(model.active);
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
  function markRendered() {
    if (model.markedQuery === model.query || !model.known) return;
    model.markedQuery = model.query;
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
    // A failed thumbnail says so, rather than a broken-image icon or a blank tile.
    thumb.addEventListener("error", () => thumb.replaceWith(failedThumb()), { once: true });
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
        el("div", { class: "title", title: titleOf(feature) }, ...privacyBadge(p), titleOf(feature)),
        el("div", { class: "facts" }, el("span", { class: "row-grade" }), facts, el("span", { class: "row-type" })),
        el("div", { class: "who", text: who }),
      ),
    );
  }

  /** A private image's mark (only a logged-in page lists them): "private", or its embargo's end. */
  function privacyBadge(p) {
    if (p.private === true) return [el("span", { class: "row-private", text: "private" }), " "];
    if (p.embargo_until) return [el("span", { class: "row-private", text: `embargoed until ${p.embargo_until}` }), " "];
    return [];
  }

  function failedThumb() {
    return el("div", { class: "thumb failed", role: "img", title: "No preview: the thumbnail could not be made" }, "No preview");
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
    const entry = id ? state.selected.get(id) : undefined;
    const selected = !!entry && !entry.failed; // a failed image is not on the map
    row.classList.toggle("selected", selected);
    row.classList.toggle("failed", !!entry && !!entry.failed);
    row.classList.toggle("hover", !!id && id === state.hoveredId);
    row.classList.toggle("active", index === model.active);
    row.setAttribute("aria-selected", String(selected));
    row.setAttribute("aria-posinset", index + 1);
    row.setAttribute("aria-setsize", model.total);
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
    for (const [i, row] of model.rows) updateRow(row, i);
  }

  function setActive(index) {
    if (model.total === 0) return;
    model.active = Math.max(0, Math.min(model.total - 1, index));
    const top = model.active * ROW_HEIGHT;
    if (top < dom.list.scrollTop) dom.list.scrollTop = top;
    else if (top + ROW_HEIGHT > dom.list.scrollTop + dom.list.clientHeight) {
      dom.list.scrollTop = top + ROW_HEIGHT - dom.list.clientHeight;
    }
    render();
  }

  /** Make an image's row the active one, when a loaded page holds it. */
  function reveal(id) {
    for (const [pageNo, page] of model.pages) {
      if (!Array.isArray(page)) continue;
      const at = page.findIndex((f) => f.id === id);
      if (at >= 0) {
        setActive(pageNo * PAGE_SIZE + at);
        return;
      }
    }
  }

  function onKey(event) {
    const pageRows = Math.max(1, Math.floor(dom.list.clientHeight / ROW_HEIGHT) - 1);
    const moves = { ArrowDown: 1, ArrowUp: -1, PageDown: pageRows, PageUp: -pageRows };
    if (event.key in moves) {
      setActive(model.active < 0 ? 0 : model.active + moves[event.key]);
    } else if (event.key === "Home") {
      setActive(0);
    } else if (event.key === "End") {
      setActive(model.total - 1);
    } else if (event.key === "Enter" || event.key === " ") {
      const feature = itemAt(model.active);
      if (feature) onToggle(feature);
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

  dom.list.addEventListener("scroll", scheduleRender, { passive: true });
  dom.list.addEventListener("keydown", onKey);
  dom.list.addEventListener("click", (event) => {
    const hit = rowFeature(event.target);
    if (!hit || !hit.feature) return;
    model.active = Number(hit.row.dataset.index);
    onToggle(hit.feature);
  });
  dom.list.addEventListener("mouseover", (event) => {
    const hit = rowFeature(event.target);
    onHover(hit ? hit.row.dataset.id : null);
  });
  dom.list.addEventListener("mouseleave", () => onHover(null));
  window.addEventListener("resize", scheduleRender);

  return { model, refresh, refreshRowStates, setActive, reveal };
}
