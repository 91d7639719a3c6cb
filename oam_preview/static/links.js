/* The buttons that hand a layer to other tools: copy a URL, open it in iD or JOSM (editors.js
 * builds their URLs). Shared by the mosaic's actions and each shown image's card.
 */
import { el } from "./dom.js";
import { idEditorUrl, josmImageryUrl, tmsTemplate } from "./editors.js";

/** @param {{josmRemote: string, copyText: (text: string, what: string) => void}} deps */
export function createLinks({ josmRemote, copyText }) {
  /** A button that copies `text` (said as `what`). */
  const copy = (label, text, what) =>
    el("button", { type: "button", class: "copy", text: label, "data-copy": what, onclick: () => copyText(text, what) });

  /** iD's custom background with the layer's `source=`, JOSM's remote control, and the TMS
   * template ({zoom}) to paste by hand. */
  function editorLinks(template, { title, source, center, maxZoom }, what) {
    const link = (text, href, cls) => el("a", { class: `button ${cls}`, href, target: "_blank", rel: "noopener", text });
    return [
      link("Open in iD", idEditorUrl(template, { center, source }), "open-id"),
      link("Open in JOSM", josmImageryUrl(josmRemote, template, { title, maxZoom }), "open-josm"),
      copy("Copy TMS URL", tmsTemplate(template), what),
    ];
  }

  return { copy, editorLinks };
}
