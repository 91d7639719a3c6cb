/* The footprint tiles test page: static/footprint_tiles.js's layer on a bare map (a module, served
 * beside the page's own at /test/: it imports ../static/footprint_tiles.js).
 * ?lat=&lng=&zoom= set the view; any other parameter is a listing filter. */
import { footprintTiles } from "../static/footprint_tiles.js";

const args = new URLSearchParams(location.search);
const view = { lat: 0, lng: 0, zoom: 0 };
const filters = {};
for (const [name, value] of args) {
  if (name in view) view[name] = Number(value);
  else filters[name] = value;
}
const root = location.pathname.replace(/\/test\/[^/]*$/, "");
const map = L.map("map", { zoomControl: false, attributionControl: false, fadeAnimation: false, zoomAnimation: false });
map.setView([view.lat, view.lng], view.zoom);
const layer = footprintTiles.layer(location.origin + root, filters);
window.oamFootprintTiles = footprintTiles; // the test picks through it
window.__tiles = { map, layer, loaded: false };
layer.on("load", () => {
  window.__tiles.loaded = true;
});
layer.addTo(map);
