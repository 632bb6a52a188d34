import { describe, expect, it } from "vitest";
import type { FrameMask, Prompt, PromptRecord, Video, VideoObject } from "../api/types";
import {
  editorReducer,
  framePrompts,
  frameScore,
  initialEditor,
  keyAction,
  keyframes,
  nextLowScoreFrame,
  shortcut,
  type EditorState,
} from "./editor";

const video: Video = {
  id: "v1",
  filename: "clip.mp4",
  status: "ready",
  size_bytes: 1000,
  width: 192,
  height: 108,
  fps: 25,
  frame_count: 30,
  duration_s: 1.2,
  codec: "h264",
  timecode: null,
  error: null,
  created_at: "2026-11-26T08:00:00Z",
};
const disc: VideoObject = { id: 1, name: "disc", color: "#e6194b", category: "object", created_at: video.created_at };
const sky: VideoObject = { id: 2, name: "sky", color: "#3cb44b", category: "object", created_at: video.created_at };

function mask(frame: number, objectId: number, score: number, source: FrameMask["source"] = "propagation"): FrameMask {
  return { frame_index: frame, object_id: objectId, score, source, rle: { size: [108, 192], counts: "PS`0" } };
}

function loaded(masks: FrameMask[] = [], objects = [disc, sky], prompts: PromptRecord[] = []): EditorState {
  return editorReducer(initialEditor, { type: "loaded", video, objects, masks, prompts });
}

let made = 0;
/** A stored click of `objectId` on `frame`, and the body it was posted with. */
function click(objectId: number, frame: number, label: 0 | 1 = 1): { body: Prompt; record: PromptRecord } {
  made += 1;
  const body: Prompt = { object_id: objectId, frame_index: frame, points: [[10, 20]], labels: [label], box: null, mode: "add" };
  const record: PromptRecord = {
    id: `p${made}`, object_id: objectId, frame_index: frame, points: [[10, 20]], labels: [label], box: null, mask: false,
    created_at: `2026-11-26T08:00:${String(made).padStart(2, "0")}Z`,
  };
  return { body, record };
}

describe("frame navigation", () => {
  it("steps by one and by ten and stays inside the video", () => {
    let state = loaded();
    state = editorReducer(state, { type: "step", delta: 1 });
    expect(state.frame).toBe(1);
    state = editorReducer(state, { type: "step", delta: 10 });
    expect(state.frame).toBe(11);
    state = editorReducer(state, { type: "step", delta: 100 });
    expect(state.frame).toBe(29);
    state = editorReducer(state, { type: "step", delta: -100 });
    expect(state.frame).toBe(0);
  });

  it("seeking stops playback and rounds to a whole frame", () => {
    let state = editorReducer(loaded(), { type: "togglePlay" });
    expect(state.playing).toBe(true);
    state = editorReducer(state, { type: "seek", frame: 7.6 });
    expect(state).toMatchObject({ frame: 8, playing: false });
  });

  it("playback moves the playhead without stopping, and only while playing", () => {
    let state = editorReducer(editorReducer(loaded(), { type: "seek", frame: 3 }), { type: "togglePlay" });
    state = editorReducer(state, { type: "playhead", frame: 6 });
    expect(state).toMatchObject({ frame: 6, playing: true });
    state = editorReducer(state, { type: "playhead", frame: 99 });
    expect(state.frame).toBe(29);
    const paused = editorReducer(state, { type: "togglePlay" });
    expect(editorReducer(paused, { type: "playhead", frame: 2 })).toBe(paused);
  });

  it("play at the end starts again from the first frame", () => {
    const state = editorReducer(editorReducer(loaded(), { type: "seek", frame: 29 }), { type: "togglePlay" });
    expect(state).toMatchObject({ frame: 0, playing: true });
  });
});

