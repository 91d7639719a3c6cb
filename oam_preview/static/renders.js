/* A shown image's looks: the render picker (the renders its catalog or its product type gives it,
 * by title: API.md "Renders") and the legend of a colormapped rendering.
 *
 * The legend reads what is shown from the layer's own tile URL, whose query is the rendering in
 * canonical form (the render's resolved fields and the options over it): `colormap_name` (a
 * gradient from GET /api/colormaps/{name}) or a JSON `colormap` (swatches from GET
 * /api/colormaps?colormap=…), labelled by `rescale`, else by the image's 2nd and 98th
 * percentiles (the automatic stretch: GET …/statistics with the same query). Catalog strings
 * (render titles) only ever become text.
 */
import { el } from "./dom.js";
import { getJSON, withParams } from "./http.js";

const GRADIENT_STOPS = 32; // of a colormap's 256: a smooth bar, a short style
const MAX_SWATCHES = 12; // a JSON colormap's entries shown; the rest counted

/** The renders a Feature lists, [{name, title}], the default first (as the API orders them). */
export function renderChoices(feature) {
  const renders = (feature && feature.properties && feature.properties.renders) || [];
  return renders
    .filter((r) => r && typeof r.name === "string")
    .map((r) => ({ name: r.name, title: r.title || r.name }));
}

/** The colours of a rendering from its tile URL: {name} or {json}, with its `rescale` ("" when
 * automatic); null when it has no colormap. */
export function colormapOf(tilesUrl) {
  let query;
  try {
    query = new URL(tilesUrl.replace(/\{(z|x|y)\}/g, "0"), document.baseURI).searchParams;
  } catch (_) {
    return null;
  }
  const rescale = query.get("rescale") || "";
  if (query.get("colormap_name")) return { name: query.get("colormap_name"), rescale };
  if (query.get("colormap")) return { json: query.get("colormap"), rescale };
  return null;
}

/** `[r, g, b, a]` (0-255) as CSS. */
export const cssColour = ([r, g, b, a = 255]) => `rgba(${r}, ${g}, ${b}, ${+(a / 255).toFixed(3)})`;

/** A number as a legend label: at most 4 significant digits. */
const label = (value) => (typeof value === "number" && isFinite(value) ? String(+value.toPrecision(4)) : String(value));

/**
 * The render picker of one shown image: a select of its renders that calls `onPick(name)` ("" for
 * the default one) and a legend under it. `update(feature, chosen)` after every new Feature.
 */
export function createRenderPicker({ apiRoot, imageUrl, onPick }) {
  const select = el("select", { class: "render-pick", "aria-label": "Render" });
  const legend = el("div", { class: "legend", hidden: true, "aria-label": "Legend" });
  const row = el("label", { class: "render-field render-choice", hidden: true }, el("span", { text: "Render" }), select);
  const element = el("div", { class: "renders" }, row, legend);
  let defaultName = "";
  let shownKey = "";
  select.addEventListener("change", () => onPick(select.value === defaultName ? "" : select.value));

  async function showLegend(feature) {
    const colours = colormapOf(feature.properties.tiles || "");
    const key = colours ? JSON.stringify(colours) : "";
    if (key === shownKey) return;
    shownKey = key;
    if (!colours) {
      legend.hidden = true;
      legend.replaceChildren();
      return;
    }
    try {
      const [low, high] = await legendRange(colours, feature.properties.tiles);
      const body = colours.name
        ? gradientLegend(await namedStops(apiRoot, colours.name), low, high, colours.name)
        : swatchLegend(await getJSON(withParams(`${apiRoot}/api/colormaps`, { colormap: colours.json })));
      if (key !== shownKey) return; // another rendering meanwhile
      legend.replaceChildren(...body);
      legend.hidden = false;
    } catch (err) {
      if (key !== shownKey) return;
      legend.replaceChildren(el("span", { class: "hint", text: `Legend: ${err.message}` }));
      legend.hidden = false;
    }
  }

  /** The values at the ends of a gradient: `rescale`'s, else the automatic stretch's percentiles. */
  async function legendRange(colours, tilesUrl) {
    if (colours.json) return ["", ""];
    const parts = colours.rescale.split(",").map(Number);
    if (parts.length >= 2 && parts.every(isFinite)) return [parts[0], parts[1]];
    const query = new URL(tilesUrl.replace(/\{(z|x|y)\}/g, "0"), document.baseURI).search;
    try {
      const doc = await getJSON(`${imageUrl()}/statistics${query}`);
      const band = Object.values(doc).find((v) => v && typeof v === "object" && "percentile_2" in v);
      if (band) return [band.percentile_2, band.percentile_98];
    } catch (_) {
      /* the labels say the stretch instead */
    }
    return ["2 %", "98 %"];
  }

  function update(feature, chosen) {
    const choices = renderChoices(feature);
    defaultName = (feature.properties && feature.properties.default_render) || (choices[0] ? choices[0].name : "");
    select.replaceChildren(...choices.map((c) => el("option", { value: c.name, text: c.title })));
    select.value = chosen || defaultName;
    row.hidden = choices.length < 2; // one look: nothing to pick
    showLegend(feature);
  }

  return { element, update, select, legend };
}

const stopsCache = new Map(); // colormap name -> Promise of its 256 stops

function namedStops(apiRoot, name) {
  if (!stopsCache.has(name)) {
    const request = getJSON(`${apiRoot}/api/colormaps/${encodeURIComponent(name)}`).then((doc) => doc.stops || []);
    request.catch(() => stopsCache.delete(name)); // a failure may be retried
    stopsCache.set(name, request);
  }
  return stopsCache.get(name);
}

/** A named colormap as a bar from `low` to `high`. */
function gradientLegend(stops, low, high, name) {
  const every = Math.max(1, Math.floor(stops.length / GRADIENT_STOPS));
  const picked = stops.filter((_, i) => i % every === 0 || i === stops.length - 1);
  const colours = picked.map(([value, rgba]) => `${cssColour(rgba)} ${((value / 255) * 100).toFixed(1)}%`);
  const bar = el("div", { class: "legend-bar", title: name });
  bar.style.background = `linear-gradient(to right, ${colours.join(", ")})`;
  return [
    bar,
    el("div", { class: "legend-scale" }, el("span", { text: label(low) }), el("span", { class: "hint", text: name }), el("span", { text: label(high) })),
  ];
}

/** A JSON colormap's legend (GET /api/colormaps?colormap=…) as swatches: a value or an interval each. */
function swatchLegend(doc) {
  const entries = doc.stops
    ? doc.stops.map(([value, rgba]) => [label(value), rgba])
    : (doc.intervals || []).map(([[low, high], rgba]) => [`${label(low)} – ${label(high)}`, rgba]);
  const items = entries.slice(0, MAX_SWATCHES).map(([text, rgba]) => {
    const swatch = el("span", { class: "swatch" });
    swatch.style.background = cssColour(rgba);
    return el("li", {}, swatch, el("span", { text }));
  });
  const more = entries.length > MAX_SWATCHES ? [el("li", { class: "hint", text: `and ${entries.length - MAX_SWATCHES} more` })] : [];
  return [el("ul", { class: "legend-swatches" }, ...items, ...more)];
}
