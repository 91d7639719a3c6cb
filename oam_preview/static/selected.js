/* The images shown on the map: their tile layers (above the mosaic, newest on top) and their
 * cards in "On the map" (actions, render picker, Rendering panel, health report, metadata).
 */
import { el, escapeHtml } from "./dom.js";
import { sourceTag } from "./editors.js";
import { titleOf } from "./format.js";
import { NO_RENDERING, renderingQuery } from "./fragment.js";
import { getJSON, withParams, withQuery } from "./http.js";
import { imageryLayer } from "./imagery_layer.js";
import { THUMB_SIZE } from "./list.js";
import { metadataList, metadataText } from "./metadata.js";
import { checkRenders, createRenderPanel } from "./render_panel.js";
import { createRenderPicker } from "./renders.js";
import { createReportPanel } from "./report.js";
import { cornersOf } from "./view.js";

/**
 * @param {object} deps
 *   map; config; state; dom; links: links.js's; copyText(text, what); toast(message);
 *   reducedMotion; onShownChange(id): an image was shown or hidden (restyle its footprint and
 *   row); onRowsChange(): a row's grade or product type is known; onLayersChange(): a layer's
 *   tiles changed (compare's sides may be one); onChange(): the URL must follow;
 *   onChangeSoon(): the same, debounced (a slider)
 */
