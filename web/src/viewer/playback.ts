/** The playback clock: which frame is due at a moment, at a speed, looping over the in/out
 * range or stopping at the end, and how many frames were skipped to keep time. Pure functions,
 * tested without a browser; usePlayback drives them from requestAnimationFrame. */
import type { FrameRange } from "../state/timeline";

/** Inclusive first and last frame that playback covers. */
export interface PlayRange {
  first: number;
  last: number;
}

export const SPEEDS = [0.25, 0.5, 1, 1.5, 2] as const;

/** Where the clock started: the frame shown at `startMs`. */
export interface Clock {
  startMs: number;
  startFrame: number;
  fps: number;
  speed: number;
}

/** Looping plays the in/out range (an end left open is the video's end); without a loop,
 * playback covers the whole video. */
export function playRange(range: FrameRange, frameCount: number, loop: boolean): PlayRange {
  const last = Math.max(0, frameCount - 1);
  if (!loop) return { first: 0, last };
  const first = Math.min(last, Math.max(0, range.in ?? 0));
  return { first, last: Math.min(last, Math.max(first, range.out ?? last)) };
}

/** The frame to start playing from: the current one when it is inside the range (and, without
 * a loop, not the last), else the range's first. */
export function startFrame(frame: number, range: PlayRange, loop: boolean): number {
  if (frame < range.first || frame > range.last) return range.first;
  if (!loop && frame === range.last) return range.first;
  return frame;
}

/** The frame due `now`, or null when playback without a loop has run past the range's end. */
export function dueFrame(clock: Clock, now: number, range: PlayRange, loop: boolean): number | null {
  const elapsed = Math.max(0, now - clock.startMs);
  const advanced = Math.floor((elapsed * clock.fps * clock.speed) / 1000 + 1e-9);
  const frame = clock.startFrame + advanced;
  if (frame <= range.last) return frame;
  if (!loop) return null;
  const length = range.last - range.first + 1;
  return range.first + ((frame - range.first) % length);
}

/** Frames from `from` to `to` in play order (1 for the next frame; wrapping at a loop). */
export function playDistance(from: number, to: number, range: PlayRange, loop: boolean): number {
  const distance = to - from;
  if (distance >= 0 || !loop) return distance;
  return distance + range.last - range.first + 1;
}

/** The frame `by` frames after `frame` in play order, wrapping at a loop (past the end without one). */
export function advance(frame: number, by: number, range: PlayRange, loop: boolean): number {
  const next = frame + by;
  if (next <= range.last || !loop) return next;
  return range.first + ((next - range.first) % (range.last - range.first + 1));
}

/** `count` frames from `frame` on in play order (the frame itself first), wrapping at a loop;
 * what the frame cache should hold next. */
export function upcoming(frame: number, count: number, range: PlayRange, loop: boolean): number[] {
  const frames: number[] = [];
  const length = range.last - range.first + 1;
  for (let k = 0; k < count && k < length; k += 1) {
    const next = advance(frame, k, range, loop);
    if (next > range.last) break;
    frames.push(next);
  }
  return frames;
}

/** What a playback step does at `now`: show `frame` (the latest due frame that is ready,
 * counting the frames passed over as dropped), hold (nothing new is ready), or stop. */
export type Step = { kind: "show"; frame: number; dropped: number } | { kind: "hold" } | { kind: "stop" };

export function step(clock: Clock, now: number, shown: number, range: PlayRange, loop: boolean, isReady: (frame: number) => boolean): Step {
  const due = dueFrame(clock, now, range, loop);
  if (due === null) return { kind: "stop" };
  const ahead = playDistance(shown, due, range, loop);
  // The latest ready frame up to the due one: a late frame is skipped, never shown out of time.
  for (let by = ahead; by >= 1; by -= 1) {
    const frame = advance(shown, by, range, loop);
    if (isReady(frame)) return { kind: "show", frame, dropped: by - 1 };
  }
  return { kind: "hold" };
}
