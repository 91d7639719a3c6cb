/* The "all imagery" layer: the mosaic of every image the filters select (not the "in view"
 * box: the layer covers the world), in the list's order, below the single images.
 */
import { escapeHtml } from "./dom.js";
import { sourceTag } from "./editors.js";
import { getJSON, isAbort, withParams } from "./http.js";
import { newestRequest } from "./newest.js";
import { askNewTiles, imageryLayer } from "./imagery_layer.js";

/**
 * @param {object} deps
 *   map; config; state; dom; params(): the mosaic's query; links: links.js's; toast(message);
 *   where(): the footprints in view ({coverage, view}: imagery_layer.js)
 */
export function createMosaicLayer({ map, config, state, dom, params, links, toast, where }) {
  const model = { layer: null, key: "", tilejson: null, requests: newestRequest() };

  function remove() {
    if (model.layer) map.removeLayer(model.layer);
    model.layer = null;
  }

  function refresh() {
    if (!state.mosaic) {
      remove();
      model.key = "";
      dom.mosaicActions.hidden = true;
      return;
    }
    const query = params();
    const key = JSON.stringify(query);
    if (key === model.key) return;
    model.key = key;
    const request = model.requests.start();
    getJSON(withParams(config.mosaic_tilejson_url, query), request.signal)
      .then((tilejson) => {
        if (!request.isNewest() || !state.mosaic) return;
        model.tilejson = tilejson;
        remove();
        model.layer = imageryLayer(tilejson, {
          zIndex: 5, // above the base map (1), below single images (10 and up)
          maxZoom: map.getMaxZoom(),
          attribution: tilejson.attribution ? escapeHtml(tilejson.attribution) : "",
          className: "mosaic-layer",
          where,
        }).addTo(map);
        fillActions(tilejson, query);
      })
      .catch((err) => {
        if (isAbort(err) || !request.isNewest()) return;
        remove();
        dom.mosaicActions.hidden = true;
        toast(err.status === 404 ? "No image matches the filters" : `Could not show all imagery: ${err.message}`);
      });
  }

  function fillActions(tilejson, query) {
    dom.mosaicActions.replaceChildren(
      links.copy("Copy XYZ", tilejson.tiles[0], "mosaic XYZ URL"),
      links.copy("Copy TileJSON", withParams(config.mosaic_tilejson_url, query), "mosaic TileJSON URL"),
      links.copy("Copy WMTS", withParams(config.mosaic_wmts_url, query), "mosaic WMTS URL"),
      ...links.editorLinks(
        tilejson.tiles[0],
        {
          title: tilejson.name,
          source: sourceTag(tilejson.name, "", ""),
          center: tilejson.center,
          maxZoom: typeof tilejson.maxzoom === "number" ? tilejson.maxzoom : null,
        },
        "mosaic TMS URL",
      ),
    );
    dom.mosaicActions.hidden = false;
  }

  return { model, refresh, askNewTiles: () => askNewTiles(model.layer) };
}
