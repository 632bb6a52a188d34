import { describe, expect, it } from "vitest";
import { inSpans, keptSpans, maskReads, missingRuns } from "./maskWindow";

function loadedSet(...spans: [number, number][]) {
  const set = new Set<number>();
  for (const [a, b] of spans) for (let f = a; f <= b; f += 1) set.add(f);
  return (f: number) => set.has(f);
}

describe("mask window", () => {
  it("reads the frames within the radius of the playhead at open, not the whole video", () => {
    expect(maskReads(0, 10_000, () => false, null, 60)).toEqual([{ first: 0, last: 60 }]);
    expect(maskReads(500, 10_000, () => false, null, 60)).toEqual([{ first: 440, last: 560 }]);
  });

  it("reads nothing while the frames near the playhead are loaded, then the missing chunk", () => {
    const loaded = loadedSet([440, 560]);
    expect(maskReads(520, 10_000, loaded, null, 60)).toEqual([]);
    expect(maskReads(531, 10_000, loaded, null, 60)).toEqual([{ first: 561, last: 591 }]);
  });

  it("a short loop is read whole so playback goes round it without gaps", () => {
    const reads = maskReads(100, 10_000, loadedSet([40, 160]), { first: 100, last: 300 }, 60);
    expect(reads).toEqual([{ first: 161, last: 300 }]);
    // A loop longer than the keep window is read like any playback, around the playhead.
    expect(maskReads(100, 10_000, loadedSet([40, 160]), { first: 0, last: 5_000 }, 60)).toEqual([]);
  });

  it("keeps the frames around the playhead and a short loop; lets the rest go", () => {
    const kept = keptSpans(1000, 10_000, { first: 10, last: 40 }, 120);
    expect(kept).toEqual([{ first: 880, last: 1120 }, { first: 10, last: 40 }]);
    expect(inSpans(879, kept)).toBe(false);
    expect(inSpans(25, kept)).toBe(true);
    expect(keptSpans(5, 50, null, 120)).toEqual([{ first: 0, last: 49 }]);
  });

  it("finds the missing runs of a span", () => {
    expect(missingRuns({ first: 0, last: 9 }, loadedSet([2, 4], [7, 7]))).toEqual([
      { first: 0, last: 1 },
      { first: 5, last: 6 },
      { first: 8, last: 9 },
    ]);
  });
});
