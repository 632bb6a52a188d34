/** Ranges on the timeline: the in/out points a propagation covers, stale spans and where they
 * are drawn. Pure functions, tested without a browser. */
import type { Direction, PropagationCreate, Span } from "../api/types";

/** In and out points (inclusive frame indices), each optional. */
export interface FrameRange {
  in: number | null;
  out: number | null;
}

export const noRange: FrameRange = { in: null, out: null };

/** Setting an in point past the out point (or an out point before the in point) drops the
 * other one, as editing tools do, so the range is never reversed. */
export function withIn(range: FrameRange, frame: number): FrameRange {
  return { in: frame, out: range.out !== null && range.out < frame ? null : range.out };
}

export function withOut(range: FrameRange, frame: number): FrameRange {
  return { in: range.in !== null && range.in > frame ? null : range.in, out: frame };
}

/** The body of a propagation of one object (or all, with null) over the range; ends left out
 * are the API's defaults for the direction. */
export function propagationRequest(objectId: number | null, direction: Direction, range: FrameRange): PropagationCreate {
  const body: PropagationCreate = { object_ids: objectId === null ? null : [objectId], direction };
  if (range.in !== null) body.frame_start = range.in;
  if (range.out !== null) body.frame_end = range.out;
  return body;
}

/** The object's stale spans, in order. */
export function staleSpans(spans: Span[], objectId: number | null): Span[] {
  return spans
    .filter((s) => s.state === "stale" && (objectId === null || s.object_id === objectId))
    .sort((a, b) => a.object_id - b.object_id || a.frame_start - b.frame_start);
}

export function staleFrameCount(spans: Span[], objectId: number): number {
  return staleSpans(spans, objectId).reduce((n, s) => n + s.frame_end - s.frame_start + 1, 0);
}

/** The frame ranges that "update stale frames" propagates for one object. Stale spans with only
 * keyframes between them (no fresh or missing span) join into one range, so a correction's two
 * sides are tracked in one job; a missing span between them keeps them apart, so the update
 * computes nothing that was never propagated. */
export function staleRanges(spans: Span[], objectId: number): { frame_start: number; frame_end: number }[] {
  const own = spans.filter((s) => s.object_id === objectId).sort((a, b) => a.frame_start - b.frame_start);
  const ranges: { frame_start: number; frame_end: number }[] = [];
  let joinable = false; // the previous span was stale
  for (const span of own) {
    if (span.state !== "stale") {
      joinable = false;
      continue;
    }
    const last = ranges.at(-1);
    if (joinable && last) last.frame_end = span.frame_end;
    else ranges.push({ frame_start: span.frame_start, frame_end: span.frame_end });
    joinable = true;
  }
  return ranges;
}

/** Where frames first..last sit on the timeline's track, in percent: frame k is drawn at
 * k / (frameCount - 1) like the playhead and the keyframe markers, so a band reaches half a
 * frame either side of its ends (clipped to the track). */
export function frameBand(first: number, last: number, frameCount: number): { left: number; width: number } {
  const span = Math.max(1, frameCount - 1);
  const left = Math.max(0, (first - 0.5) / span);
  const right = Math.min(1, (last + 0.5) / span);
  return { left: 100 * left, width: 100 * Math.max(0, right - left) };
}
