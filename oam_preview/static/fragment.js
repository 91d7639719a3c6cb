/* The page's state in the URL fragment, so a copied link reopens the same view:
 *
 *   #map=zoom/lat/lng&q=…&after=…&before=…&inview=1&order=…&mosaic=1&sel=id~opacity,id
 *    &compare=1&split=YYYY-MM-DD&left=…&right=…&swipe=0.5&render=id~render=hillshade&nodata=0&bidx=1…
 *
 * `render=<id>~<query>` is an image's rendering: the catalog render it shows (`render=NAME`, absent
 * for the image's default one) and the rendering options over it, as the tile API names them.
 * Ids are [A-Za-z0-9._-], so "," and "~" are safe separators. Everything read from a fragment
 * is checked: it is someone else's link.
 */

/** A shown image's render (its name; "" the default one) and rendering options over it, as the
 * tile API names them, in its canonical order (render first); "" is the default. */
export const NO_RENDERING = { render: "", nodata: "", bidx: "", rescale: "", colormap_name: "", collar: "" };

/** A render name as a link may give it: the API's ids' characters and ":" (at most 64); "" when not. */
export function validRenderName(text) {
  return /^[A-Za-z0-9._:-]{1,64}$/.test(text || "") ? text : "";
}

/** The rendering as a query string ("" for the default one). */
export function renderingQuery(render) {
  const params = new URLSearchParams();
  for (const key of Object.keys(NO_RENDERING)) if (render[key]) params.set(key, render[key]);
  return params.toString().replace(/%2C/g, ",");
}

/** `params` as fragment text: "/", ",", "~", "=" (a pair splits at its first) and ":" are legal
 * in a fragment and unescaped keep links readable; "&" inside a value stays %26. */
export function fragmentText(params) {
  return params
    .toString()
    .replace(/%2F/g, "/")
    .replace(/%2C/g, ",")
    .replace(/%7E/g, "~")
    .replace(/%3D/g, "=")
    .replace(/%3A/g, ":");
}

/** The fragment (with its "#") of the page's `state`, its map `view` ({zoom, lat, lng}: the
 * centre's digits as the zoom needs them) and the `shown` images ([{id, opacity, render}],
 * bottom first); `parseHash` reads it back. */
export function fragmentOf(state, view, shown) {
  const params = new URLSearchParams();
  const digits = Math.max(0, Math.ceil(Math.log10(2 ** view.zoom)) + 1);
  params.set("map", `${view.zoom}/${view.lat.toFixed(digits)}/${view.lng.toFixed(digits)}`);
  if (state.q) params.set("q", state.q);
  if (state.after) params.set("after", state.after);
  if (state.before) params.set("before", state.before);
  if (state.inview) params.set("inview", "1");
  if (state.order !== "catalog") params.set("order", state.order);
  if (state.mosaic) params.set("mosaic", "1");
  if (state.compare) {
    params.set("compare", "1");
    if (state.split) params.set("split", state.split);
    params.set("left", state.left);
    params.set("right", state.right);
    params.set("swipe", String(state.swipe));
  }
  const sel = shown.map((e) => (e.opacity === 1 ? e.id : `${e.id}~${e.opacity}`));
  if (sel.length) params.set("sel", sel.join(","));
  for (const e of shown) {
    const query = renderingQuery(e.render);
    if (query) params.append("render", `${e.id}~${query}`);
  }
  return `#${fragmentText(params)}`;
}

/** The state a fragment asks for (defaults for what it lacks; bad values dropped). */
export function parseHash(hash) {
  const params = new URLSearchParams(hash.replace(/^#/, ""));
  const out = {
    q: params.get("q") || "",
    after: params.get("after") || "",
    before: params.get("before") || "",
    inview: params.get("inview") === "1",
    order: ["newest", "oldest", "best"].includes(params.get("order")) ? params.get("order") : "catalog",
    mosaic: params.get("mosaic") === "1",
    compare: params.get("compare") === "1",
    split: /^\d{4}-\d{2}-\d{2}$/.test(params.get("split") || "") ? params.get("split") : "",
    left: validSide(params.get("left")) || "before",
    right: validSide(params.get("right")) || "after",
    swipe: Math.max(0, Math.min(1, Number(params.get("swipe") || 0.5))) || 0,
    view: null,
    sel: [],
    render: new Map(), // id -> rendering
  };
  for (const item of params.getAll("render")) {
    const at = item.indexOf("~");
    const query = new URLSearchParams(item.slice(at + 1));
    const render = { ...NO_RENDERING };
    for (const key of Object.keys(NO_RENDERING)) render[key] = (query.get(key) || "").slice(0, 200);
    render.render = validRenderName(render.render);
    if (at > 0) out.render.set(item.slice(0, at), render);
  }
  const view = (params.get("map") || "").split("/").map(Number);
  if (view.length === 3 && view.every(isFinite)) out.view = { zoom: view[0], lat: view[1], lng: view[2] };
  for (const item of (params.get("sel") || "").split(",")) {
    const [id, op] = item.split("~");
    if (!/^[A-Za-z0-9._-]{1,128}$/.test(id || "")) continue;
    const opacity = op === undefined ? 1 : Math.max(0, Math.min(1, Number(op)));
    out.sel.push({ id, opacity: isFinite(opacity) ? opacity : 1 });
  }
  return out;
}

/** A compare side: "before", "after", "all" or "image:<id>"; "" when not one. */
function validSide(text) {
  return /^(before|after|all|image:[A-Za-z0-9._-]{1,128})$/.test(text || "") ? text : "";
}
