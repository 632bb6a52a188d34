/** The masks the editor holds: those of the frames around the playhead (and of a short loop),
 * not the whole video's. Which frame ranges to read next, and which frames to let go. */
import type { PlayRange } from "./playback";

/** Frames read either side of the playhead. */
export const MASK_RADIUS = 60;
/** Frames kept either side of the playhead before they are let go (read again when visited). */
export const KEEP_RADIUS = 2 * MASK_RADIUS;

export interface Span {
  first: number;
  last: number;
}

function clampSpan(first: number, last: number, frameCount: number): Span | null {
  const span = { first: Math.max(0, first), last: Math.min(frameCount - 1, last) };
  return span.first <= span.last ? span : null;
}

/** Runs of frames in `span` that `isLoaded` says are not loaded (or being loaded). */
export function missingRuns(span: Span, isLoaded: (frame: number) => boolean): Span[] {
  const runs: Span[] = [];
  for (let frame = span.first; frame <= span.last; frame += 1) {
    if (isLoaded(frame)) continue;
    const last = runs.at(-1);
    if (last && last.last === frame - 1) last.last = frame;
    else runs.push({ first: frame, last: frame });
  }
  return runs;
}

/** The ranges to read: nothing while the frames within half the radius of the playhead are
 * loaded, else every missing run within the radius (so reads come in chunks, not a frame per
 * step). A loop no longer than the keep window is read whole, so it plays round without gaps. */
export function maskReads(frame: number, frameCount: number, isLoaded: (frame: number) => boolean, loop: PlayRange | null, radius = MASK_RADIUS): Span[] {
  const reads: Span[] = [];
  const near = clampSpan(frame - Math.floor(radius / 2), frame + Math.floor(radius / 2), frameCount);
  if (near && missingRuns(near, isLoaded).length) {
    reads.push(...missingRuns(clampSpan(frame - radius, frame + radius, frameCount)!, isLoaded));
  }
  if (loop && loop.last - loop.first <= 2 * KEEP_RADIUS) {
    const covered = (f: number) => isLoaded(f) || reads.some((r) => r.first <= f && f <= r.last);
    const span = clampSpan(loop.first, loop.last, frameCount);
    if (span) reads.push(...missingRuns(span, covered));
  }
  return reads;
}

/** The spans whose masks stay held: around the playhead, and a loop that is read whole. */
export function keptSpans(frame: number, frameCount: number, loop: PlayRange | null, keep = KEEP_RADIUS): Span[] {
  const spans = [clampSpan(frame - keep, frame + keep, frameCount)];
  if (loop && loop.last - loop.first <= 2 * keep) spans.push(clampSpan(loop.first, loop.last, frameCount));
  return spans.filter((s): s is Span => s !== null);
}

export function inSpans(frame: number, spans: readonly Span[]): boolean {
  return spans.some((s) => s.first <= frame && frame <= s.last);
}
