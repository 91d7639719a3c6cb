/* The page's base map: a remote tile base map (OAM_PREVIEW_BASEMAP_URL) when it loads; otherwise
 * the Natural Earth land and borders shipped in static/vendor, drawn as vectors below the
 * imagery. The control in the corner says which one shows.
 *
 * Uses the globals of leaflet.js (`L`) and topojson-client (`topojson`), classic scripts the
 * page loads before its modules.
 */
import { el, escapeHtml } from "./dom.js";
import { getJSON } from "./http.js";

/** Natural Earth's rings jump from 180° to -180° where the antimeridian cuts them, which a flat
 * map draws as a band across the world: make each ring's longitudes continuous (past ±180°), and
 * close a ring that goes round the world (Antarctica) along the pole. Degrees, EPSG:4326. */
export function unwrapped(geojson, closeRings) {
  const fixLine = (line) => {
    const out0 = [];
    let offset = 0;
    for (let i = 0; i < line.length; i++) {
      const [lng, lat] = line[i];
      if (i > 0) {
        const step = lng + offset - out0[i - 1][0];
        if (step > 180) offset -= 360;
        else if (step < -180) offset += 360;
      }
      out0.push([lng + offset, lat]);
    }
    if (closeRings && offset !== 0) {
      // Round the world: close along the pole on the ring's side.
      const pole = out0.reduce((sum, c) => sum + c[1], 0) < 0 ? -90 : 90;
      const last = out0[out0.length - 1];
      out0.push([last[0], pole], [out0[0][0], pole], out0[0]);
    }
    return out0;
  };
  const geometry = (g) => {
    if (g.type === "Polygon") return { ...g, coordinates: g.coordinates.map(fixLine) };
    if (g.type === "MultiPolygon") return { ...g, coordinates: g.coordinates.map((p) => p.map(fixLine)) };
    if (g.type === "LineString") return { ...g, coordinates: fixLine(g.coordinates) };
    if (g.type === "MultiLineString") return { ...g, coordinates: g.coordinates.map(fixLine) };
    return g;
  };
  if (geojson.type === "FeatureCollection") {
    return { ...geojson, features: geojson.features.map((f) => ({ ...f, geometry: geometry(f.geometry) })) };
  }
  if (geojson.type === "Feature") return { ...geojson, geometry: geometry(geojson.geometry) };
  return geometry(geojson);
}

/**
 * Put a base map on `map` as `config` (the page's settings: basemap_url, basemap_attribution,
 * offline_basemap_url) asks; `toast(message)` tells the user of a fallback. Returns its state
 * (`kind`: "remote" or "offline").
 */
export function createBasemap(map, config, toast) {
  const state = {
    kind: "", // "remote" | "offline"
    remote: null,
    offline: null,
    control: null,
    loaded: 0, // remote tiles that loaded
    errors: 0, // remote tiles that failed
  };

  const OFFLINE_STYLE = {
    land: { stroke: false, fill: true, fillColor: "#f3f0e7", fillOpacity: 1 },
    borders: { color: "#a7a39a", weight: 0.8, opacity: 1, fill: false },
  };
  const REMOTE_ERRORS_BEFORE_FALLBACK = 3; // after at least one tile loaded: a flaky server

  function showBasemapStatus(text) {
    state.control.getContainer().textContent = text;
    state.control.getContainer().dataset.kind = state.kind;
  }

  function addBasemap() {
    const pane = map.createPane("basemap");
    pane.style.zIndex = 150; // below the tile pane (200): imagery and mosaic draw over it
    pane.style.pointerEvents = "none";
    const Status = L.Control.extend({
      onAdd: () => el("div", { id: "basemap-status", class: "basemap-status", role: "status" }),
    });
    state.control = new Status({ position: "bottomleft" }).addTo(map);
    if (config.basemap_url) addRemoteBasemap();
    else showOfflineBasemap("");
  }

  function addRemoteBasemap() {
    state.kind = "remote";
    state.remote = L.tileLayer(config.basemap_url, {
      maxZoom: 19,
      attribution: escapeHtml(config.basemap_attribution || ""),
      zIndex: 1,
      className: "basemap-remote",
    });
    state.remote.on("tileload", () => (state.loaded += 1));
    // Tiles that fail (offline, blocked, a dead server): the shipped layer instead,
    // and no broken tiles left in view.
    state.remote.on("tileerror", () => {
      state.errors += 1;
      if (state.kind !== "remote") return;
      if (state.loaded > 0 && state.errors < REMOTE_ERRORS_BEFORE_FALLBACK) return;
      map.removeLayer(state.remote);
      showOfflineBasemap("the base map could not be loaded");
      toast("The base map could not be loaded: showing the offline one");
    });
    state.remote.addTo(map);
    let host = "";
    try {
      host = new URL(config.basemap_url.replace(/[{}]/g, ""), document.baseURI).host;
    } catch (_) {
      /* a template that is not a URL: say nothing more */
    }
    showBasemapStatus(`Base map: ${config.basemap_attribution || host || "remote tiles"}`);
  }

  async function showOfflineBasemap(reason) {
    state.kind = "offline";
    document.body.classList.add("basemap-offline");
    showBasemapStatus(`Base map: Natural Earth countries, offline${reason ? ` (${reason})` : ""}`);
    if (state.offline) return;
    const renderer = L.canvas({ pane: "basemap", padding: 0.5 });
    const common = { pane: "basemap", renderer, interactive: false };
    state.offline = L.layerGroup().addTo(map);
    try {
      const topo = await getJSON(config.offline_basemap_url);
      const land = unwrapped(topojson.feature(topo, topo.objects.land), true);
      const borders = unwrapped(topojson.mesh(topo, topo.objects.countries, (a, b) => a !== b), false);
      // Three copies of the world, so land cut by the antimeridian shows on both sides.
      for (const shift of [-360, 0, 360]) {
        const coordsToLatLng = (c) => L.latLng(c[1], c[0] + shift);
        state.offline.addLayer(L.geoJSON(land, { ...common, coordsToLatLng, style: () => OFFLINE_STYLE.land }));
        state.offline.addLayer(L.geoJSON(borders, { ...common, coordsToLatLng, style: () => OFFLINE_STYLE.borders }));
      }
      map.attributionControl.addAttribution("Natural Earth");
      performance.mark("oam:basemap-drawn");
    } catch (err) {
      showBasemapStatus(`Base map: none (${err.message})`);
    }
  }

  addBasemap();
  return state;
}
