/* Asking the API: URLs with query parameters, JSON with the API's own error messages. */

export function withParams(base, params) {
  const url = new URL(base, document.baseURI);
  for (const [key, value] of Object.entries(params)) {
    if (value !== "" && value !== null && value !== undefined) url.searchParams.set(key, value);
  }
  return url.toString();
}

/** Fetch JSON; throw an Error carrying the API's own message on failure. */
export async function getJSON(url, signal) {
  const response = await fetch(url, { signal, headers: { Accept: "application/json" } });
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
