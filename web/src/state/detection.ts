/** "Find all": text and exemplar prompts that make a new object of every instance on a frame.
 * The exemplar boxes drawn on a frame (Shift+drag), the request they and the text make, and the
 * objects the last detection found, with the one propagation that tracks them all. Pure
 * functions, so every rule is unit-tested without a browser. */
import type { Detection, PropagationCreate, VideoObject } from "../api/types";

export type Box = [number, number, number, number];

/** Exemplar boxes belong to the frame they were drawn on. */
export interface Exemplars {
  frame: number;
  boxes: Box[];
}

/** The last detection: where, what, and the objects it made (best first). */
export interface Found {
  frame: number;
  text: string | null;
  objectIds: number[];
}

/** api.md: 1–200 characters of text, up to 20 exemplar boxes, 1–100 objects. */
export const MAX_TEXT = 200;
export const MAX_EXEMPLARS = 20;
export const MAX_FOUND = 100;

export interface DetectionOptions {
  threshold: number;
  maxObjects: number;
  propagate: boolean;
}

export const defaultDetectionOptions: DetectionOptions = { threshold: 0.5, maxObjects: 20, propagate: false };

/** The exemplars with `box` drawn on `frame`: a box on another frame starts a new set, and the
 * set stops growing at the most the API takes. */
export function withExemplar(current: Exemplars | null, frame: number, box: Box): Exemplars {
  if (!current || current.frame !== frame) return { frame, boxes: [box] };
  if (current.boxes.length >= MAX_EXEMPLARS) return current;
  return { frame, boxes: [...current.boxes, box] };
}

/** The exemplar boxes drawn on `frame` (none when they were drawn on another). */
export function exemplarsOn(exemplars: Exemplars | null, frame: number): Box[] {
  return exemplars && exemplars.frame === frame ? exemplars.boxes : [];
}

function clamp(value: number, low: number, high: number): number {
  return Math.min(high, Math.max(low, value));
}

/** The body of `POST /detections` for the text and this frame's exemplars, or null when there is
 * neither (blank text and no box). */
export function detectionRequest(
  text: string,
  exemplars: Exemplars | null,
  frame: number,
  options: DetectionOptions = defaultDetectionOptions,
): Detection | null {
  const trimmed = text.trim().slice(0, MAX_TEXT);
  const boxes = exemplarsOn(exemplars, frame);
  if (!trimmed && boxes.length === 0) return null;
  return {
    text: trimmed || null,
    exemplar_boxes: boxes.length ? boxes : null,
    frame_index: frame,
    threshold: clamp(options.threshold, 0, 1),
    max_objects: Math.round(clamp(options.maxObjects, 1, MAX_FOUND)),
    propagate: options.propagate,
  };
}

/** The object ids a succeeded `detect` job made (its result), or none. */
export function foundObjectIds(result: { [key: string]: unknown } | null | undefined): number[] {
  const ids = result?.object_ids;
  return Array.isArray(ids) ? ids.filter((id): id is number => Number.isInteger(id)) : [];
}

/** The found objects that still exist, in the detection's order. */
export function foundObjects(found: Found | null, objects: VideoObject[]): VideoObject[] {
  if (!found) return [];
  const byId = new Map(objects.map((o) => [o.id, o]));
  return found.objectIds.flatMap((id) => byId.get(id) ?? []);
}

/** The one propagation that tracks every found object through the whole video, or null when
 * none is left. */
export function foundPropagation(found: Found | null, objects: VideoObject[]): PropagationCreate | null {
  const ids = foundObjects(found, objects).map((o) => o.id);
  return ids.length ? { object_ids: ids, direction: "both" } : null;
}

/** "3 × person", "1 × object", or what found nothing. */
export function describeFound(found: Found, objects: VideoObject[]): string {
  const present = foundObjects(found, objects);
  const what = found.text ?? "the exemplars";
  if (found.objectIds.length === 0) return `No match for ${found.text ? `“${found.text}”` : what} on frame ${found.frame}`;
  const categories = [...new Set(present.map((o) => o.category))];
  return `${present.length} × ${categories.join(", ") || what} on frame ${found.frame}`;
}
