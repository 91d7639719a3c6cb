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
  return [w, s, e, n].map((v) => +v.toFixed(6)).join(",");
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
  if (w > e || s > n) return null;
  const inset = Math.min(BOUNDS_INSET_DEG, (e - w) / 4, (n - s) / 4);
  return [
    [s + inset, w + inset],
    [n - inset, e - inset],
  ];
}
