/* Footprints as vector tiles on a Leaflet map (API.md "Footprint tiles").
 *
 * For catalogs too large for the listing's GeoJSON pages: one canvas layer of
 * /api/footprints/{z}/{x}/{y}.mvt, the listing's filters in its URL, drawn by
 * protomaps-leaflet (static/vendor/protomaps-leaflet/, global `protomapsL`).
 * Footprints smaller than a few pixels come as points; several in one 8 px
 * cell as one cluster point whose `point_count` says how many.
 *
 * A native ES module, no build step; the page loads leaflet.js and protomaps-leaflet.js
 * (classic scripts) before its modules:
 *
 *   import { layer, pick } from "./footprint_tiles.js";
 *   const tiles = layer(apiRoot, {q: "..."}, {state: id => ...}).addTo(map);
 *   map.on("click", (e) => pick(tiles, e.latlng));  // -> [{id, title, ...}]
 *
 * Catalog strings are never put into the DOM here: the layer only paints.
 */
const GEOM = { point: 1, polygon: 3 }; // MVT geometry types, as protomaps-leaflet reports them
//: The zooms the server has tiles for (TileJSON maxzoom); deeper views overzoom them.
export const MAX_DATA_ZOOM = 18;
export const COLORS = {
  footprint: "#d9480f",
  hover: "#f59f00",
  outline: "#f59f00", // hovered over imagery: the hover's colour, no fill
  selected: "#0b7285",
};
//: The fill's opacity per state: none where imagery is under the outline (shown, or hovered over it).
const FILL = { hover: 0.25, outline: 0, selected: 0 };

/** The tile URL template of the footprints a filter set selects (empty values left out). */
export function tilesUrl(apiRoot, params) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params || {})) {
    if (value !== "" && value !== null && value !== undefined) query.set(name, String(value));
  }
  const text = query.toString();
  return `${apiRoot.replace(/\/$/, "")}/api/footprints/{z}/{x}/{y}.mvt${text ? `?${text}` : ""}`;
}

function isCluster(feature) {
  return feature.props.point_count > 1;
}

/** A feature's colour: `state(id)` may say "hover" or "selected" (clusters have no id). */
function colorOf(state, feature) {
  const id = feature.props.id;
  const which = id && state ? state(id) : null;
  return COLORS[which] || COLORS.footprint;
}

/**
 * A protomaps-leaflet layer of the footprints that `params` (the listing's
 * filters: q, acquired_after, ids, platform, ...) select, under `apiRoot`
 * (the page's API root, no trailing slash). `options.state(id)` styles a
 * hovered ("hover", or "outline" over imagery: no fill) or selected image; call `layer.rerenderTiles()` when it changes.
 */
export function layer(apiRoot, params, options = {}) {
  const state = options.state || null;
  const color = (z, f) => colorOf(state, f);
  const which = (f) => (state && f.props.id ? state(f.props.id) : null);
  const marked = (f) => Boolean(which(f));
  const paintRules = [
    {
      dataLayer: "footprints",
      filter: (z, f) => f.geomType === GEOM.polygon,
      symbolizer: new protomapsL.PolygonSymbolizer({
        fill: color,
        opacity: (z, f) => FILL[which(f)] ?? 0.06,
      }),
    },
    {
      // The outline apart: a polygon's own stroke would take its fill's opacity.
      dataLayer: "footprints",
      filter: (z, f) => f.geomType === GEOM.polygon,
      symbolizer: new protomapsL.LineSymbolizer({
        color,
        width: (z, f) => (marked(f) ? 3 : 1.5),
        opacity: 0.9,
      }),
    },
    {
      dataLayer: "footprints",
      filter: (z, f) => f.geomType === GEOM.point && !isCluster(f),
      symbolizer: new protomapsL.CircleSymbolizer({
        radius: 3,
        fill: color,
        stroke: "#ffffff",
        width: 1,
      }),
    },
    {
      dataLayer: "footprints",
      filter: (z, f) => f.geomType === GEOM.point && isCluster(f),
      symbolizer: new protomapsL.CircleSymbolizer({
        // 4 px for two images, growing with the log of the count, at most 14 px.
        radius: (z, f) => Math.min(14, 3 + 1.5 * Math.log2(f.props.point_count)),
        fill: COLORS.footprint,
        opacity: 0.75,
        stroke: "#ffffff",
        width: 1,
      }),
    },
  ];
  return protomapsL.leafletLayer({
    url: tilesUrl(apiRoot, params),
    paintRules,
    labelRules: [],
    maxDataZoom: MAX_DATA_ZOOM,
    levelDiff: 0, // 256 px tiles at the map's own zoom: the server simplifies for that
    attribution: "",
    pane: options.pane || "overlayPane",
  });
}

/**
 * The features of `layer` drawn within a few pixels of `latlng`, nearest
 * tile first, one per image: their properties (id, title, acquisition_start,
 * acquisition_end, gsd, provider, platform), or `{point_count}` for a
 * cluster (zoom in to tell its images apart).
 */
export function pick(tileLayer, latlng, brushPixels = 6) {
  const found = [];
  const seen = new Set();
  for (const picked of tileLayer.queryTileFeaturesDebug(latlng.lng, latlng.lat, brushPixels).values()) {
    for (const { feature } of picked) {
      const key = feature.props.id || `cluster:${feature.props.point_count}:${feature.bbox ? feature.bbox.minX : ""}`;
      if (seen.has(key)) continue;
      seen.add(key);
      found.push({ ...feature.props });
    }
  }
  return found;
}

/** The module as one value, for pages that take it whole. */
export const footprintTiles = { tilesUrl, layer, pick, COLORS, MAX_DATA_ZOOM };
