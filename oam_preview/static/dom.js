/* Building the page's elements, pacing its events and copying to the clipboard. Catalog strings
 * only ever become text nodes or attributes here, never HTML.
 */

/** Build an element. Strings in `children` become text nodes, never HTML. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") node.textContent = value;
    else if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Leaflet renders attributions as HTML, so catalog text must be escaped first. */
export function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function debounce(fn, ms) {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

/** Copy `text` to the clipboard, then `say` it ("Copied <what>"); a page outside a secure context
 * falls back to a selected textarea, else to a prompt the person copies from. */
export async function copyToClipboard(text, what, say) {
  try {
    await navigator.clipboard.writeText(text);
  } catch (_) {
    // Clipboard API needs a secure context; fall back to a selected textarea.
    const area = el("textarea", { class: "visually-hidden", readonly: true });
    area.value = text;
    document.body.append(area);
    area.select();
    const ok = document.execCommand("copy");
    area.remove();
    if (!ok) {
      window.prompt(`Copy the ${what}:`, text);
      return;
    }
  }
  say(`Copied ${what}`);
}

const TOAST_MS = 2500;

/** A `say(message)` that shows `message` in `element` (a live region) for a few seconds. */
export function createToast(element) {
  let timer;
  return (message) => {
    element.textContent = message;
    element.classList.add("show");
    clearTimeout(timer);
    timer = setTimeout(() => element.classList.remove("show"), TOAST_MS);
  };
}