describe("prompts", () => {
  it("keyframes are the frames holding the object's stored prompts, in order", () => {
    const prompts = [click(1, 9), click(1, 3), click(1, 9, 0), click(2, 7)].map((c) => c.record);
    const state = loaded([mask(5, 1, 0.9, "prompt")], [disc, sky], prompts);
    expect(keyframes(state, 1)).toEqual([3, 9]);
    expect(keyframes(state, null)).toEqual([3, 7, 9]);
    expect(framePrompts(state, 1, 9).map((p) => p.labels)).toEqual([[1], [0]]);
    expect(framePrompts(state, 2, 9)).toEqual([]);
  });

  it("undo removes the prompt it undid and makes it redoable; redo brings it back", () => {
    const first = click(1, 0);
    const second = click(1, 10, 0);
    let state = editorReducer(loaded(), { type: "promptAdded", ...first, isRedo: false });
    state = editorReducer(state, { type: "promptAdded", ...second, isRedo: false });
    state = editorReducer(state, { type: "promptUndone", record: second.record });
    expect(keyframes(state, 1)).toEqual([0]);
    expect(state.history.undone).toEqual([second.body]);
    const again = { ...second.record, id: "p-redo" };
    state = editorReducer(state, { type: "promptAdded", body: second.body, record: again, isRedo: true });
    expect(keyframes(state, 1)).toEqual([0, 10]);
    expect(state.history).toEqual({ done: [first, { body: second.body, record: again }], undone: [] });
  });

  it("deleting a keyframe's prompts drops them from the undo stack", () => {
    const [a, b] = [click(1, 0), click(1, 5)];
    let state = editorReducer(loaded(), { type: "promptAdded", ...a, isRedo: false });
    state = editorReducer(state, { type: "promptAdded", ...b, isRedo: false });
    state = editorReducer(state, { type: "promptsRemoved", ids: [b.record.id] });
    expect(state.prompts).toEqual([a.record]);
    expect(state.history.done).toEqual([a]);
  });

  it("a frame listed again replaces that frame's prompts and forgets ones gone from the server", () => {
    const [a, b, c] = [click(1, 0), click(1, 5), click(2, 5)];
    let state = editorReducer(loaded([], [disc, sky], [a.record]), { type: "promptAdded", ...b, isRedo: false });
    state = editorReducer(state, { type: "framePrompts", frame: 5, records: [c.record] });
    expect(state.prompts.map((p) => p.id)).toEqual([a.record.id, c.record.id]);
    expect(state.history.done).toEqual([]);
  });

  it("removing an object drops its prompts, spans and history", () => {
    const [a, b] = [click(1, 0), click(2, 3)];
    let state = editorReducer(loaded(), { type: "promptAdded", ...a, isRedo: false });
    state = editorReducer(state, { type: "promptAdded", ...b, isRedo: false });
    state = editorReducer(state, { type: "spans", spans: [{ object_id: 1, frame_start: 1, frame_end: 29, state: "stale" }] });
    state = editorReducer(state, { type: "objectRemoved", objectId: 1 });
    expect(state.prompts).toEqual([b.record]);
    expect(state.history.done).toEqual([b]);
    expect(state.spans).toEqual([]);
  });
});

describe("in and out points", () => {
  it("are set at the current frame and cleared together", () => {
    let state = editorReducer(loaded(), { type: "seek", frame: 4 });
    state = editorReducer(state, { type: "markIn" });
    state = editorReducer(editorReducer(state, { type: "seek", frame: 12 }), { type: "markOut" });
    expect(state.range).toEqual({ in: 4, out: 12 });
    state = editorReducer(state, { type: "clearRange" });
    expect(state.range).toEqual({ in: null, out: null });
  });
});

