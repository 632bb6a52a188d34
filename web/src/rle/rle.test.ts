import { describe, expect, it } from "vitest";
import fixtures from "./fixtures.json";
import { decodeCounts, decodeMask, encodeCounts, encodeMask, maskArea } from "./rle";

/** The row-major mask that a fixture's "start:length" runs per row describe. */
function expected(size: number[], rows: string[]): Uint8Array {
  const [height, width] = size as [number, number];
  const mask = new Uint8Array(height * width);
  rows.forEach((row, y) => {
    for (const run of row.split(" ").filter(Boolean)) {
      const [start, length] = run.split(":").map(Number) as [number, number];
      mask.fill(1, y * width + start, y * width + start + length);
    }
  });
  return mask;
}

describe("decodeMask against pycocotools", () => {
  it.each(fixtures.map((f) => [f.name, f] as const))("decodes %s", (_name, fixture) => {
    const mask = decodeMask(fixture.rle);
    const want = expected(fixture.rle.size, fixture.rows);
    expect(mask.length).toBe(want.length);
    const firstDifference = mask.findIndex((value, i) => value !== want[i]);
    expect(firstDifference).toBe(-1);
    expect(maskArea(fixture.rle)).toBe(fixture.area);
  });

  it("covers masks with runs longer than one character can hold", () => {
    const large = fixtures.find((f) => f.name === "large rectangle")!;
    expect(Math.max(...decodeCounts(large.rle.counts))).toBeGreaterThan(2 ** 15);
  });
});

describe("decodeMask on bad input", () => {
  it("rejects runs that overflow the size", () => {
    const full = fixtures.find((f) => f.name === "full")!;
    expect(() => decodeMask({ size: [2, 2], counts: full.rle.counts })).toThrow(/fit/);
  });

  it("rejects runs that stop short of the size", () => {
    const full = fixtures.find((f) => f.name === "full")!;
    expect(() => decodeMask({ size: [40, 90], counts: full.rle.counts })).toThrow(/covers/);
  });

  it("rejects a string cut inside a value", () => {
    expect(() => decodeCounts("0T1")).not.toThrow();
    expect(() => decodeCounts("0T")).toThrow(/truncated/); // "T" sets the continuation bit
  });

  it("rejects characters outside the alphabet", () => {
    expect(() => decodeCounts("0 1")).toThrow(/invalid/);
  });
});

describe("encodeMask against pycocotools", () => {
  it.each(fixtures.map((f) => [f.name, f] as const))("encodes %s to the same string", (_name, fixture) => {
    const [height, width] = fixture.rle.size as [number, number];
    expect(encodeMask(expected(fixture.rle.size, fixture.rows), height, width)).toEqual(fixture.rle);
  });

  it("round-trips random masks of odd sizes through the decoder", () => {
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (const [height, width, density] of [[1, 1, 0.5], [3, 250, 0.1], [97, 61, 0.5], [40, 40, 0.99]] as const) {
      const mask = Uint8Array.from({ length: height * width }, () => (random() < density ? 1 : 0));
      const rle = encodeMask(mask, height, width);
      expect(decodeMask(rle)).toEqual(mask);
      expect(maskArea(rle)).toBe(mask.reduce((a, b) => a + b, 0));
    }
  });

  it("encodes negative differences and long runs as the decoder reads them", () => {
    const runs = [5, 70000, 3, 2, 100000, 1, 0, 40000];
    expect(decodeCounts(encodeCounts(runs))).toEqual(runs);
  });

  it("refuses a mask whose length is not the size", () => {
    expect(() => encodeMask(new Uint8Array(10), 3, 3)).toThrow(/3×3/);
  });
});
