import { describe, expect, it } from "vitest";
import fixtures from "./fixtures.json";
import { decodeCounts, decodeMask, maskArea } from "./rle";

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
