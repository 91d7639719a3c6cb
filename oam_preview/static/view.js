/* The map view and images' bounds as the API and Leaflet take them (pure functions: degrees,
 * EPSG:4326; unit-tested by tests/js/).
 */

/** Wrap a longitude into [-180, 180]; `east` keeps 180 rather than -180. */
export function wrapLng(lng, east) {
  const wrapped = ((((lng + 180) % 360) + 360) % 360) - 180;
  return east && wrapped === -180 ? 180 : wrapped;
}

/** A view's edges (Leaflet's, unwrapped) as an API bbox "w,s,e,n"; west > east when it crosses
 * the antimeridian, the whole world when it is wider than it. */
export function bboxText(west, south, east, north) {
  return viewBox(west, south, east, north).join(",");
}

/** A view's edges as a box [w, s, e, n] (rounded to 1e-6°, wrapped as `bboxText` says). */
export function viewBox(west, south, east, north) {
  let w = west;
  let e = east;
  if (e - w >= 360) {
    w = -180;
    e = 180;
  } else {
    w = wrapLng(w, false);
    e = wrapLng(e, true);
  }
  const s = Math.max(-90, south);
  const n = Math.min(90, north);
  return [w, s, e, n].map((v) => +v.toFixed(6));
}

/** TileJSON/bbox [w, s, e, n] as Leaflet corners [[s, w], [n, e]]; east is unwrapped past 180
 * when the box crosses the antimeridian. null when not a box. */
export function cornersOf(bbox) {
  if (!Array.isArray(bbox) || bbox.length < 4 || !bbox.slice(0, 4).every(Number.isFinite)) return null;
  const [w, s, e, n] = bbox;
  return [
    [s, w],
    [n, e < w ? e + 360 : e],
  ];
}

const BOUNDS_INSET_DEG = 1e-6; // ~10 cm

/** The corners a tile layer of TileJSON `bounds` asks tiles within, or null (no limit).
 *
 * Inset by ~10 cm: TileJSON bounds are rounded, and a tile that only touches the image within
 * that rounding is answered 404 (outside). Leaflet's tile bounds cannot cross the antimeridian:
 * such a layer gets none (its tiles are asked more widely). */
export function tileBoundsOf(bounds) {
  if (!Array.isArray(bounds) || bounds.length !== 4 || !bounds.every(Number.isFinite)) return null;
  const [w, s, e, n] = bounds;
  if (crossesAntimeridian(bounds) || s > n) return null;
  const inset = Math.min(BOUNDS_INSET_DEG, (e - w) / 4, (n - s) / 4);
  return [
    [s + inset, w + inset],
    [n - inset, e - inset],
  ];
}

/** Whether a box [w, s, e, n] (degrees) crosses the antimeridian: the page's one home of the
 * rule (the server's is oam_preview/geo/geometry.py). */
export function crossesAntimeridian([w, , e]) {
  return w > e;
}

/** A box [w, s, e, n] as one or two boxes with west <= east (split at the antimeridian). */
export function splitBox([w, s, e, n]) {
  return crossesAntimeridian([w, s, e, n])
    ? [
        [w, s, 180, n],
        [-180, s, e, n],
      ]
    : [[w, s, e, n]];
}

/** Whether two boxes (west <= east) share more than an edge. */
export function boxesOverlap(a, b) {
  return a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3];
}

const EDGE_DEG = 2e-6; // the rounding of a bbox sent to the API, and then some

/** Whether box `inner` lies in one of `outers` (to the API bbox's rounding). */
function boxInside(inner, outers) {
  return outers.some(
    (o) => inner[0] >= o[0] - EDGE_DEG && inner[2] <= o[2] + EDGE_DEG && inner[1] >= o[1] - EDGE_DEG && inner[3] <= o[3] + EDGE_DEG,
  );
}

/** Whether a tile (a box, west <= east) of a layer of imagery may hold some, by what the page knows.
 *
 * `coverage` is the footprints answer: "any" when it could not list every footprint in view
 * (vector tiles, or no answer): every tile may; null before the first answer; else
 * {view, boxes}, the view it was asked for and the footprints' boxes (each a [w, s, e, n], west >
 * east across the antimeridian). While the map shows more than that view (moved since), no new
 * tile is asked: the next answer will say. `view` is the map's box now. */
export function tileMayHoldImagery(tile, coverage, view) {
  if (coverage === "any") return true;
  if (!coverage || !splitBox(view).every((part) => boxInside(part, splitBox(coverage.view)))) return false;
  return coverage.boxes.some((box) => splitBox(box).some((part) => boxesOverlap(part, tile)));
}
