/* How catalog values read on the page: counts, acquisition dates, ground resolution, titles. */

export const numberFormat = new Intl.NumberFormat();

export function formatDate(props) {
  const start = (props.acquisition_start || "").slice(0, 10);
  const end = (props.acquisition_end || "").slice(0, 10);
  if (!start) return end || "date unknown";
  return end && end !== start ? `${start} – ${end}` : start;
}

export function formatGsd(gsd) {
  if (typeof gsd !== "number" || !isFinite(gsd)) return "";
  return gsd < 1 ? `${Math.round(gsd * 100)} cm` : `${+gsd.toPrecision(3)} m`;
}

export const titleOf = (feature) => feature.properties.title || feature.id;
