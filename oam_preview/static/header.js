/* The sidebar's header folds: the filters, the mosaic and the timeline give their height to the
 * list when a short screen needs it (compare on at 1280x720), one click away, with a line that
 * says which filters apply.
 */

const MIN_LIST_ROWS = 3; // rows of the list a screen should show below the header

/** The folded header's line: the filters that apply, in words. */
export function filterSummary({ q, after, before, inview, order, mosaic }) {
  const parts = [];
  if (q.trim()) parts.push(`“${q.trim()}”`);
  if (after && before) parts.push(`${after} – ${before}`);
  else if (after) parts.push(`after ${after}`);
  else if (before) parts.push(`before ${before}`);
  if (inview) parts.push("in view");
  const orders = { newest: "newest first", oldest: "oldest first", best: "finest first" };
  if (orders[order]) parts.push(orders[order]);
  if (mosaic) parts.push("all imagery on");
  return `Filters: ${parts.length ? parts.join(", ") : "none"}`;
}

/**
 * @param {object} deps
 *   toggle: the button; panel: what folds; summary: the folded line; list: the list's element;
 *   rowHeight: px per list row; state: app.js's state (the filters, for the summary)
 */
export function createHeader({ toggle, panel, summary, list, rowHeight, state }) {
  let openedByHand = false; // the user unfolded it: the page does not fold it again

  function set(open) {
    panel.hidden = !open;
    toggle.setAttribute("aria-expanded", String(open));
    toggle.textContent = open ? "Hide filters" : "Filters";
    summary.hidden = open;
    if (!open) summary.textContent = filterSummary(state);
  }

  /** Fold the header when the list shows fewer than MIN_LIST_ROWS rows on screen. */
  function fit() {
    if (panel.hidden || openedByHand) return;
    const box = list.getBoundingClientRect();
    const shown = Math.min(box.bottom, window.innerHeight) - Math.max(box.top, 0);
    if (shown < MIN_LIST_ROWS * rowHeight) set(false);
  }

  /** The filters changed: the folded line follows. */
  function update() {
    if (panel.hidden) summary.textContent = filterSummary(state);
  }

  toggle.addEventListener("click", () => {
    const open = panel.hidden;
    openedByHand = open;
    set(open);
  });
  return { fit, update };
}