export function createSelected(deps) {
  const { map, config, state, dom, links, copyText, toast, reducedMotion } = deps;
  let nextZ = 10;
  const imageUrl = (id) => `${config.images_url}/${encodeURIComponent(id)}`;

  function toggle(feature) {
    if (state.selected.has(feature.id)) remove(feature.id);
    else add(feature, { fly: true, opacity: 1 });
  }

  async function add(feature, { fly, opacity, render }) {
    const entry = { feature, opacity, layer: null, tilejson: null, card: null, render: { ...NO_RENDERING, ...render } };
    state.selected.set(feature.id, entry);
    entry.card = buildCard(entry);
    fillCard(entry);
    dom.selectedList.prepend(entry.card);
    dom.selected.hidden = false;
    deps.onShownChange(feature.id);
    deps.onChange();
    try {
      if (renderingQuery(entry.render) || !feature.properties.product_type) {
        // A rendering from a link: the Feature's URLs with it, before the first tile. A listing's
        // Feature of a file the worker has not read lacks its product type and that type's
        // renders: the image's own Feature reads the file's header for them.
        entry.feature = await getJSON(withQuery(imageUrl(feature.id), renderingQuery(entry.render)));
        if (state.selected.get(feature.id) !== entry) return; // removed meanwhile
        fillCard(entry);
      }
      const tilejson = await getJSON(entry.feature.properties.tilejson);
      if (state.selected.get(feature.id) !== entry) return; // removed meanwhile
      entry.tilejson = tilejson;
      entry.layer = makeTileLayer(tilejson, opacity).addTo(map);
      fillCard(entry);
      if (state.compare) deps.onLayersChange(); // a side may be this image
      if (fly) flyTo(tilejson.bounds || feature.bbox, tilejson);
    } catch (err) {
      if (state.selected.get(feature.id) !== entry) return; // removed meanwhile
      markFailed(entry, err.message);
      toast(`Could not show ${titleOf(feature)}: ${err.message}`);
    }
  }

  /** The image could not be shown: its card and row say so (it is not on the map); × removes it. */
  function markFailed(entry, message) {
    entry.failed = message;
    entry.card.classList.add("failed");
    entry.card.querySelector(".card-status").textContent = `Not on the map: ${message}`;
    deps.onShownChange(entry.feature.id);
  }

  function makeTileLayer(tilejson, opacity) {
    return imageryLayer(tilejson, {
      opacity,
      zIndex: (nextZ += 1),
      maxZoom: map.getMaxZoom(),
      minZoom: typeof tilejson.minzoom === "number" ? tilejson.minzoom : 0,
      attribution: tilejson.attribution ? escapeHtml(tilejson.attribution) : "",
      className: "image-layer",
    });
  }

  /** Fly to an image: fit its bounds, but within the zooms its layer shows at. */
  function flyTo(bbox, tilejson) {
    const corners = cornersOf(bbox);
    if (!corners) return;
    const bounds = L.latLngBounds(corners);
    const minZoom = tilejson && typeof tilejson.minzoom === "number" ? tilejson.minzoom : 0;
    const maxZoom = tilejson && typeof tilejson.maxzoom === "number" ? tilejson.maxzoom : 18;
    const fit = map.getBoundsZoom(bounds, false, L.point(40, 40));
    const zoom = Math.max(minZoom, Math.min(maxZoom, fit));
    const center = bounds.getCenter();
    if (reducedMotion) map.setView(center, zoom);
    else map.flyTo(center, zoom, { duration: 0.8 });
  }

  function remove(id) {
    const entry = state.selected.get(id);
    if (!entry) return;
    state.selected.delete(id);
    if (entry.layer) map.removeLayer(entry.layer);
    entry.card.remove();
    dom.selected.hidden = state.selected.size === 0;
    deps.onShownChange(id);
    if (state.compare) deps.onLayersChange(); // a side may have been this image
    deps.onChange();
  }

  /** A shown image's opacity (0..1), from a link. */
  function setOpacity(entry, opacity) {
    entry.opacity = opacity;
    if (entry.layer) entry.layer.setOpacity(opacity);
    entry.card.querySelector(".opacity").value = opacity;
  }

  function imageEditorLinks(entry) {
    const p = entry.feature.properties;
    const tilejson = entry.tilejson || {};
    const title = titleOf(entry.feature);
    const date = (p.acquisition_end || p.acquisition_start || "").slice(0, 10);
    return links.editorLinks(
      p.tiles,
      {
        title,
        source: sourceTag(title, p.provider, date),
        center: tilejson.center,
        maxZoom: typeof tilejson.maxzoom === "number" ? tilejson.maxzoom : null,
      },
      "TMS URL",
    );
  }

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
      deps.onChangeSoon();
    });
    // The catalog's looks of the image (renders.js): a pick asks for the Feature drawn with it.
    entry.picker = createRenderPicker({
      apiRoot: config.api_root,
      imageUrl: () => imageUrl(feature.id),
      onPick: (name) => applyRendering(entry, { ...entry.render, render: name }),
    });
    const report = createReportPanel({
      reportUrl: `${imageUrl(feature.id)}/report`,
      previewUrl: () => withParams(entry.feature.properties.thumbnail, { max_size: THUMB_SIZE }),
      copyText,
      onGrade: (grade) => {
        state.grades.set(feature.id, grade);
        deps.onRowsChange();
      },
    });
    const panel = createRenderPanel({
      apiRoot: config.api_root,
      imageUrl: imageUrl(feature.id),
      render: entry.render,
      currentRender: () => entry.render.render,
      onChange: (render) => applyRendering(entry, render),
    });
    return el(
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
          onclick: () => remove(feature.id),
        }),
      ),
      el("p", { class: "card-status", role: "status" }),
      entry.picker.element,
      el("label", { class: "opacity-label" }, el("span", { text: "Opacity" }), slider),
      el("div", { class: "actions" }),
      panel,
      report.element,
      el("details", { class: "details metadata" }, el("summary", { text: "Metadata" }), metadataList(feature)),
    );
  }

  /** Fill the card's actions; again once the TileJSON adds the zooms to the editor links. */
  function fillCard(entry) {
    const p = entry.feature.properties;
    if (p.product_type && state.productTypes.get(entry.feature.id) !== p.product_type) {
      state.productTypes.set(entry.feature.id, p.product_type);
      deps.onRowsChange();
    }
    entry.card.querySelector(".actions").replaceChildren(
      links.copy("Copy XYZ", p.tiles, "XYZ URL"),
      links.copy("Copy TileJSON", p.tilejson, "TileJSON URL"),
      links.copy("Copy WMTS", p.wmts, "WMTS URL"),
      links.copy("Copy metadata", metadataText(entry.feature), "metadata"),
      ...imageEditorLinks(entry),
    );
    entry.picker.update(entry.feature, entry.render.render);
    entry.card.querySelector(".metadata dl").replaceWith(metadataList(entry.feature));
  }

  /** Show `entry` with `render` once the server has accepted it (else say why, where it was typed). */
  async function applyRendering(entry, render) {
    const status = entry.card.querySelector(".r-status");
    const id = entry.feature.id;
    const asked = (entry.asked = (entry.asked || 0) + 1); // a newer pick or edit wins
    try {
      const feature = await getJSON(withQuery(imageUrl(id), renderingQuery(render)));
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
      deps.onChange();
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

  return { toggle, add, remove, setOpacity, applyRendering };
}
