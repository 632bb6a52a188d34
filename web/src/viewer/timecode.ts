/** SMPTE timecode of a frame: the video's start timecode (`Video.timecode`) plus the frame at the
 * video's rate, counted as the exports count it (src/roto/exports/timecode.py). Drop-frame (`;`)
 * skips frame numbers 0 and 1 (0-3 at 59.94) at the start of every minute except each tenth, so
 * the timecode keeps pace with the clock at 29.97 and 59.94 fps. */

export interface Timecode {
  hours: number;
  minutes: number;
  seconds: number;
  frames: number;
  dropFrame: boolean;
}

const PATTERN = /^(\d{2}):(\d{2}):(\d{2})([:;.,])(\d{2,3})$/;

/** Frames a timecode second counts: 24 at 23.976, 30 at 29.97, 60 at 59.94. */
export function nominalRate(fps: number): number {
  return Math.max(1, Math.round(fps));
}

/** A frame rate as people write it: 24, 25, 23.976, 29.97, 59.94. */
export function formatRate(fps: number): string {
  return String(Number(fps.toFixed(3)));
}

/** Whether the rate is an NTSC rate that drop-frame counting is made for (29.97, 59.94). */
export function isDropFrameRate(fps: number): boolean {
  return nominalRate(fps) % 30 === 0 && Math.abs(fps - nominalRate(fps)) > 0.001;
}

/** Frame numbers skipped at the start of a minute: 2 at 30, 4 at 60; 0 where drop-frame does not apply. */
function dropsPerMinute(fps: number): number {
  const base = nominalRate(fps);
  return base % 30 === 0 ? base / 15 : 0;
}

/** `HH:MM:SS:FF`, or `HH:MM:SS;FF` (also `.` or `,`, as some tools write it) for drop-frame; null otherwise. */
export function parseTimecode(text: string): Timecode | null {
  const match = PATTERN.exec(text.trim());
  if (!match) return null;
  const [, h, m, s, separator, f] = match;
  return { hours: Number(h), minutes: Number(m), seconds: Number(s), frames: Number(f), dropFrame: separator !== ":" };
}

export function formatTimecode(code: Timecode): string {
  const two = (n: number) => String(n).padStart(2, "0");
  return `${two(code.hours)}:${two(code.minutes)}:${two(code.seconds)}${code.dropFrame ? ";" : ":"}${two(code.frames)}`;
}

/** The frame count a timecode stands for, from 00:00:00:00. */
export function timecodeToFrames(code: Timecode, fps: number): number {
  const base = nominalRate(fps);
  const totalMinutes = 60 * code.hours + code.minutes;
  let frames = (3600 * code.hours + 60 * code.minutes + code.seconds) * base + code.frames;
  if (code.dropFrame) frames -= dropsPerMinute(fps) * (totalMinutes - Math.floor(totalMinutes / 10));
  return frames;
}

/** The timecode of a frame count, wrapping at 24 hours. */
export function framesToTimecode(count: number, fps: number, dropFrame: boolean): Timecode {
  const base = nominalRate(fps);
  const drop = dropFrame ? dropsPerMinute(fps) : 0;
  let frames = count;
  if (drop > 0) {
    const perTenMinutes = base * 600 - drop * 9;
    const perMinute = base * 60 - drop;
    const tens = Math.floor(frames / perTenMinutes);
    const rest = frames - tens * perTenMinutes;
    const extra = rest < drop ? 0 : drop * Math.floor((rest - drop) / perMinute);
    frames += drop * 9 * tens + extra;
  }
  const day = base * 86400;
  frames = ((frames % day) + day) % day;
  const seconds = Math.floor(frames / base);
  return {
    hours: Math.floor(seconds / 3600),
    minutes: Math.floor(seconds / 60) % 60,
    seconds: seconds % 60,
    frames: frames % base,
    dropFrame: drop > 0,
  };
}

/** The timecode of frame `index` (0-based) of a video that starts at `start` (its source
 * timecode, or null for none: then it counts from 00:00:00:00, drop-frame at 29.97 and 59.94
 * as broadcast does). Drop-frame notation at a rate it does not apply to is read as non-drop. */
export function frameTimecode(start: string | null, fps: number, index: number): string {
  const origin = start === null ? null : parseTimecode(start);
  const dropFrame = origin ? origin.dropFrame && dropsPerMinute(fps) > 0 : isDropFrameRate(fps);
  const first = origin ? timecodeToFrames({ ...origin, dropFrame }, fps) : 0;
  return formatTimecode(framesToTimecode(first + index, fps, dropFrame));
}
