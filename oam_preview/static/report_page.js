/* The catalog's health report page (/report): every catalog image with its report's grade,
 * problems, upstream cost and fix command, in a sortable table (report_table.js).
 *
 * A native ES module (no build step, no network but the app's own routes). The images come from
 * GET /api/images (pages of 1000); their reports from GET /api/images/{id}/report, a few at a
 * time: a report the server has not kept yet reads the file (tens of upstream requests), so the
 * page never asks for hundreds at once. Rows fill in as reports arrive.
 */
import { copyToClipboard } from "./dom.js";
import { getJSON, withParams } from "./http.js";
import { createReportTable } from "./report_table.js";

const CONFIG = JSON.parse(document.getElementById("oam-config").textContent);
const CONCURRENCY = 3; // reports asked at once
const PAGE_SIZE = 1000; // the listing's maximum
const MAX_IMAGES = 20000; // a bound on what one page lists

const status = document.getElementById("report-status");
const toastBox = document.getElementById("toast");
let toastTimer;

function toast(message) {
  toastBox.textContent = message;
  toastBox.classList.add("show");
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => toastBox.classList.remove("show"), 2500);
}

const table = createReportTable(document.getElementById("report-table"), {
  copyText: (text, what) => copyToClipboard(text, what, toast),
});

/** Every catalog image, following the listing's `next` links. */
async function listImages() {
  const features = [];
  let url = withParams(CONFIG.images_url, { limit: PAGE_SIZE });
  while (url && features.length < MAX_IMAGES) {
    const page = await getJSON(url);
    features.push(...(page.features || []));
    const next = (page.links || []).find((link) => link.rel === "next");
    url = next ? next.href : "";
  }
  return features;
}

/** The product type a report measured (its `pixels` note), else the listing's. */
function productType(report, feature) {
  const pixels = (report.findings || []).find((f) => f.code === "pixels");
  return (pixels && pixels.evidence && pixels.evidence.product_type) || (feature.properties || {}).product_type || "";
}

async function main() {
  let features;
  try {
    features = await listImages();
  } catch (err) {
    status.textContent = `Could not list the catalog: ${err.message}`;
    return;
  }
  table.setRows(
    features.map((f, index) => ({
      index,
      id: f.id,
      title: (f.properties || {}).title || f.id,
      productType: (f.properties || {}).product_type || "",
      mapUrl: `${CONFIG.map_url}#sel=${encodeURIComponent(f.id)}`,
    })),
  );
  let done = 0;
  const counts = { ok: 0, warning: 0, not_servable: 0, failed: 0 };
  const say = () => {
    const tally = `${counts.ok} ready, ${counts.warning} with warnings, ${counts.not_servable} not servable` +
      (counts.failed ? `, ${counts.failed} not checked` : "");
    status.textContent = done < features.length
      ? `Checking ${done + 1} of ${features.length} images… (${tally})`
      : `${features.length} image${features.length === 1 ? "" : "s"} checked: ${tally}.`;
  };
  say();
  const queue = [...features];
  async function worker() {
    for (let feature = queue.shift(); feature; feature = queue.shift()) {
      try {
        const report = await getJSON(`${CONFIG.images_url}/${encodeURIComponent(feature.id)}/report`);
        counts[report.grade in counts ? report.grade : "failed"] += 1;
        table.update(feature.id, { report, productType: productType(report, feature) });
      } catch (err) {
        counts.failed += 1;
        table.update(feature.id, { error: err.message });
      }
      done += 1;
      say();
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  table.sort(); // once every grade is in: worst first (or as the person chose)
  performance.mark("oam:report-table-done");
}

main();
