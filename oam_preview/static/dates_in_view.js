/* The timeline's data: the acquisition dates of the images in view that match the search (not
 * the dates: the timeline's brush sets those), asked of the listing and drawn by timeline.js.
 */
import { getJSON, isAbort, withParams } from "./http.js";
import { newestRequest } from "./newest.js";
import { createTimeline } from "./timeline.js";

const LIMIT = 1000; // the API's maximum page

/** An image's date as the timeline bins it: its acquisition start, else its end, else "". */
export const dateOf = (feature) => (feature.properties || {}).acquisition_start || (feature.properties || {}).acquisition_end || "";

/**
 * @param {object} deps
 *   config; container: the chart's element; query(): {q, bbox} of the view; range(): the
 *   filters' [after, before]; onBrush(after, before), onPick(date): the chart's; onDates(): new
 *   dates drawn
 * @returns the model ({chart, key, requests, dates}) with `refresh()`
 */
export function createDatesInView({ config, container, query, range, onBrush, onPick, onDates }) {
  const model = { chart: createTimeline(container, { onBrush, onPick }), key: "", requests: newestRequest(), dates: [] };

  model.refresh = function refresh() {
    const params = { ...query(), limit: LIMIT };
    const key = JSON.stringify(params);
    if (key === model.key) return;
    model.key = key;
    const request = model.requests.start();
    getJSON(withParams(config.images_url, params), request.signal)
      .then((fc) => {
        if (!request.isNewest()) return;
        model.dates = (fc.features || []).map(dateOf).filter(Boolean);
        model.chart.update(model.dates);
        model.chart.setRange(...range());
        performance.mark("oam:timeline-drawn");
        onDates();
      })
      .catch((err) => {
        if (isAbort(err)) return;
        model.key = "";
      });
  };
  return model;
}
