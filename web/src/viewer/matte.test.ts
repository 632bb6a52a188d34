import { describe, expect, it } from "vitest";
import { defaultMatte, isPlainMatte, matteQuery, splitsOf, splitsProblem, withMatteField } from "./matte";

describe("matte settings", () => {
  it("asks the matte endpoint for every field but smooth_frames", () => {
    const matte = { ...defaultMatte, grow_px: -2, feather_px: 4, smooth_frames: 3, soft_edges: "guided" as const };
    expect(matteQuery(7, matte)).toBe("object_id=7&grow_px=-2&feather_px=4&fill_holes_px=0&remove_islands_px=0&soft_edges=guided");
  });

  it("holds each field inside the API's range, in whole pixels", () => {
    expect(withMatteField(defaultMatte, "grow_px", -100).grow_px).toBe(-64);
    expect(withMatteField(defaultMatte, "feather_px", 2.6).feather_px).toBe(3);
    expect(withMatteField(defaultMatte, "smooth_frames", 9).smooth_frames).toBe(4);
    expect(withMatteField(defaultMatte, "fill_holes_px", Number.NaN).fill_holes_px).toBe(0);
  });

  it("knows when the settings change nothing", () => {
    expect(isPlainMatte(defaultMatte)).toBe(true);
    expect(isPlainMatte({ ...defaultMatte, soft_edges: "matting" })).toBe(false);
  });
});

describe("dataset splits", () => {
  it("turns percentages into the API's shares, leaving out empty ones", () => {
    expect(splitsOf({ train: 80, val: 20, test: 0 })).toEqual({ train: 0.8, val: 0.2 });
    expect(splitsOf(null)).toBeNull();
  });

  it("says in words what is wrong with the shares", () => {
    expect(splitsProblem({ train: 70, val: 20, test: 10 })).toBeNull();
    expect(splitsProblem({ train: 70, val: 20, test: 0 })).toBe("the shares add up to 90 %, not 100 %");
    expect(splitsProblem({ train: 0, val: 100, test: 0 })).toBe("the train share must be above 0 %");
    expect(splitsProblem(null)).toBeNull();
  });
});
