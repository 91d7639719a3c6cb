/* Timeline: a histogram of acquisition dates, brushable to a date range.
 *
 * A native ES module (no build step, no chart library): an SVG of bars, per
 * day when the dates span at most MAX_DAYS, else per month. Dragging across it
 * (mouse, pen or touch) selects whole bins: onBrush(after, before) with ISO
 * dates, `before` the last day of the last bin (the API's acquired_before
 * covers its whole day). A click without a drag picks one date: onPick.
 * Nothing from the catalog is put in the DOM but numbers and dates.
 */

const SVG = "http://www.w3.org/2000/svg";
const MAX_DAYS = 62;
const HEIGHT = 64; // px, bars and axis
const AXIS = 14; // px under the bars for the labels
const TOP = 13; // px above the tallest bar for the "max N per day" label: never on a bar
const MIN_DAY_BINS = 7; // a few dates are shown in a week or more, not as one solid block
const DRAG_PX = 4; // less movement than this is a click

const DAY_MS = 86400000;
const isoDay = (ms) => new Date(ms).toISOString().slice(0, 10);
const dayOf = (text) => Date.parse(`${text.slice(0, 10)}T00:00:00Z`);

/** Bins [{start, end, count}] (UTC ms, end exclusive) covering ``dates`` (ISO strings): per day
 * over at most MAX_DAYS, at least MIN_DAY_BINS days centred on the dates; else per month. */
export function binDates(dates) {
  const days = dates.map(dayOf).filter(Number.isFinite).sort((a, b) => a - b);
  if (!days.length) return { unit: "month", bins: [] };
  let first = days[0];
  let last = days[days.length - 1];
  const short = MIN_DAY_BINS - 1 - Math.round((last - first) / DAY_MS);
  if (short > 0) {
    first -= Math.floor(short / 2) * DAY_MS;
    last += Math.ceil(short / 2) * DAY_MS;
  }
  const bins = [];
  let unit;
  if ((last - first) / DAY_MS < MAX_DAYS) {
    unit = "day";
    for (let t = first; t <= last; t += DAY_MS) bins.push({ start: t, end: t + DAY_MS, count: 0 });
    for (const d of days) bins[Math.round((d - first) / DAY_MS)].count += 1;
  } else {
    unit = "month";
    const a = new Date(first);
    let y = a.getUTCFullYear();
    let m = a.getUTCMonth();
    const index = new Map();
    while (Date.UTC(y, m) <= last) {
      const start = Date.UTC(y, m);
      m += 1;
      if (m === 12) [y, m] = [y + 1, 0];
      index.set(start, bins.length);
      bins.push({ start, end: Date.UTC(y, m), count: 0 });
    }
    for (const d of days) {
      const t = new Date(d);
      bins[index.get(Date.UTC(t.getUTCFullYear(), t.getUTCMonth()))].count += 1;
    }
  }
  return { unit, bins };
}

function node(tag, attrs = {}) {
  const n = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
  return n;
}

/**
 * @param {HTMLElement} container where the SVG goes (its width is the chart's)
 * @param {{onBrush: (after: string, before: string) => void, onPick?: (date: string) => void}} handlers
 */
