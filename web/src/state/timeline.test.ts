import { describe, expect, it } from "vitest";
import type { Span } from "../api/types";
import { frameBand, noRange, propagationRequest, staleFrameCount, staleRanges, staleSpans, withIn, withOut } from "./timeline";

function span(frame_start: number, frame_end: number, state: Span["state"], object_id = 1): Span {
  return { object_id, frame_start, frame_end, state };
}

describe("stale spans", () => {
  // Keyframes of object 1 at 0, 5 and 15 in 24 frames; a correction on 15 made both sides stale.
  const spans = [span(16, 23, "stale"), span(1, 4, "fresh"), span(6, 14, "stale"), span(2, 20, "stale", 2)];

  it("are the object's stale runs, in order, with their frame count", () => {
    expect(staleSpans(spans, 1).map((s) => [s.frame_start, s.frame_end])).toEqual([[6, 14], [16, 23]]);
    expect(staleFrameCount(spans, 1)).toBe(17);
    expect(staleFrameCount(spans, 3)).toBe(0);
  });

  it("join across keyframes into one propagation range", () => {
    expect(staleRanges(spans, 1)).toEqual([{ frame_start: 6, frame_end: 23 }]);
    expect(staleRanges(spans, 2)).toEqual([{ frame_start: 2, frame_end: 20 }]);
  });

  it("stay apart across a fresh or missing span, so nothing else is computed", () => {
    const split = [span(0, 3, "stale"), span(5, 9, "fresh"), span(11, 12, "stale"), span(14, 20, "missing"), span(22, 23, "stale")];
    expect(staleRanges(split, 1)).toEqual([
      { frame_start: 0, frame_end: 3 },
      { frame_start: 11, frame_end: 12 },
      { frame_start: 22, frame_end: 23 },
    ]);
    expect(staleRanges([span(0, 23, "fresh")], 1)).toEqual([]);
  });
});

describe("frameBand", () => {
  it("puts frames where the playhead and keyframe markers put them, half a frame either side", () => {
    const band = frameBand(6, 14, 24);
    expect(band.left).toBeCloseTo((100 * 5.5) / 23);
    expect(band.width).toBeCloseTo((100 * 9) / 23);
  });

  it("clips bands at both ends of the track", () => {
    expect(frameBand(0, 23, 24)).toEqual({ left: 0, width: 100 });
    const single = frameBand(0, 0, 1);
    expect(single.left).toBe(0);
    expect(single.width).toBeCloseTo(50);
  });
});

describe("in/out range and propagation", () => {
  it("never holds a reversed range", () => {
    expect(withOut(withIn(noRange, 10), 20)).toEqual({ in: 10, out: 20 });
    expect(withIn({ in: 10, out: 20 }, 25)).toEqual({ in: 25, out: null });
    expect(withOut({ in: 10, out: 20 }, 5)).toEqual({ in: null, out: 5 });
  });

  it("propagates the selected object over the range in the chosen direction", () => {
    expect(propagationRequest(2, "backward", { in: 3, out: 17 })).toEqual({ object_ids: [2], direction: "backward", frame_start: 3, frame_end: 17 });
    expect(propagationRequest(2, "forward", { in: null, out: 9 })).toEqual({ object_ids: [2], direction: "forward", frame_end: 9 });
    expect(propagationRequest(null, "both", noRange)).toEqual({ object_ids: null, direction: "both" });
  });
});
