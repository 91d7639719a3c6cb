/* The catalog report's table (/report): one row per image, sortable by any column whose heading
 * is a button (the heading's `data-key`), its state said by `aria-sort`. Pure sorting below;
 * the factory owns the DOM. Catalog and report strings only ever become text.
 */
import { el } from "./dom.js";
import { fixBlock, formatBytes, GRADES, gradeBadge, thumbnailCost } from "./report.js";

/** The value a row sorts by under `key`: numbers for counts and grades (worst first), text else;
 * a row whose report is not in yet sorts last whichever the direction. */
export function sortValue(row, key) {
  const report = row.report;
  switch (key) {
    case "title":
      return row.title.toLowerCase();
    case "product_type":
      return row.productType || null;
    case "grade":
      return report ? (GRADES[report.grade] || { rank: 3 }).rank : null;
    case "problems":
      return report ? (report.problems || []).length : null;
    case "requests":
      return report && thumbnailCost(report) ? thumbnailCost(report).requests : null;
    case "bytes":
      return report && thumbnailCost(report) ? thumbnailCost(report).bytes : null;
    default:
      return null;
  }
}

/** `rows` sorted by `key` (`direction` 1 ascending, -1 descending), ties in catalog order. */
export function sortRows(rows, key, direction) {
  return [...rows].sort((a, b) => {
    const x = sortValue(a, key);
    const y = sortValue(b, key);
    if (x === null || y === null) return x === y ? a.index - b.index : x === null ? 1 : -1;
    const order = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
    return order * direction || a.index - b.index;
  });
}

/**
 * The table in `table` (its <thead> headings with `data-key` buttons): `setRows(rows)` with
 * {index, id, title, productType, mapUrl}, `update(id, report | error)` as reports arrive.
 */
export function createReportTable(table, { copyText }) {
  const body = table.tBodies[0];
  const rows = new Map(); // id -> row
  let key = "grade";
  let direction = 1;

  function cells(row) {
    const report = row.report;
    const cost = (report && thumbnailCost(report)) || {};
    const status = row.error
      ? el("span", { class: "r-status error", text: row.error })
      : gradeBadge(report ? report.grade : "");
    return [
      el("td", {}, el("a", { href: row.mapUrl, text: row.title, title: row.id })),
      el("td", { text: row.productType || "" }),
      el("td", { "data-grade": report ? report.grade : "" }, status),
      el("td", { class: "problems", text: report ? (report.problems || []).join(", ") || "none" : "" }),
      el("td", { class: "num", text: String(cost.requests ?? "") }),
      el("td", { class: "num", text: formatBytes(cost.bytes), title: cost.minimum_bytes ? `an ideal file: ${formatBytes(cost.minimum_bytes)}` : null }),
      el("td", {}, report && report.fix ? fixBlock(report.fix, copyText, `fix command of ${row.title}`) : null),
    ];
  }

  function draw(row) {
    row.tr.replaceChildren(...cells(row));
  }

  function sort() {
    for (const th of table.tHead.querySelectorAll("th[data-key]")) {
      if (th.dataset.key === key) th.setAttribute("aria-sort", direction === 1 ? "ascending" : "descending");
      else th.removeAttribute("aria-sort");
    }
    body.append(...sortRows([...rows.values()], key, direction).map((row) => row.tr));
  }

  for (const th of table.tHead.querySelectorAll("th[data-key]")) {
    th.querySelector("button").addEventListener("click", () => {
      direction = th.dataset.key === key ? -direction : 1;
      key = th.dataset.key;
      sort();
    });
  }

  return {
    setRows(items) {
      rows.clear();
      for (const item of items) {
        const row = { ...item, report: null, error: "", tr: el("tr", { "data-id": item.id }) };
        rows.set(item.id, row);
        draw(row);
      }
      body.replaceChildren();
      sort();
    },
    update(id, { report = null, error = "", productType = "" }) {
      const row = rows.get(id);
      if (!row) return;
      row.report = report;
      row.error = error;
      if (productType) row.productType = productType;
      draw(row);
    },
    sort,
  };
}