export function createTimeline(container, { onBrush, onPick = () => {} }) {
  const svg = node("svg", { class: "timeline-chart", height: HEIGHT + AXIS, role: "img" });
  container.append(svg);
  let model = { unit: "month", bins: [] };
  let range = { after: "", before: "" };
  let mark = "";
  let drag = null;

  const width = () => Math.max(120, container.clientWidth || 300);
  const barWidth = () => width() / Math.max(1, model.bins.length);
  const binAt = (x) => Math.max(0, Math.min(model.bins.length - 1, Math.floor(x / barWidth())));

  function draw() {
    const w = width();
    svg.setAttribute("width", w);
    svg.setAttribute("viewBox", `0 0 ${w} ${HEIGHT + AXIS}`);
    svg.replaceChildren();
    const { bins, unit } = model;
    const total = bins.reduce((s, b) => s + b.count, 0);
    svg.setAttribute(
      "aria-label",
      bins.length
        ? `${total} images in view, ${isoDay(bins[0].start)} to ${isoDay(bins[bins.length - 1].end - DAY_MS)}, per ${unit}`
        : "No dated images in view",
    );
    if (!bins.length) {
      const text = node("text", { x: 4, y: HEIGHT / 2, class: "timeline-empty" });
      text.textContent = "No dated images in view";
      svg.append(text);
      return;
    }
    const max = Math.max(...bins.map((b) => b.count));
    const bw = barWidth();
    const after = range.after ? dayOf(range.after) : -Infinity;
    const before = range.before ? dayOf(range.before) + DAY_MS : Infinity; // its whole day
    bins.forEach((bin, i) => {
      if (!bin.count) return;
      const h = Math.max(2, (bin.count / max) * (HEIGHT - TOP));
      const inRange = bin.end > after && bin.start < before;
      const rect = node("rect", {
        x: i * bw + (bw > 3 ? 0.5 : 0),
        y: HEIGHT - h,
        width: Math.max(1, bw - (bw > 3 ? 1 : 0)),
        height: h,
        class: inRange ? "timeline-bar" : "timeline-bar out",
        "data-start": isoDay(bin.start),
        "data-count": bin.count,
      });
      const title = node("title");
      title.textContent = `${unit === "day" ? isoDay(bin.start) : isoDay(bin.start).slice(0, 7)}: ${bin.count}`;
      rect.append(title);
      svg.append(rect);
    });
    if (range.after || range.before) {
      const x0 = range.after ? xOf(after) : 0;
      const x1 = range.before ? xOf(before) : w;
      svg.append(node("rect", { x: x0, y: 0, width: Math.max(1, x1 - x0), height: HEIGHT, class: "timeline-range" }));
    }
    if (mark) {
      const x = xOf(dayOf(mark));
      svg.append(node("line", { x1: x, x2: x, y1: 0, y2: HEIGHT, class: "timeline-mark" }));
    }
    const label = (x, text, anchor) => {
      const t = node("text", { x, y: HEIGHT + AXIS - 2, "text-anchor": anchor, class: "timeline-axis" });
      t.textContent = text;
      svg.append(t);
    };
    const fmt = (ms) => (unit === "day" ? isoDay(ms) : isoDay(ms).slice(0, 7));
    label(1, fmt(bins[0].start), "start");
    label(w - 1, fmt(bins[bins.length - 1].start), "end");
    const top = node("text", { x: w / 2, y: TOP - 3, "text-anchor": "middle", class: "timeline-axis timeline-max" });
    top.textContent = `max ${max} per ${unit}`;
    svg.append(top);
  }

  /** The x of a time: bins are equal width, so interpolate inside the bin. */
  function xOf(ms) {
    const { bins } = model;
    if (!bins.length) return 0;
    if (ms <= bins[0].start) return 0;
    if (ms >= bins[bins.length - 1].end) return width();
    const i = bins.findIndex((b) => ms < b.end);
    const b = bins[i];
    return (i + (ms - b.start) / (b.end - b.start)) * barWidth();
  }

  function localX(event) {
    return event.clientX - svg.getBoundingClientRect().left;
  }

  svg.addEventListener("pointerdown", (event) => {
    if (!model.bins.length) return;
    drag = { x0: localX(event), x1: localX(event), id: event.pointerId };
    svg.setPointerCapture(event.pointerId);
    event.preventDefault();
  });
  svg.addEventListener("pointermove", (event) => {
    if (!drag) return;
    drag.x1 = localX(event);
    const [a, b] = [binAt(Math.min(drag.x0, drag.x1)), binAt(Math.max(drag.x0, drag.x1))];
    range = { after: isoDay(model.bins[a].start), before: isoDay(model.bins[b].end - DAY_MS) };
    draw();
  });
  const finish = (event) => {
    if (!drag) return;
    const { x0, x1 } = drag;
    drag = null;
    if (svg.hasPointerCapture(event.pointerId)) svg.releasePointerCapture(event.pointerId);
    if (Math.abs(x1 - x0) < DRAG_PX) {
      const bin = model.bins[binAt(x0)];
      onPick(isoDay(bin.start));
      return;
    }
    const [a, b] = [binAt(Math.min(x0, x1)), binAt(Math.max(x0, x1))];
    onBrush(isoDay(model.bins[a].start), isoDay(model.bins[b].end - DAY_MS));
  };
  svg.addEventListener("pointerup", finish);
  svg.addEventListener("pointercancel", () => (drag = null));
  window.addEventListener("resize", draw);

  return {
    /** New dates (the images in view); redraws. */
    update(dates) {
      model = binDates(dates);
      draw();
    },
    /** The selected range, as the filters have it ("" for open). */
    setRange(after, before) {
      range = { after: after || "", before: before || "" };
      draw();
    },
    /** A date marked by a line (compare's split date), "" for none. */
    setMark(date) {
      mark = date || "";
      draw();
    },
    get bins() {
      return model.bins;
    },
    element: svg,
  };
}