describe("keyboard", () => {
  it("maps space, arrows and shift+arrows", () => {
    expect(keyAction(" ", false)).toEqual({ type: "togglePlay" });
    expect(keyAction("ArrowRight", false)).toEqual({ type: "step", delta: 1 });
    expect(keyAction("ArrowLeft", true)).toEqual({ type: "step", delta: -10 });
    expect(keyAction("x", false)).toBeNull();
  });

  it("maps Ctrl+Z to undo, Ctrl+Shift+Z and Ctrl+Y to redo, on a Mac Cmd too", () => {
    const press = (key: string, mods: Partial<Record<"shiftKey" | "ctrlKey" | "metaKey" | "altKey", boolean>> = {}) =>
      shortcut({ key, shiftKey: false, ctrlKey: false, metaKey: false, altKey: false, ...mods });
    expect(press("z", { ctrlKey: true })).toBe("undo");
    expect(press("Z", { ctrlKey: true, shiftKey: true })).toBe("redo");
    expect(press("y", { ctrlKey: true })).toBe("redo");
    expect(press("z", { metaKey: true })).toBe("undo");
    expect(press("z")).toBeNull();
    expect(press("i")).toEqual({ type: "markIn" });
    expect(press("O", { shiftKey: true })).toEqual({ type: "markOut" });
    expect(press("x", { altKey: true })).toEqual({ type: "clearRange" });
    expect(press("ArrowRight", { ctrlKey: true })).toBeNull();
    expect(press("ArrowRight", { shiftKey: true })).toEqual({ type: "step", delta: 10 });
  });
});

describe("objects", () => {
  it("selects the first object on load and a new object when added", () => {
    let state = loaded();
    expect(state.selected).toBe(1);
    const third = { ...sky, id: 3, name: "car" };
    state = editorReducer(state, { type: "objectAdded", object: third });
    expect(state.selected).toBe(3);
    expect(state.objects.map((o) => o.id)).toEqual([1, 2, 3]);
  });

  it("a renamed or recoloured object keeps its place, selection and masks", () => {
    let state = editorReducer(loaded([mask(0, 1, 0.9, "prompt")]), { type: "select", objectId: 1 });
    state = editorReducer(state, { type: "objectUpdated", object: { ...disc, name: "ball", color: "#000000" } });
    expect(state.objects.map((o) => [o.id, o.name, o.color])).toEqual([[1, "ball", "#000000"], [2, "sky", "#3cb44b"]]);
    expect(state.selected).toBe(1);
    expect(state.masks[0]![1]).toBeDefined();
  });

  it("removing an object drops its masks and moves the selection", () => {
    let state = loaded([mask(0, 1, 0.9, "prompt"), mask(0, 2, 0.8), mask(1, 1, 0.7)]);
    state = editorReducer(state, { type: "objectRemoved", objectId: 1 });
    expect(state.selected).toBe(2);
    expect(Object.keys(state.masks)).toEqual(["0"]);
    expect(Object.keys(state.masks[0]!)).toEqual(["2"]);
  });
});

describe("masks", () => {
  it("streamed masks replace earlier propagated ones but never a prompted keyframe", () => {
    let state = loaded([mask(0, 1, 0.95, "prompt"), mask(1, 1, 0.4)]);
    state = editorReducer(state, { type: "masks", masks: [mask(0, 1, 0.3), mask(1, 1, 0.8), mask(2, 1, 0.6)] });
    expect(state.masks[0]![1]).toMatchObject({ source: "prompt", score: 0.95 });
    expect(state.masks[1]![1]!.score).toBe(0.8);
    expect(state.masks[2]![1]!.score).toBe(0.6);
  });

  it("a new prompt on a keyframe replaces its mask", () => {
    let state = loaded([mask(4, 1, 0.5, "prompt")]);
    state = editorReducer(state, { type: "masks", masks: [mask(4, 1, 0.9, "prompt")] });
    expect(state.masks[4]![1]!.score).toBe(0.9);
  });

  it("a mask set exactly replaces a prompted one, and null removes it", () => {
    let state = loaded([mask(4, 1, 0.9, "prompt"), mask(4, 2, 0.8)]);
    state = editorReducer(state, { type: "mask", frame: 4, objectId: 1, mask: mask(4, 1, 0.6) });
    expect(state.masks[4]![1]).toMatchObject({ source: "propagation", score: 0.6 });
    state = editorReducer(state, { type: "mask", frame: 4, objectId: 1, mask: null });
    expect(Object.keys(state.masks[4]!)).toEqual(["2"]);
    state = editorReducer(state, { type: "mask", frame: 4, objectId: 2, mask: null });
    expect(state.masks[4]).toBeUndefined();
  });
});

