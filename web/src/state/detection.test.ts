import { describe, expect, it } from "vitest";
import type { FrameMask, Video, VideoObject } from "../api/types";
import {
  describeFound,
  detectionRequest,
  exemplarsOn,
  foundObjectIds,
  foundObjects,
  foundPropagation,
  MAX_EXEMPLARS,
  withExemplar,
  type Box,
} from "./detection";
import { editorReducer, initialEditor, type EditorState } from "./editor";

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
  created_at: "2026-12-02T08:00:00Z",
};

function object(id: number, name: string, category = "object"): VideoObject {
  return { id, name, color: "#e6194b", category, created_at: video.created_at };
}

function mask(frame: number, objectId: number, source: FrameMask["source"] = "prompt"): FrameMask {
  return { frame_index: frame, object_id: objectId, score: 0.9, source, rle: { size: [108, 192], counts: "PS`0" } };
}

const disc = object(1, "disc");
const people = [object(2, "person 1", "person"), object(3, "person 2", "person")];
const box: Box = [10, 20, 50, 60];

function loaded(objects = [disc]): EditorState {
  return editorReducer(initialEditor, { type: "loaded", video, objects, masks: [], prompts: [] });
}

describe("exemplar boxes", () => {
  it("belong to the frame they were drawn on", () => {
    let exemplars = withExemplar(null, 4, box);
    exemplars = withExemplar(exemplars, 4, [0, 0, 5, 5]);
    expect(exemplarsOn(exemplars, 4)).toEqual([box, [0, 0, 5, 5]]);
    expect(exemplarsOn(exemplars, 5)).toEqual([]);
    expect(withExemplar(exemplars, 5, box)).toEqual({ frame: 5, boxes: [box] });
  });

  it("stop at the most the API takes", () => {
    let exemplars = withExemplar(null, 0, box);
    for (let i = 0; i < MAX_EXEMPLARS + 5; i += 1) exemplars = withExemplar(exemplars, 0, box);
    expect(exemplars.boxes).toHaveLength(MAX_EXEMPLARS);
  });
});

describe("detectionRequest", () => {
  it("sends the trimmed text and this frame's exemplars", () => {
    const exemplars = withExemplar(null, 7, box);
    expect(detectionRequest("  person ", exemplars, 7)).toEqual({
      text: "person",
      exemplar_boxes: [box],
      frame_index: 7,
      threshold: 0.5,
      max_objects: 20,
      propagate: false,
    });
    expect(detectionRequest("person", exemplars, 8)?.exemplar_boxes).toBeNull();
  });

  it("takes exemplars alone, and nothing without text or boxes", () => {
    expect(detectionRequest("   ", withExemplar(null, 0, box), 0)?.text).toBeNull();
    expect(detectionRequest("   ", null, 0)).toBeNull();
    expect(detectionRequest("", withExemplar(null, 3, box), 0)).toBeNull();
  });

  it("keeps the options inside what the API accepts", () => {
    const body = detectionRequest("car", null, 0, { threshold: 1.7, maxObjects: 500, propagate: true });
    expect([body?.threshold, body?.max_objects, body?.propagate]).toEqual([1, 100, true]);
    expect(detectionRequest("car", null, 0, { threshold: -1, maxObjects: 0.2, propagate: false })?.max_objects).toBe(1);
    expect(detectionRequest("x".repeat(300), null, 0)?.text).toHaveLength(200);
  });
});

describe("what a detection found", () => {
  it("reads the object ids of a detect job's result", () => {
    expect(foundObjectIds({ object_ids: [4, 5] })).toEqual([4, 5]);
    expect(foundObjectIds({ object_ids: [] })).toEqual([]);
    expect(foundObjectIds(null)).toEqual([]);
    expect(foundObjectIds({ object_ids: "4" })).toEqual([]);
  });

  it("adds the new objects, selects the best one, shows their masks and clears the exemplars", () => {
    let state = editorReducer(loaded(), { type: "exemplarAdded", frame: 2, box });
    expect(state.exemplars).toEqual({ frame: 2, boxes: [box] });
    state = editorReducer(state, { type: "detected", frame: 2, text: "person", objects: people, masks: [mask(2, 2), mask(2, 3)] });
    expect(state.objects.map((o) => o.id)).toEqual([1, 2, 3]);
    expect(state.selected).toBe(2);
    expect(Object.keys(state.masks[2] ?? {})).toEqual(["2", "3"]);
    expect(state.exemplars).toBeNull();
    expect(state.found).toEqual({ frame: 2, text: "person", objectIds: [2, 3] });
    expect(foundObjects(state.found, state.objects).map((o) => o.name)).toEqual(["person 1", "person 2"]);
    expect(describeFound(state.found!, state.objects)).toBe("2 × person on frame 2");
  });

  it("does not list an object twice when the same answer arrives again", () => {
    let state = editorReducer(loaded(), { type: "detected", frame: 2, text: "person", objects: people, masks: [] });
    state = editorReducer(state, { type: "detected", frame: 2, text: "person", objects: people, masks: [] });
    expect(state.objects.map((o) => o.id)).toEqual([1, 2, 3]);
  });

  it("propagates every found object in one job, and forgets a deleted one", () => {
    let state = editorReducer(loaded(), { type: "detected", frame: 2, text: "person", objects: people, masks: [] });
    expect(foundPropagation(state.found, state.objects)).toEqual({ object_ids: [2, 3], direction: "both" });
    state = editorReducer(state, { type: "objectRemoved", objectId: 2 });
    expect(state.found?.objectIds).toEqual([3]);
    expect(foundPropagation(state.found, state.objects)).toEqual({ object_ids: [3], direction: "both" });
    state = editorReducer(state, { type: "objectRemoved", objectId: 3 });
    expect(foundPropagation(state.found, state.objects)).toBeNull();
  });

  it("says when nothing matched, and keeps the selection", () => {
    const state = editorReducer(loaded(), { type: "detected", frame: 0, text: "bus", objects: [], masks: [] });
    expect(state.selected).toBe(1);
    expect(describeFound(state.found!, state.objects)).toBe("No match for “bus” on frame 0");
    expect(editorReducer(state, { type: "foundCleared" }).found).toBeNull();
  });

  it("is forgotten when another video loads", () => {
    const state = editorReducer(loaded(), { type: "detected", frame: 0, text: null, objects: [object(4, "object 1")], masks: [] });
    expect(describeFound(state.found!, state.objects)).toBe("1 × object on frame 0");
    expect(editorReducer(state, { type: "loaded", video, objects: [], masks: [], prompts: [] }).found).toBeNull();
  });
});
