/* A shown image's Rendering panel: API.md "Rendering options" (nodata, bidx, rescale,
 * colormap_name). The panel only reads what the user typed; the card (selected.js) asks the
 * server for the image's Feature with it, whose tiles, TileJSON and WMTS URLs carry the options
 * in canonical form, so what is copied is what is shown.
 */
import { debounce, el } from "./dom.js";
import { getJSON } from "./http.js";

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
      bidx: bidx.value.replace(/\s+/g, ""),
      rescale: lo !== "" && hi !== "" ? `${lo},${hi}` : "",
      colormap_name: colormap.value,
    };
  };
  const apply = debounce(() => onChange(read()), INPUT_DEBOUNCE_MS);
  for (const input of [nodataOn, nodata, bidx, low, high, colormap]) {
    input.addEventListener(input.tagName === "SELECT" || input.type === "checkbox" ? "change" : "input", apply);
  }
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
    getJSON(`${imageUrl}/statistics`)
      .then((doc) => {
        const n = statisticsBands(doc).length;
        if (n) bands.textContent = `${n} band${n === 1 ? "" : "s"}`;
      })
      .catch(() => {});
  });
  return panel;
}
