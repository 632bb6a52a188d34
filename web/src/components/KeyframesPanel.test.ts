import { describe, expect, it } from "vitest";
import type { PromptRecord } from "../api/types";
import { describePrompts } from "./KeyframesPanel";

function prompt(labels: number[], box: PromptRecord["box"] = null, mask = false): PromptRecord {
  return { id: "p", object_id: 1, frame_index: 0, points: labels.map(() => [1, 1] as [number, number]), labels, box, mask, created_at: "t" };
}

describe("describePrompts", () => {
  it("counts clicks by label, boxes and mattes", () => {
    expect(describePrompts([prompt([1]), prompt([0, 1]), prompt([], [1, 2, 3, 4])])).toBe("2 positive, 1 negative, box");
    expect(describePrompts([prompt([], null, true)])).toBe("matte");
    expect(describePrompts([prompt([], [1, 2, 3, 4]), prompt([], [1, 2, 5, 6])])).toBe("2 boxes");
  });
});
