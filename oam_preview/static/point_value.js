/* A click on a shown image: every band's value there (GET .../point/{lon},{lat}) in a popup. */
import { el } from "./dom.js";
import { titleOf } from "./format.js";
import { getJSON, withQuery } from "./http.js";
import { cornersOf, wrapLng } from "./view.js";

/** The point route's query of a rendering: the options that change which values are read. */
export function pointQuery(render) {
  const query = new URLSearchParams();
  if (render.render) query.set("render", render.render);
  if (render.bidx) query.set("bidx", render.bidx);
  if (render.nodata) query.set("nodata", render.nodata);
  return query.toString().replace(/%2C/g, ",");
}

/** @param {{map: L.Map, config: object, state: object}} deps */
export function createPointValue({ map, config, state }) {
  return async function showPointValue(latlng) {
    const lng = wrapLng(latlng.lng, false);
    const entries = [...state.selected.values()].filter((e) => e.tilejson && e.layer);
    entries.sort((a, b) => b.layer.options.zIndex - a.layer.options.zIndex); // topmost first
    const entry = entries.find((e) => {
      const corners = cornersOf(e.tilejson.bounds || e.feature.bbox);
      const bounds = corners && L.latLngBounds(corners);
      return bounds && (bounds.contains(latlng) || bounds.contains(L.latLng(latlng.lat, lng)));
    });
    if (!entry) return;
    const url = withQuery(
      `${config.images_url}/${encodeURIComponent(entry.feature.id)}/point/${lng.toFixed(7)},${latlng.lat.toFixed(7)}`,
      pointQuery(entry.render),
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
  };
}
