import { describe, expect, it } from "vitest";
import { advance, dueFrame, playDistance, playRange, startFrame, step, upcoming, type Clock } from "./playback";

const loop = { first: 10, last: 19 };
const clock = (startFrame: number, speed = 1, fps = 24): Clock => ({ startMs: 1000, startFrame, fps, speed });

describe("play range", () => {
  it("loops over the in/out points, an open end being the video's end", () => {
    expect(playRange({ in: 10, out: 19 }, 48, true)).toEqual({ first: 10, last: 19 });
    expect(playRange({ in: 10, out: null }, 48, true)).toEqual({ first: 10, last: 47 });
    expect(playRange({ in: null, out: null }, 48, true)).toEqual({ first: 0, last: 47 });
    expect(playRange({ in: 10, out: 19 }, 48, false)).toEqual({ first: 0, last: 47 });
  });

  it("starts inside the range, or from its first frame", () => {
    expect(startFrame(12, loop, true)).toBe(12);
    expect(startFrame(3, loop, true)).toBe(10);
    expect(startFrame(25, loop, true)).toBe(10);
    expect(startFrame(47, { first: 0, last: 47 }, false)).toBe(0);
  });
});

describe("clock", () => {
  it("advances a frame every 1/fps seconds at 1x, twice as fast at 2x, a quarter at 0.25x", () => {
    expect(dueFrame(clock(10), 1000, loop, true)).toBe(10);
    expect(dueFrame(clock(10), 1000 + 1000 / 24, loop, true)).toBe(11);
    expect(dueFrame(clock(10), 1000 + 1000 / 24 - 1, loop, true)).toBe(10);
    expect(dueFrame(clock(10, 2), 1000 + 1000 / 24, loop, true)).toBe(12);
    expect(dueFrame(clock(10, 0.25), 1000 + 3 * (1000 / 24), loop, true)).toBe(10);
    expect(dueFrame(clock(10, 0.25), 1000 + 4 * (1000 / 24), loop, true)).toBe(11);
  });

  it("wraps from the out point to the in point when looping, and stops past the end otherwise", () => {
    expect(dueFrame(clock(18), 1000 + 2 * (1000 / 24), loop, true)).toBe(10);
    expect(dueFrame(clock(18), 1000 + 25 * (1000 / 24), loop, true)).toBe(13);
    const whole = { first: 0, last: 19 };
    expect(dueFrame(clock(18), 1000 + 1000 / 24, whole, false)).toBe(19);
    expect(dueFrame(clock(18), 1000 + 2 * (1000 / 24), whole, false)).toBeNull();
  });

  it("measures distance and order in play order across the loop's seam", () => {
    expect(playDistance(18, 11, loop, true)).toBe(3);
    expect(advance(18, 3, loop, true)).toBe(11);
    expect(upcoming(17, 5, loop, true)).toEqual([17, 18, 19, 10, 11]);
    expect(upcoming(17, 50, loop, true)).toHaveLength(10);
    expect(upcoming(17, 5, { first: 0, last: 19 }, false)).toEqual([17, 18, 19]);
  });
});

describe("playback step", () => {
  const all = () => true;

  it("shows the due frame when it is ready, with nothing dropped", () => {
    expect(step(clock(10), 1000 + 1000 / 24, 10, loop, true, all)).toEqual({ kind: "show", frame: 11, dropped: 0 });
    expect(step(clock(10), 1000 + 10, 10, loop, true, all)).toEqual({ kind: "hold" });
  });

  it("skips late frames to keep time and counts them as dropped", () => {
    // Three frames due since frame 10 was shown: 11 and 12 are passed over.
    expect(step(clock(10), 1000 + 3 * (1000 / 24), 10, loop, true, all)).toEqual({ kind: "show", frame: 13, dropped: 2 });
  });

  it("shows the latest ready frame when the due one is not ready, and holds when none is", () => {
    const ready = (f: number) => f !== 13;
    expect(step(clock(10), 1000 + 3 * (1000 / 24), 10, loop, true, ready)).toEqual({ kind: "show", frame: 12, dropped: 1 });
    expect(step(clock(10), 1000 + 3 * (1000 / 24), 10, loop, true, () => false)).toEqual({ kind: "hold" });
  });

  it("counts drops across the loop's seam and stops at the end without a loop", () => {
    expect(step(clock(18), 1000 + 3 * (1000 / 24), 18, loop, true, all)).toEqual({ kind: "show", frame: 11, dropped: 2 });
    expect(step(clock(19), 1000 + 1000 / 24, 19, { first: 0, last: 19 }, false, all)).toEqual({ kind: "stop" });
  });

  it("plays every frame of a loop in time when every frame is ready on time", () => {
    const shownFrames: number[] = [];
    let shown = 10;
    let dropped = 0;
    for (let ms = 1000; ms < 1000 + 2000; ms += 1000 / 60) {
      const next = step(clock(10), ms, shown, loop, true, all);
      if (next.kind !== "show") continue;
      shown = next.frame;
      dropped += next.dropped;
      shownFrames.push(shown);
    }
    expect(dropped).toBe(0);
    expect(shownFrames.length).toBeGreaterThanOrEqual(47);
    expect(shownFrames.slice(0, 12)).toEqual([11, 12, 13, 14, 15, 16, 17, 18, 19, 10, 11, 12]);
  });
});
