/* An image's metadata as the card shows it (a definition list) and copies it (JSON). Catalog
 * strings become text only. */
import { el } from "./dom.js";
import { formatDate, formatGsd } from "./format.js";

/** The Feature's id, bbox and properties as indented JSON. */
export function metadataText(feature) {
  return JSON.stringify({ id: feature.id, bbox: feature.bbox, ...feature.properties }, null, 2);
}

/** The rows [name, value] the card lists (empty values left out). */
export function metadataRows(feature) {
  const p = feature.properties || {};
  const productType = p.product_type ? `${p.product_type}${p.product_type_source ? ` (${p.product_type_source})` : ""}` : "";
  return [
    ["Title", p.title],
    ["Acquired", formatDate(p)],
    ["GSD", formatGsd(p.gsd)],
    ["Product type", productType],
    ["Provider", p.provider],
    ["License", p.license],
    ["ID", feature.id],
  ].filter(([, value]) => value !== undefined && value !== null && value !== "");
}

export function metadataList(feature) {
  const p = feature.properties || {};
  const dl = el("dl");
  for (const [name, value] of metadataRows(feature)) dl.append(el("dt", { text: name }), el("dd", { text: value }));
  // Only http(s) links: a catalog could hold a javascript: URL.
  if (/^https?:\/\//i.test(p.source_url || "")) {
    dl.append(el("dt", { text: "GeoTIFF" }), el("dd", {}, el("a", { href: p.source_url, text: "source file", rel: "noopener" })));
  }
  return dl;
}
