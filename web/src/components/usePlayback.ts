/** Playback on requestAnimationFrame against a wall clock (playback.ts): at the speed chosen,
 * looping over the in/out range, showing each frame when it is due and ready and skipping
 * (counting as dropped) frames that were not ready in time. It waits for the first frames to be
 * decoded before starting the clock, as players pre-roll. */
import { useEffect, useRef, useState } from "react";
import { flushSync } from "react-dom";
import { startFrame, step, upcoming, type Clock, type PlayRange } from "../viewer/playback";

/** Frames that must be ready before the clock starts (at most), and the longest wait for them. */
const PREROLL_FRAMES = 12;
const PREROLL_MS = 3000;
/** How often the figures shown to the user are refreshed. */
const STATS_MS = 500;

export interface PlaybackStats {
  /** Frames shown and frames skipped since play was pressed. */
  shown: number;
  dropped: number;
  /** Frames shown per second of playback; null before the clock starts. */
  fps: number | null;
}

interface Options {
  playing: boolean;
  frame: number;
  fps: number;
  speed: number;
  range: PlayRange;
  loop: boolean;
  /** Frames the cache fetches ahead: pre-roll waits for no more than these. */
  ahead: number;
  isReady: (frame: number) => boolean;
  onFrame: (frame: number) => void;
  onStop: () => void;
}

export function usePlayback(options: Options): PlaybackStats {
  const latest = useRef(options);
  latest.current = options;
  const counters = useRef({ shown: 0, dropped: 0, playedMs: 0 });
  const [stats, setStats] = useState<PlaybackStats>({ shown: 0, dropped: 0, fps: null });
  const { playing, fps, speed, loop } = options;
  const { first, last } = options.range;

  useEffect(() => {
    if (playing) counters.current = { shown: 0, dropped: 0, playedMs: 0 };
  }, [playing]);

  useEffect(() => {
    if (!playing) return;
    const range = { first, last };
    let shown = startFrame(latest.current.frame, range, loop);
    if (shown !== latest.current.frame) latest.current.onFrame(shown);
    let clock: Clock | null = null;
    let published = 0;
    const began = performance.now();
    const publish = (now: number) => {
      const c = counters.current;
      const seconds = (c.playedMs + (clock ? now - clock.startMs : 0)) / 1000;
      setStats({ shown: c.shown, dropped: c.dropped, fps: seconds > 0 ? c.shown / seconds : null });
      published = now;
    };
    let request = 0;
    const tick = (now: number) => {
      const o = latest.current;
      if (!clock) {
        const preroll = upcoming(shown, Math.min(PREROLL_FRAMES, o.ahead), range, loop);
        if (preroll.every(o.isReady) || now - began > PREROLL_MS) clock = { startMs: now, startFrame: shown, fps, speed };
      } else {
        const next = step(clock, now, shown, range, loop, o.isReady);
        if (next.kind === "stop") {
          publish(now);
          o.onStop();
          return;
        }
        if (next.kind === "show") {
          shown = next.frame;
          counters.current.shown += 1;
          counters.current.dropped += next.dropped;
          // Rendered now, inside this animation frame: the plate and its overlay are drawn
          // before the browser paints, so a frame counted as shown is seen.
          flushSync(() => o.onFrame(shown));
        }
      }
      if (now - published > STATS_MS) publish(now);
      request = requestAnimationFrame(tick);
    };
    request = requestAnimationFrame(tick);
    return () => {
      cancelAnimationFrame(request);
      const now = performance.now();
      publish(now);
      // A speed or range change restarts the clock; the time played so far still counts.
      if (clock) counters.current.playedMs += now - clock.startMs;
    };
  }, [playing, fps, speed, first, last, loop]);

  return stats;
}
