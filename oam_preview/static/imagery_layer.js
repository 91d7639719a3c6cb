/* One imagery tile layer from a TileJSON: a shown image, the mosaic or a compare side.
 *
 * A tile is asked only where the layer can have imagery: within its TileJSON's bounds, and —
 * for a layer of many images (the mosaic, a compare side) — where a footprint in view lies, as
 * the page's footprints answer says (view.js `tileMayHoldImagery`). Else the server answers 404
 * and the console fills with errors.
 */
import { tileBoundsOf, tileMayHoldImagery } from "./view.js";

let BoundedTileLayer = null; // made on first use: `L` is a classic script's global

function boundedTileLayer() {
  if (!BoundedTileLayer) {
    BoundedTileLayer = L.TileLayer.extend({
      _isValidTile(coords) {
        if (!L.TileLayer.prototype._isValidTile.call(this, coords)) return false;
        const where = this.options.where; // () => {coverage, view}, or undefined: bounds only
        if (!where) return true;
        const b = this._tileCoordsToBounds(coords); // wrapped into [-180, 180]
        const { coverage, view } = where();
        return tileMayHoldImagery([b.getWest(), b.getSouth(), b.getEast(), b.getNorth()], coverage, view);
      },
    });
  }
  return BoundedTileLayer;
}

/** A Leaflet tile layer of `tilejson`'s first template, within its bounds, overzooming past its
 * maxzoom; `options` are Leaflet's (zIndex, className, opacity, …) and win over the TileJSON's;
 * `options.where()` ({coverage, view}) narrows the tiles to the footprints in view. */
export function imageryLayer(tilejson, options = {}) {
  const corners = tileBoundsOf(tilejson.bounds);
  return new (boundedTileLayer())(tilejson.tiles[0], {
    maxNativeZoom: typeof tilejson.maxzoom === "number" ? tilejson.maxzoom : undefined,
    ...(corners ? { bounds: L.latLngBounds(corners) } : {}),
    ...options,
  });
}

/** Ask the tiles a layer now may have (the footprints in view changed): Leaflet's own update,
 * which adds the missing tiles of the view and keeps the ones it has. */
export function askNewTiles(layer) {
  // GridLayer's own private update: its public redraw() would drop the tiles already shown.
  if (layer && layer._map) layer._update();
}
