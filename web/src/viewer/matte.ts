/** The export's `Matte` settings (api.md, Exports) as the viewer edits them, and the query that
 * asks the matte endpoint for the same matte, so the preview is the exported frame. */
import type { Dataset, Matte } from "../api/types";

export const defaultMatte: Matte = {
  grow_px: 0,
  feather_px: 0,
  fill_holes_px: 0,
  remove_islands_px: 0,
  smooth_frames: 0,
  soft_edges: "none",
};

export const defaultDataset: Dataset = { include_frames: true, frame_step: 1, splits: null };

/** Each numeric field's range, as the API checks it. */
export const MATTE_LIMITS = {
  grow_px: [-64, 64],
  feather_px: [0, 64],
  fill_holes_px: [0, 4096],
  remove_islands_px: [0, 4096],
  smooth_frames: [0, 4],
} as const satisfies Record<string, readonly [number, number]>;

export type MatteNumber = keyof typeof MATTE_LIMITS;

/** The settings with `field` set to `value`, rounded and held inside its range. */
export function withMatteField(matte: Matte, field: MatteNumber, value: number): Matte {
  const [low, high] = MATTE_LIMITS[field];
  const clean = Number.isFinite(value) ? Math.round(value) : 0;
  return { ...matte, [field]: Math.min(high, Math.max(low, clean)) };
}

/** Whether the settings change nothing (the matte is the binary mask). */
export function isPlainMatte(matte: Matte): boolean {
  return (Object.keys(defaultMatte) as (keyof Matte)[]).every((k) => matte[k] === defaultMatte[k]);
}

/** The matte endpoint's query for one object: every `Matte` field but `smooth_frames`, which
 * needs the neighbouring frames and only the export applies. */
export function matteQuery(objectId: number, matte: Matte): string {
  const query = new URLSearchParams({ object_id: String(objectId) });
  for (const field of ["grow_px", "feather_px", "fill_holes_px", "remove_islands_px", "soft_edges"] as const) {
    query.set(field, String(matte[field]));
  }
  return query.toString();
}

/** Split shares in percent (train, val, test) as the API's fractions; null for no split.
 * Shares of 0 are left out; the API wants them to sum to 1 with a train share. */
export function splitsOf(percent: { train: number; val: number; test: number } | null): Dataset["splits"] {
  if (!percent) return null;
  const splits: Record<string, number> = {};
  for (const [name, share] of Object.entries(percent)) if (share > 0) splits[name] = share / 100;
  return splits;
}

/** What is wrong with split shares in percent, in words; null when they are fine. */
export function splitsProblem(percent: { train: number; val: number; test: number } | null): string | null {
  if (!percent) return null;
  const shares = Object.values(percent);
  if (shares.some((s) => !Number.isFinite(s) || s < 0 || s > 100)) return "each share is 0–100 %";
  if (percent.train <= 0) return "the train share must be above 0 %";
  const total = shares.reduce((a, b) => a + b, 0);
  if (Math.abs(total - 100) > 1e-6) return `the shares add up to ${total} %, not 100 %`;
  return null;
}
