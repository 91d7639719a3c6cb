/* A shown image's Rendering panel: API.md "Rendering options" (nodata, bidx, rescale,
 * colormap_name). The panel only reads what the user typed; the card (selected.js) asks the
 * server for the image's Feature with it, whose tiles, TileJSON and WMTS URLs carry the options
 * in canonical form, so what is copied is what is shown.
 */
import { debounce, el } from "./dom.js";
import { getJSON, withParams } from "./http.js";

const INPUT_DEBOUNCE_MS = 300;

let colormapNames = null; // GET /api/colormaps, once per page

function loadColormaps(apiRoot) {
  if (!colormapNames) colormapNames = getJSON(`${apiRoot}/api/colormaps`).then((doc) => doc.colormaps || []);
  return colormapNames;
}

/** The band keys ("b1", "b2", …) of a statistics document. */
export function statisticsBands(doc) {
  return Object.keys(doc || {}).filter((k) => /^b\d+$/.test(k));
}

/** The server's 2–98 % stretch of the bands of a statistics document, as the panel's rescale
 * (one range for every band: the lowest 2nd and the highest 98th percentile), rounded outwards
 * to ~3 significant digits of the range; null without bands. Values in the image's units. */
export function stretchOf(doc) {
  const bands = statisticsBands(doc).map((k) => doc[k]);
  const lows = bands.map((b) => b.percentile_2).filter(Number.isFinite);
  const highs = bands.map((b) => b.percentile_98).filter(Number.isFinite);
  if (!lows.length || !highs.length) return null;
  const lo = Math.min(...lows);
  const hi = Math.max(...highs);
  const decimals = Math.max(0, Math.min(6, 2 - Math.floor(Math.log10(Math.max(hi - lo, 1e-6)))));
  const step = 10 ** -decimals;
  const text = (v) => String(+v.toFixed(decimals));
  return [text(Math.floor(lo / step) * step), text(Math.ceil(hi / step) * step)];
}

/** Resolve when `url` renders; else throw the API's error message. */
export async function checkRenders(url) {
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

/**
 * @param {object} deps
 *   apiRoot; imageUrl: the image's API URL; render: the rendering shown (NO_RENDERING's keys);
 *   currentRender(): the picker's render name now; onChange(render): the user changed an option
 * @returns {HTMLDetailsElement} the panel; its `.r-status` says what is shown or what failed
 */
export function createRenderPanel({ apiRoot, imageUrl, render: r, currentRender, onChange }) {
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
  // The server's 2–98 % of the bands typed (or every band): one click sets the rescale.
  const stretch = el("button", {
    type: "button",
    class: "r-stretch",
    hidden: true,
    title: "The lowest 2nd and highest 98th percentile of these bands (the server's statistics)",
  });
  const status = el("p", { class: "r-status", role: "status" });
  const panel = el(
    "details",
    { class: "render-panel" },
    el("summary", { text: "Rendering" }),
    el(
      "div",
      { class: "render-grid" },
      el("label", { class: "render-field" }, nodataOn, el("span", { text: "Nodata transparent:" }), nodata),
      field("Bands", bidx),
      bands,
      el("div", { class: "render-field" }, el("span", { text: "Rescale" }), low, el("span", { text: "–" }), high),
      stretch,
      field("Colormap (one band)", colormap),
    ),
    status,
  );
  const read = () => {
    const lo = low.value.trim();
    const hi = high.value.trim();
    return {
      render: currentRender(), // the picker's: the panel's options apply over it
      nodata: nodataOn.checked ? nodata.value.trim() || "0" : "",
      // A lossy upload's collar is near black (or white), not the value: nearblack's scan (API.md collar).
      collar: nodataOn.checked ? (nodata.value.trim() === "255" ? "white" : "black") : "",
      bidx: bidx.value.replace(/\s+/g, ""),
      rescale: lo !== "" && hi !== "" ? `${lo},${hi}` : "",
      colormap_name: colormap.value,
    };
  };
  const apply = debounce(() => onChange(read()), INPUT_DEBOUNCE_MS);
  for (const input of [nodataOn, nodata, bidx, low, high, colormap]) {
    input.addEventListener(input.tagName === "SELECT" || input.type === "checkbox" ? "change" : "input", apply);
  }

  let stretchAsked = 0; // the newest bands' statistics win
  /** Offer the 2–98 % stretch of the bands now typed (every band when none); `count`: say how many. */
  function offerStretch(count = false) {
    const asked = (stretchAsked += 1);
    const { bidx: picked, nodata: masked } = read();
    getJSON(withParams(`${imageUrl}/statistics`, { bidx: picked, nodata: masked }))
      .then((doc) => {
        if (asked !== stretchAsked) return;
        const n = statisticsBands(doc).length;
        if (count && n) bands.textContent = `${n} band${n === 1 ? "" : "s"}`;
        const range = stretchOf(doc);
        stretch.hidden = !range;
        if (!range) return;
        stretch.dataset.low = range[0];
        stretch.dataset.high = range[1];
        stretch.textContent = `Use 2–98 %: ${range[0]}–${range[1]}`;
      })
      .catch(() => {
        if (asked === stretchAsked) stretch.hidden = true; // bands the image lacks: the status says why
      });
  }
  bidx.addEventListener("input", debounce(() => offerStretch(), INPUT_DEBOUNCE_MS));
  stretch.addEventListener("click", () => {
    low.value = stretch.dataset.low;
    high.value = stretch.dataset.high;
    onChange(read());
  });
  // Colormaps and band counts only when the panel is opened: most people never do.
  panel.addEventListener("toggle", () => {
    if (!panel.open || panel.dataset.filled) return;
    panel.dataset.filled = "1";
    loadColormaps(apiRoot)
      .then((names) => {
        const shown = colormap.value;
        for (const name of names) {
          if (name !== shown) colormap.append(el("option", { value: name, text: name }));
        }
        colormap.value = shown;
      })
      .catch((err) => (status.textContent = `Colormaps: ${err.message}`));
    if (bidx.value.trim()) {
      // The band count is the image's; the stretch the typed bands'.
      getJSON(`${imageUrl}/statistics`)
        .then((doc) => {
          const n = statisticsBands(doc).length;
          if (n) bands.textContent = `${n} band${n === 1 ? "" : "s"}`;
        })
        .catch(() => {});
      offerStretch();
    } else {
      offerStretch(true);
    }
  });
  return panel;
}
