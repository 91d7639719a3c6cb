/* The footprints of the images in view: GeoJSON outlines (up to one API page), or every
 * footprint the filters select as vector tiles (/api/footprints, footprint_tiles.js) when more
 * images are in view than a page holds.
 */
import { el } from "./dom.js";
import { numberFormat, titleOf } from "./format.js";
import { getJSON, isAbort, withParams } from "./http.js";
import { newestRequest } from "./newest.js";
import { footprintTiles } from "./footprint_tiles.js";

const FOOTPRINT_LIMIT = 1000; // the API's maximum page
const FIT_PADDING_PX = 40; // around the images of the first view
const FIT_MAX_ZOOM = 18; // the first view of one small image

export const STYLE = {
  footprint: { color: "#d9480f", weight: 1.5, opacity: 0.9, fillOpacity: 0.06 },
  hover: { color: "#f59f00", weight: 3, opacity: 1, fillOpacity: 0.25 },
  selected: { color: "#0b7285", weight: 2.5, opacity: 1, fillOpacity: 0 },
};

/** Whether imagery lies under an image's outline: the image shown, or the mosaic or compare on. */
export function overImagery(id, { selected, mosaic, compare }) {
  return selected.has(id) || mosaic || compare;
}

/** The outline style of an image: hovered, shown or neither. Over imagery an outline is never
 * filled, hovered or not: a fill would tint the pixels the user is looking at. */
export function footprintStyle(id, state) {
  const unfilled = overImagery(id, state);
  if (id === state.hoveredId) return unfilled ? { ...STYLE.hover, fillOpacity: 0 } : STYLE.hover;
  if (state.selected.has(id)) return STYLE.selected;
  return unfilled ? { ...STYLE.footprint, fillOpacity: 0 } : STYLE.footprint;
}

/**
 * @param {object} deps
 *   map; config; state; dom; params(): the filters with the view's bbox; toast(message);
 *   onHover(id); onSelect(feature): an outline clicked; onImage(feature): a vector tile's
 *   image clicked; onDrawn(features): the small-image markers' features ([] when tiled);
 *   onCoverage(): `model.coverage` changed (the imagery layers may ask new tiles)
 */
export function createFootprints({ map, config, state, dom, params, toast, onHover, onSelect, onImage, onDrawn, onCoverage }) {
  const model = {
    layer: null,
    byId: new Map(), // id -> Leaflet path
    requests: newestRequest(),
    key: "",
    // More images in view than one page holds: every footprint the filters select comes as
    // vector tiles (/api/footprints, footprint_tiles.js) instead of GeoJSON outlines.
    tiles: null,
    tilesKey: "",
    fitted: undefined, // whether the first view is decided (fitted, or given by a link)
    // What the imagery layers may ask tiles of (view.js tileMayHoldImagery): null before the
    // first answer, "any" when not every footprint in view is listed, else {view, boxes}.
    coverage: null,
  };

  function setCoverage(coverage) {
    model.coverage = coverage;
    onCoverage();
  }

  model.layer = L.geoJSON(null, {
    style: (feature) => footprintStyle(feature.id, state),
    onEachFeature: (feature, path) => {
      const id = feature.id;
      model.byId.set(id, path);
      path.bindTooltip(() => el("span", { text: titleOf(feature) }), { sticky: true });
      path.on("mouseover", () => onHover(id));
      path.on("mouseout", () => onHover(null));
      path.on("click", () => onSelect(feature));
    },
  }).addTo(map);

  /** footprint_tiles.js's state of an image: "hover" (filled), "outline" (hovered over imagery:
   * not filled), "selected" or null. */
  function tileState(id) {
    if (id === state.hoveredId) return overImagery(id, state) ? "outline" : "hover";
    return state.selected.has(id) ? "selected" : null;
  }

  /** Vector tiles of the filters' footprints on (`on`) or off; rebuilt when the filters change. */
  function showTiles(on, filters) {
    const key = on ? JSON.stringify(filters) : "";
    if (key === model.tilesKey) return;
    model.tilesKey = key;
    if (model.tiles) map.removeLayer(model.tiles);
    model.tiles = null;
    if (!on) return;
    model.tiles = footprintTiles.layer(config.api_root, filters, { state: tileState }).addTo(map);
  }

  /** A click on the vector tiles: an image opens (as a click on its outline), a cluster zooms in. */
  async function pick(latlng) {
    if (!model.tiles) return false;
    const hits = footprintTiles.pick(model.tiles, latlng);
    const image = hits.find((hit) => hit.id);
    if (image) {
      try {
        onImage(await getJSON(`${config.images_url}/${encodeURIComponent(image.id)}`));
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

  function restyle(id) {
    if (model.tiles && id) model.tiles.rerenderTiles();
    const path = id && model.byId.get(id);
    if (!path) return;
    path.setStyle(footprintStyle(id, state));
    if (id === state.hoveredId) path.bringToFront();
  }

  /** Every outline restyled: the imagery under them changed (the mosaic or compare on or off). */
  function restyleAll() {
    model.layer.setStyle((feature) => footprintStyle(feature.id, state));
    if (model.tiles) model.tiles.rerenderTiles();
  }

  /** The first view, unless the fragment gave one: every image the filters
   * match (the first answer covers the whole world), with padding; one image
   * fills the view. */
  function fitFirstView(fc) {
    model.fitted = true;
    let bounds = null;
    for (const feature of fc.features || []) {
      const path = model.byId.get(feature.id);
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

  function refresh() {
    const query = { ...params(true), limit: FOOTPRINT_LIMIT };
    const key = JSON.stringify(query);
    if (key === model.key) return;
    model.key = key;
    const request = model.requests.start();
    getJSON(withParams(config.images_url, query), request.signal)
      .then((fc) => {
        if (!request.isNewest()) return;
        const shown = (fc.features || []).length;
        const matched = typeof fc.numberMatched === "number" ? fc.numberMatched : shown;
        const tiled = matched > shown;
        model.layer.clearLayers();
        model.byId.clear();
        showTiles(tiled, params(false));
        if (!tiled) model.layer.addData(fc.features || []);
        if (!model.fitted) fitFirstView(fc);
        onDrawn(tiled ? [] : fc.features || []); // the tiles cluster small ones themselves
        const boxes = (fc.features || []).map((f) => f.bbox);
        const listed = !tiled && boxes.every((b) => Array.isArray(b) && b.length === 4);
        setCoverage(listed ? { view: query.bbox.split(",").map(Number), boxes } : "any");
        performance.mark("oam:footprints-drawn");
        dom.footprintNote.hidden = !tiled;
        dom.footprintNote.textContent =
          `${numberFormat.format(matched)} images in view, drawn as vector tiles: click one to show it, a cluster to zoom in.`;
      })
      .catch((err) => {
        if (isAbort(err)) return;
        model.key = ""; // let the next move retry
        setCoverage("any"); // unknown: the layers ask every tile in their bounds
        toast(`Could not load footprints: ${err.message}`);
      });
  }

  return { model, refresh, restyle, restyleAll, pick };
}
