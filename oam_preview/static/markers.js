/* Markers for the images too small to see.
 *
 * An outline a few pixels across cannot be seen or clicked: such images get a marker at their
 * middle instead, and markers closer than CLUSTER_PX on screen merge into one that counts them
 * (a click zooms to them). Recomputed per zoom on a grid of world pixels, so panning keeps the
 * same clusters. Under them, up to DENSITY_MAX_ZOOM, translucent discs show where imagery piles up.
 */
import { titleOf } from "./format.js";

const MARKER_BELOW_PX = 10; // footprints smaller than this, across, become markers
const CLUSTER_PX = 36;
const DENSITY_MAX_ZOOM = 6; // the density discs show up to this zoom

/** The grid cell (a string key) of a world-pixel point at a zoom: markers in one merge. */
export function clusterKey(x, y) {
  return `${Math.floor(x / CLUSTER_PX)},${Math.floor(y / CLUSTER_PX)}`;
}

/** A cluster icon's side (px): it grows with the log of the images under it, at most 48. */
export function clusterSize(n) {
  return n === 1 ? 14 : Math.min(48, Math.round(22 + 5 * Math.log2(n)));
}

/**
 * @param {object} deps
 *   map; state; pathOf(id): an image's outline (Leaflet path) or undefined; onHover(id);
 *   onSelect(feature): a single image's marker clicked; reducedMotion
 */
export function createMarkers({ map, state, pathOf, onHover, onSelect, reducedMotion }) {
  const densityPane = map.createPane("density");
  densityPane.style.zIndex = 390; // below the outlines (overlay pane, 400)
  densityPane.style.pointerEvents = "none";
  const densityStyle = {
    radius: 14,
    stroke: false,
    fillColor: "#d9480f",
    fillOpacity: 0.12,
    interactive: false,
    pane: "density",
    renderer: L.canvas({ pane: "density" }),
  };
  const model = {
    layer: L.layerGroup().addTo(map),
    density: L.layerGroup().addTo(map), // discs under the markers, one per small image
    groups: [], // {ids, bounds, marker}
    features: [],
    queued: false,
  };

  /** Markers in a frame of their own: not in the long task that draws 1000 outlines. */
  function schedule() {
    if (model.queued) return;
    model.queued = true;
    requestAnimationFrame(() => {
      model.queued = false;
      draw();
    });
  }

  function draw() {
    model.layer.clearLayers();
    model.density.clearLayers();
    model.groups = [];
    const zoom = map.getZoom();
    const cells = new Map();
    const dense = zoom <= DENSITY_MAX_ZOOM;
    for (const feature of model.features) {
      const path = pathOf(feature.id);
      if (!path || !path.getBounds) continue;
      const bounds = path.getBounds();
      const nw = map.project(bounds.getNorthWest(), zoom);
      const se = map.project(bounds.getSouthEast(), zoom);
      if (Math.max(se.x - nw.x, se.y - nw.y) >= MARKER_BELOW_PX) continue;
      const middle = nw.add(se).divideBy(2);
      if (dense) model.density.addLayer(L.circleMarker(map.unproject(middle, zoom), densityStyle));
      const key = clusterKey(middle.x, middle.y);
      let cell = cells.get(key);
      if (!cell) {
        cell = { features: [], bounds: L.latLngBounds(bounds.getSouthWest(), bounds.getNorthEast()), sum: L.point(0, 0) };
        cells.set(key, cell);
      }
      cell.features.push(feature);
      cell.bounds.extend(bounds);
      cell.sum = cell.sum.add(middle);
    }
    for (const cell of cells.values()) addMarker(cell, zoom);
  }

  function addMarker(cell, zoom) {
    const n = cell.features.length;
    const at = map.unproject(cell.sum.divideBy(n), zoom);
    const ids = cell.features.map((f) => f.id);
    const icon = L.divIcon({
      className: n === 1 ? "fp-marker" : "fp-marker fp-cluster",
      html: n === 1 ? "" : String(n), // a count, never catalog text
      // Coverage at a glance: a cluster grows with the imagery under it.
      iconSize: Array(2).fill(clusterSize(n)),
    });
    const title = n === 1 ? titleOf(cell.features[0]) : `${n} images: click to zoom in`;
    const marker = L.marker(at, { icon, keyboard: true, title, alt: title, riseOnHover: true });
    const group = { ids, bounds: cell.bounds, marker };
    marker.on("add", () => {
      const node = marker.getElement();
      node.dataset.ids = ids.join(" ");
      if (n === 1) node.dataset.id = ids[0];
      style(group);
    });
    marker.on("mouseover", () => onHover(n === 1 ? ids[0] : null));
    marker.on("mouseout", () => onHover(null));
    marker.on("click", () => {
      if (n === 1) onSelect(cell.features[0]);
      else map.fitBounds(cell.bounds, { padding: [60, 60], maxZoom: 18, animate: !reducedMotion });
    });
    model.groups.push(group);
    model.layer.addLayer(marker);
  }

  function style(group) {
    const node = group.marker.getElement();
    if (!node) return;
    node.classList.toggle("hover", group.ids.includes(state.hoveredId));
    node.classList.toggle("selected", group.ids.some((id) => state.selected.has(id)));
  }

  /** Restyle the markers of `id` (every marker when not given). */
  function restyle(id) {
    for (const group of model.groups) if (!id || group.ids.includes(id)) style(group);
  }

  /** The small images' features: the footprints answer's ([] when the footprints are tiled). */
  function setFeatures(features) {
    model.features = features;
    schedule();
  }

  map.on("zoomend", schedule);
  return { model, schedule, restyle, setFeatures };
}
