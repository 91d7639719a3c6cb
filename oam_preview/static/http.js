/* Asking the API: URLs with query parameters, JSON with the API's own error messages. */

export function withParams(base, params) {
  const url = new URL(base, document.baseURI);
  for (const [key, value] of Object.entries(params)) {
    if (value !== "" && value !== null && value !== undefined) url.searchParams.set(key, value);
  }
  return url.toString();
}

/* The API token the page logged in with: in this tab's session storage only, never in a URL
   (the fragment the page copies and shares has no token), sent only to this page's own origin. */
const TOKEN_KEY = "oam-preview-token";

export function apiToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || "";
  } catch (_) {
    return ""; // storage refused (a sandboxed frame): no login
  }
}

export function setApiToken(value) {
  try {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch (_) {
    /* storage refused: the page stays anonymous */
  }
}

const sameOrigin = (url) => new URL(url, document.baseURI).origin === window.location.origin;

/** Fetch JSON; throw an Error carrying the API's own message on failure. */
export async function getJSON(url, signal) {
  const headers = { Accept: "application/json" };
  const token = apiToken();
  if (token && sameOrigin(url)) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(url, { signal, headers });
  if (!response.ok) {
    let message = `HTTP ${response.status}`;
    try {
      const body = await response.json();
      if (body && body.error && body.error.message) message = body.error.message;
    } catch (_) {
      /* not JSON: keep the status */
    }
    const error = new Error(message);
    error.status = response.status;
    throw error;
  }
  return response.json();
}

export const isAbort = (err) => err && err.name === "AbortError";

/** `url` with `query` (a query string, maybe empty) appended. */
export function withQuery(url, query) {
  if (!query) return url;
  return url + (url.includes("?") ? "&" : "?") + query;
}
