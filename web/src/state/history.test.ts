import { describe, expect, it } from "vitest";
import type { Prompt, PromptRecord } from "../api/types";
import { emptyHistory, forgetObject, forgetPrompts, nextRedo, nextUndo, recorded, undone, type Done } from "./history";

function done(id: string, objectId = 1, frame = 0): Done {
  const body: Prompt = { object_id: objectId, frame_index: frame, points: [[1, 2]], labels: [1], box: null, mode: "add" };
  const record: PromptRecord = { id, object_id: objectId, frame_index: frame, points: [[1, 2]], labels: [1], box: null, mask: false, created_at: "t" };
  return { body, record };
}

describe("the undo stack", () => {
  it("undoes the last prompt made, across objects and frames, and redoes in reverse order", () => {
    const [a, b, c] = [done("a", 1, 0), done("b", 2, 7), done("c", 1, 3)];
    let history = [a, b, c].reduce((h, d) => recorded(h, d, false), emptyHistory);
    expect(nextUndo(history)).toBe(c);
    history = undone(history, "c");
    history = undone(history, nextUndo(history)!.record.id);
    expect(nextUndo(history)).toBe(a);
    expect(history.undone).toEqual([c.body, b.body]);
    expect(nextRedo(history)).toBe(b.body);
    history = recorded(history, { body: b.body, record: { ...b.record, id: "b2" } }, true);
    expect(nextRedo(history)).toBe(c.body);
    expect(nextUndo(history)!.record.id).toBe("b2");
  });

  it("a new prompt after an undo clears what could be redone", () => {
    let history = recorded(emptyHistory, done("a"), false);
    history = undone(history, "a");
    expect(nextRedo(history)).not.toBeNull();
    history = recorded(history, done("n"), false);
    expect(nextRedo(history)).toBeNull();
  });

  it("is empty at the start, and undoing an unknown id changes nothing", () => {
    expect(nextUndo(emptyHistory)).toBeNull();
    expect(nextRedo(emptyHistory)).toBeNull();
    const history = recorded(emptyHistory, done("a"), false);
    expect(undone(history, "zz")).toBe(history);
  });

  it("keeps an imported matte's body, RLE and all, for the redo", () => {
    const matte: Done = { ...done("m"), body: { ...done("m").body, points: [], labels: [], mask: { size: [2, 2], counts: "04" } } };
    const history = undone(recorded(emptyHistory, matte, false), "m");
    expect(nextRedo(history)?.mask).toEqual({ size: [2, 2], counts: "04" });
  });

  it("forgets prompts deleted another way but can still redo their bodies", () => {
    let history = [done("a", 1, 0), done("b", 1, 5)].reduce((h, d) => recorded(h, d, false), emptyHistory);
    history = undone(history, "b");
    history = forgetPrompts(history, (r) => r.frame_index === 0);
    expect(history.done).toEqual([]);
    expect(history.undone).toHaveLength(1);
  });

  it("forgets a deleted object's entries on both stacks", () => {
    let history = [done("a", 1), done("b", 2), done("c", 1)].reduce((h, d) => recorded(h, d, false), emptyHistory);
    history = undone(history, "c");
    history = forgetObject(history, 1);
    expect(history.done.map((d) => d.record.id)).toEqual(["b"]);
    expect(history.undone).toEqual([]);
  });
});