describe("mask window", () => {
  it("lets go of the masks outside the kept spans and keeps their scores", () => {
    let state = loaded([mask(2, 1, 0.9), mask(5, 1, 0.2), mask(20, 1, 0.45)]);
    state = editorReducer(state, { type: "keepMasks", spans: [{ first: 0, last: 6 }] });
    expect(Object.keys(state.masks)).toEqual(["2", "5"]);
    expect(frameScore(state, 20, 1)).toBe(0.45);
    expect(nextLowScoreFrame(state, 6, 1)).toBe(20);
    // Nothing outside: the same state, so no render.
    expect(editorReducer(state, { type: "keepMasks", spans: [{ first: 0, last: 6 }] })).toBe(state);
  });

  it("scores follow masks set, replaced and removed, and go with their object", () => {
    let state = loaded([mask(4, 1, 0.9, "prompt"), mask(4, 2, 0.8)]);
    state = editorReducer(state, { type: "mask", frame: 4, objectId: 1, mask: mask(4, 1, 0.6) });
    expect(frameScore(state, 4, 1)).toBe(0.6);
    state = editorReducer(state, { type: "mask", frame: 4, objectId: 1, mask: null });
    expect(frameScore(state, 4, 1)).toBeNull();
    expect(frameScore(state, 4, 2)).toBe(0.8);
    // A streamed propagated mask does not replace a keyframe's, nor its score.
    state = editorReducer(state, { type: "mask", frame: 4, objectId: 1, mask: mask(4, 1, 0.95, "prompt") });
    state = editorReducer(state, { type: "masks", masks: [mask(4, 1, 0.1)] });
    expect(frameScore(state, 4, 1)).toBe(0.95);
    state = editorReducer(state, { type: "objectRemoved", objectId: 2 });
    expect(frameScore(state, 4, 2)).toBeNull();
    expect(frameScore(state, 4, null)).toBe(0.95);
  });
});

describe("confidence", () => {
  const state = loaded([mask(2, 1, 0.9), mask(2, 2, 0.3), mask(5, 1, 0.2), mask(8, 1, 0.45), mask(8, 2, 0.9)]);

  it("scores a frame by the object, or by its weakest object", () => {
    expect(frameScore(state, 2, 1)).toBe(0.9);
    expect(frameScore(state, 2, null)).toBe(0.3);
    expect(frameScore(state, 3, 1)).toBeNull();
    expect(frameScore(state, 5, 2)).toBeNull();
  });

  it("jumps to the next low-score frame, wrapping round, skipping frames with no mask", () => {
    expect(nextLowScoreFrame(state, 0, 1)).toBe(5);
    expect(nextLowScoreFrame(state, 5, 1)).toBe(8);
    expect(nextLowScoreFrame(state, 8, 1)).toBe(5);
    expect(nextLowScoreFrame(state, 0, null)).toBe(2);
  });

  it("finds nothing when every score clears the threshold", () => {
    const lenient = editorReducer(state, { type: "lowScore", value: 0.1 });
    expect(nextLowScoreFrame(lenient, 0, 1)).toBeNull();
  });
});

describe("propagation", () => {
  it("progress events update the job being followed, and only that", () => {
    const job = {
      id: "j1", type: "propagate", status: "queued", video_id: "v1", progress: { done: 0, total: 30 },
      created_at: video.created_at, started_at: null, finished_at: null, error: null, result: null,
    } as const;
    expect(editorReducer(loaded(), { type: "propagationProgress", progress: { done: 3, total: 30 } }).propagation).toBeNull();
    let state = editorReducer(loaded(), { type: "propagation", job });
    state = editorReducer(state, { type: "propagationProgress", progress: { done: 3, total: 30 } });
    expect(state.propagation).toMatchObject({ id: "j1", status: "running", progress: { done: 3, total: 30 } });
  });
});
