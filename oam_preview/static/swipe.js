/* Compare swipe: two Leaflet layers, one each side of a vertical divider.
 *
 * A native ES module (no build step). The divider is a slider: dragged by
 * mouse, pen or touch (pointer events), moved by the arrow keys (Shift: ten
 * times further), Home and End. Each layer is clipped to its side of the
 * divider in the coordinates of Leaflet's panes, as leaflet-side-by-side does,
 * so panning and zooming keep the split where it is on screen.
 */

const KEY_STEP = 0.02; // of the map's width, per arrow key press

/**
 * @param {L.Map} map
 * @param {{position?: number, onChange?: (position: number) => void}} options
 *   position: the divider's place, 0 (left edge) to 1 (right edge)
 */
export function createSwipe(map, { position = 0.5, onChange = () => {} } = {}) {
  let left = null;
  let right = null;
  let fraction = clamp(position);

  const divider = document.createElement("div");
  divider.className = "swipe-divider";
  divider.tabIndex = 0;
  divider.setAttribute("role", "slider");
  divider.setAttribute("aria-label", "Compare divider: left and right layers");
  divider.setAttribute("aria-valuemin", "0");
  divider.setAttribute("aria-valuemax", "100");
  divider.setAttribute("aria-orientation", "horizontal");
  const handle = document.createElement("span");
  handle.className = "swipe-handle";
  divider.append(handle);
  map.getContainer().append(divider);
  // The map must not pan or click-through while the divider is dragged.
  L.DomEvent.disableClickPropagation(divider);
  L.DomEvent.disableScrollPropagation(divider);

  function clamp(value) {
    return Math.max(0, Math.min(1, Number.isFinite(value) ? value : 0.5));
  }

  function clip() {
    const size = map.getSize();
    const nw = map.containerPointToLayerPoint([0, 0]);
    const se = map.containerPointToLayerPoint(size);
    const x = nw.x + size.x * fraction;
    divider.style.left = `${size.x * fraction}px`;
    divider.setAttribute("aria-valuenow", String(Math.round(fraction * 100)));
    divider.setAttribute("aria-valuetext", `${Math.round(fraction * 100)} % of the map shows the left layer`);
    if (left && left.getContainer()) {
      left.getContainer().style.clip = `rect(${nw.y}px, ${x}px, ${se.y}px, ${nw.x}px)`;
    }
    if (right && right.getContainer()) {
      right.getContainer().style.clip = `rect(${nw.y}px, ${se.x}px, ${se.y}px, ${x}px)`;
    }
  }

  function setPosition(value, notify = true) {
    fraction = clamp(value);
    clip();
    if (notify) onChange(fraction);
  }

  let dragging = false;
  divider.addEventListener("pointerdown", (event) => {
    dragging = true;
    divider.setPointerCapture(event.pointerId);
    divider.classList.add("dragging");
    map.dragging.disable();
    event.preventDefault();
  });
  divider.addEventListener("pointermove", (event) => {
    if (!dragging) return;
    const box = map.getContainer().getBoundingClientRect();
    setPosition((event.clientX - box.left) / box.width);
  });
  const stop = (event) => {
    if (!dragging) return;
    dragging = false;
    divider.classList.remove("dragging");
    if (divider.hasPointerCapture(event.pointerId)) divider.releasePointerCapture(event.pointerId);
    map.dragging.enable();
  };
  divider.addEventListener("pointerup", stop);
  divider.addEventListener("pointercancel", stop);
  divider.addEventListener("keydown", (event) => {
    const step = event.shiftKey ? KEY_STEP * 10 : KEY_STEP;
    const moves = {
      ArrowLeft: fraction - step,
      ArrowDown: fraction - step,
      ArrowRight: fraction + step,
      ArrowUp: fraction + step,
      PageDown: fraction - KEY_STEP * 10,
      PageUp: fraction + KEY_STEP * 10,
      Home: 0,
      End: 1,
    };
    if (!(event.key in moves)) return;
    event.preventDefault();
    event.stopPropagation(); // not the map's keyboard panning
    setPosition(moves[event.key]);
  });

  map.on("move resize zoomend", clip);

  /** Show ``newLeft`` left of the divider and ``newRight`` right of it (either may be null). */
  function setLayers(newLeft, newRight) {
    for (const old of [left, right]) {
      if (old && old !== newLeft && old !== newRight && old.getContainer()) old.getContainer().style.clip = "";
    }
    left = newLeft;
    right = newRight;
    for (const layer of [left, right]) if (layer) layer.once("add load", clip);
    clip();
  }

  function remove() {
    map.off("move resize zoomend", clip);
    for (const layer of [left, right]) if (layer && layer.getContainer()) layer.getContainer().style.clip = "";
    divider.remove();
  }

  clip();
  return { setLayers, setPosition, remove, get position() { return fraction; }, element: divider };
}
