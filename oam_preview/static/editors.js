/* The links that open a layer in an OpenStreetMap editor (pure functions of its URLs).
 *
 * iD takes a custom background in its URL's hash (`background=custom:<template>` with
 * {z} or {zoom}) and the changeset's `source=`; JOSM's remote control (a local HTTP
 * server, 127.0.0.1:8111 by default) adds a TMS layer with its `imagery` command, whose
 * template uses {zoom} and whose `url` must come last (it may hold its own `&`).
 */

const ID_EDITOR = "https://www.openstreetmap.org/edit?editor=id";

/** A tile template with JOSM's and ELI's `{zoom}` in place of `{z}`. */
export function tmsTemplate(template) {
  return template.replace("{z}", "{zoom}");
}

/** The changeset `source=` value of a layer: who made it, what, when. */
export function sourceTag(title, provider, date) {
  return [provider, title, date].filter(Boolean).join(", ");
}

/** iD with `template` as its background, centred on `center` ([lon, lat, zoom]) when given. */
export function idEditorUrl(template, { center = null, source = "" } = {}) {
  const parts = [`background=custom:${encodeURIComponent(template)}`];
  if (Array.isArray(center) && center.length >= 3) parts.push(`map=${center[2]}/${center[1]}/${center[0]}`);
  if (source) parts.push(`source=${encodeURIComponent(source)}`);
  return `${ID_EDITOR}#${parts.join("&")}`;
}

/** JOSM's remote control `imagery` command at `remote` (its base URL) for a TMS template. */
export function josmImageryUrl(remote, template, { title = "", minZoom = null, maxZoom = null } = {}) {
  const params = [
    title ? `title=${encodeURIComponent(title)}` : "",
    "type=tms",
    typeof minZoom === "number" ? `min_zoom=${minZoom}` : "",
    typeof maxZoom === "number" ? `max_zoom=${maxZoom}` : "",
    `url=${encodeURIComponent(tmsTemplate(template))}`, // last: JOSM reads the rest as the URL
  ].filter(Boolean);
  return `${remote.replace(/\/$/, "")}/imagery?${params.join("&")}`;
}
