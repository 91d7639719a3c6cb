/* One imagery tile layer from a TileJSON: a shown image, the mosaic or a compare side. */

/** A Leaflet tile layer of `tilejson`'s first template, overzooming past its maxzoom; `options`
 * are Leaflet's (zIndex, className, opacity, …) and win over the TileJSON's. */
export function imageryLayer(tilejson, options = {}) {
  return L.tileLayer(tilejson.tiles[0], {
    maxNativeZoom: typeof tilejson.maxzoom === "number" ? tilejson.maxzoom : undefined,
    ...options,
  });
}
