/* The health report of a catalog image (GET /api/images/{id}/report: API.md "Health report"):
 * the "Report" panel of a shown image's card — its grade, its findings each with their plain
 * sentence and copyable fix command, the preview beside them — and the pieces the catalog's
 * report page (/report, report_page.js) shares. Report text only ever becomes text nodes.
 */
import { el } from "./dom.js";
import { getJSON } from "./http.js";

/** How a grade reads, and its rank (worst first) for sorting. */
export const GRADES = {
  not_servable: { text: "Not servable", rank: 0 },
  warning: { text: "Warnings", rank: 1 },
  ok: { text: "Ready", rank: 2 },
};

const SEVERITY_RANK = { error: 0, warning: 1, ok: 2 };

/** The grade badge: a coloured chip saying the grade in words. */
export function gradeBadge(grade) {
  const known = GRADES[grade];
  return el("span", { class: `grade grade-${known ? grade : "unknown"}`, text: known ? known.text : "…" });
}

/** The findings that need something done (errors, then warnings), and the notes (`ok`). */
export function splitFindings(report) {
  const findings = Array.isArray(report.findings) ? report.findings : [];
  const problems = findings
    .filter((f) => f.severity !== "ok")
    .sort((a, b) => (SEVERITY_RANK[a.severity] ?? 1) - (SEVERITY_RANK[b.severity] ?? 1));
  return { problems, notes: findings.filter((f) => f.severity === "ok") };
}

/** Upstream bytes as a person reads them. */
export function formatBytes(bytes) {
  if (typeof bytes !== "number" || !isFinite(bytes)) return "";
  if (bytes < 1000) return `${bytes} B`;
  if (bytes < 1e6) return `${Math.round(bytes / 1000)} kB`;
  return `${+(bytes / 1e6).toPrecision(3)} MB`;
}

/** What the file's first thumbnail cost the server upstream ({requests, bytes, minimum_bytes, …}:
 * the `cost` note's thumbnail read), or null when the report did not get that far. */
export function thumbnailCost(report) {
  const cost = (report.findings || []).find((f) => f.code === "cost");
  const reads = (cost && cost.evidence && cost.evidence.reads) || [];
  return reads.find((read) => read.read === "thumbnail" && !read.error) || null;
}

/** A fix command with its Copy button (`copyText(text, what)` is the page's). */
export function fixBlock(command, copyText, what = "fix command") {
  return el(
    "div",
    { class: "fix" },
    el("code", { text: command }),
    el("button", { type: "button", class: "copy copy-fix", text: "Copy fix", "data-copy": what, onclick: () => copyText(command, what) }),
  );
}

/** A finding's measured evidence as a definition list (values as compact JSON). */
function evidenceList(evidence) {
  const dl = el("dl", { class: "evidence" });
  for (const [key, value] of Object.entries(evidence || {})) {
    if (value === null || value === undefined) continue;
    const text = typeof value === "object" ? JSON.stringify(value) : String(value);
    dl.append(el("dt", { text: key.replace(/_/g, " ") }), el("dd", { text }));
  }
  return dl;
}

/** One finding: its severity, sentence, evidence on demand and fix. */
export function findingItem(finding, copyText) {
  return el(
    "li",
    { class: `finding finding-${finding.severity}`, "data-code": finding.code },
    el("span", { class: "severity", text: finding.severity === "error" ? "Error" : finding.severity === "warning" ? "Warning" : "Note" }),
    el("p", { class: "message", text: finding.message || finding.code }),
    finding.evidence && Object.keys(finding.evidence).length
      ? el("details", { class: "evidence-details" }, el("summary", { text: `Measured (${finding.code})` }), evidenceList(finding.evidence))
      : null,
    finding.fix ? fixBlock(finding.fix, copyText) : null,
  );
}

/** The body of a report: the summary beside the preview, the problems, then the notes folded. */
export function reportBody(report, { previewUrl, copyText }) {
  const { problems, notes } = splitFindings(report);
  const summary = el(
    "div",
    { class: "report-summary" },
    gradeBadge(report.grade),
    el("p", {
      class: "hint",
      text: problems.length
        ? `${problems.length} thing${problems.length === 1 ? "" : "s"} to fix`
        : "Nothing to fix: the file is ready to serve.",
    }),
    ...notes.filter((f) => f.code === "cost").map((f) => el("p", { class: "hint cost", text: f.message })),
  );
  const preview = previewUrl
    ? el("img", { class: "report-preview", src: previewUrl, alt: "Preview of the image", width: 96, height: 96, decoding: "async" })
    : null;
  if (preview) preview.addEventListener("error", () => preview.classList.add("failed"), { once: true });
  return [
    el("div", { class: "report-head" }, preview, summary),
    problems.length ? el("ul", { class: "findings" }, ...problems.map((f) => findingItem(f, copyText))) : null,
    notes.length
      ? el("details", { class: "report-notes" }, el("summary", { text: `What was measured (${notes.length})` }),
          el("ul", { class: "findings" }, ...notes.map((f) => findingItem(f, copyText))))
      : null,
  ];
}

/**
 * The "Report" panel of one shown image: a closed <details> that asks for the report when first
 * opened (a report reads the file: tens of requests the first time), then shows it. `onGrade(grade)`
 * tells the page, which marks the image's row in the list.
 */
export function createReportPanel({ reportUrl, previewUrl, copyText, onGrade = () => {} }) {
  const badge = el("span", { class: "report-badge" });
  const body = el("div", { class: "report-body" });
  const panel = el("details", { class: "report-panel" }, el("summary", {}, "Report ", badge), body);
  let loaded = false;

  async function load() {
    loaded = true;
    body.replaceChildren(el("p", { class: "hint", role: "status", text: "Checking the file…" }));
    try {
      const report = await getJSON(reportUrl);
      badge.replaceChildren(gradeBadge(report.grade));
      body.replaceChildren(...reportBody(report, { previewUrl: previewUrl(), copyText }));
      onGrade(report.grade);
    } catch (err) {
      loaded = false; // opening it again retries
      body.replaceChildren(el("p", { class: "r-status error", text: `Could not check the file: ${err.message}` }));
    }
  }

  panel.addEventListener("toggle", () => {
    if (panel.open && !loaded) load();
  });
  return { element: panel };
}
