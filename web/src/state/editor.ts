/** The editor's state: the current frame, playback, objects, masks per frame and the tools.
 * A pure reducer, so every transition is unit-tested without a browser. */
import type { FrameMask, Job, Progress, Video, VideoObject } from "../api/types";

export type Tool = "positive" | "negative" | "box";

/** Masks by frame index, then by object id. */
export type MaskTable = Record<number, Record<number, FrameMask>>;

export interface EditorState {
  video: Video | null;
  frameCount: number;
  frame: number;
  playing: boolean;
  objects: VideoObject[];
  selected: number | null;
  tool: Tool;
  masks: MaskTable;
  propagation: Job | null;
  lowScore: number;
}

export type EditorAction =
  | { type: "loaded"; video: Video; objects: VideoObject[]; masks: FrameMask[] }
  | { type: "seek"; frame: number }
  | { type: "step"; delta: number }
  | { type: "togglePlay" }
  | { type: "tick" }
  | { type: "objectAdded"; object: VideoObject }
  | { type: "objectUpdated"; object: VideoObject }
  | { type: "objectRemoved"; objectId: number }
  | { type: "select"; objectId: number | null }
  | { type: "tool"; tool: Tool }
  | { type: "masks"; masks: FrameMask[] }
  | { type: "propagation"; job: Job | null }
  | { type: "propagationProgress"; progress: Progress }
  | { type: "lowScore"; value: number };

export const initialEditor: EditorState = {
  video: null,
  frameCount: 0,
  frame: 0,
  playing: false,
  objects: [],
  selected: null,
  tool: "positive",
  masks: {},
  propagation: null,
  lowScore: 0.5,
};

function clampFrame(state: EditorState, frame: number): number {
  return Math.max(0, Math.min(Math.max(0, state.frameCount - 1), Math.round(frame)));
}

/** New masks over old ones, except that a propagated mask never replaces a prompted one
 * (the API keeps keyframes too; this keeps a late stream event from flickering one). */
export function mergeMasks(table: MaskTable, incoming: FrameMask[]): MaskTable {
  const next: MaskTable = { ...table };
  for (const mask of incoming) {
    const frame = { ...(next[mask.frame_index] ?? {}) };
    const current = frame[mask.object_id];
    if (current?.source === "prompt" && mask.source === "propagation") continue;
    frame[mask.object_id] = mask;
    next[mask.frame_index] = frame;
  }
  return next;
}

function withoutObject(table: MaskTable, objectId: number): MaskTable {
  const next: MaskTable = {};
  for (const [frame, masks] of Object.entries(table)) {
    const { [objectId]: _dropped, ...rest } = masks;
    if (Object.keys(rest).length) next[Number(frame)] = rest;
  }
  return next;
}

export function editorReducer(state: EditorState, action: EditorAction): EditorState {
  switch (action.type) {
    case "loaded":
      return {
        ...initialEditor,
        lowScore: state.lowScore,
        video: action.video,
        frameCount: action.video.frame_count ?? 0,
        objects: action.objects,
        selected: action.objects[0]?.id ?? null,
        masks: mergeMasks({}, action.masks),
      };
    case "seek":
      return { ...state, frame: clampFrame(state, action.frame), playing: false };
    case "step":
      return { ...state, frame: clampFrame(state, state.frame + action.delta), playing: false };
    case "togglePlay": {
      const atEnd = state.frame >= state.frameCount - 1;
      return { ...state, playing: !state.playing, frame: !state.playing && atEnd ? 0 : state.frame };
    }
    case "tick": {
      if (!state.playing) return state;
      const last = state.frame >= state.frameCount - 1;
      return last ? { ...state, playing: false } : { ...state, frame: state.frame + 1 };
    }
    case "objectAdded":
      return { ...state, objects: [...state.objects, action.object], selected: action.object.id };
    case "objectUpdated":
      return { ...state, objects: state.objects.map((o) => (o.id === action.object.id ? action.object : o)) };
    case "objectRemoved": {
      const objects = state.objects.filter((o) => o.id !== action.objectId);
      const selected = state.selected === action.objectId ? (objects[0]?.id ?? null) : state.selected;
      return { ...state, objects, selected, masks: withoutObject(state.masks, action.objectId) };
    }
    case "select":
      return { ...state, selected: action.objectId };
    case "tool":
      return { ...state, tool: action.tool };
    case "masks":
      return { ...state, masks: mergeMasks(state.masks, action.masks) };
    case "propagation":
      return { ...state, propagation: action.job };
    case "propagationProgress":
      if (!state.propagation) return state;
      return { ...state, propagation: { ...state.propagation, status: "running", progress: action.progress } };
    case "lowScore":
      return { ...state, lowScore: Math.max(0, Math.min(1, action.value)) };
  }
}

/** Frames where the object was prompted (the timeline's keyframe markers), in order. */
export function keyframes(state: EditorState, objectId: number | null): number[] {
  return Object.entries(state.masks)
    .filter(([, masks]) =>
      Object.values(masks).some((m) => m.source === "prompt" && (objectId === null || m.object_id === objectId)),
    )
    .map(([frame]) => Number(frame))
    .sort((a, b) => a - b);
}

/** The confidence of a frame: the object's score, or with no object the lowest of all; null
 * where the frame has no mask yet. */
export function frameScore(state: EditorState, frame: number, objectId: number | null): number | null {
  const masks = state.masks[frame];
  if (!masks) return null;
  if (objectId !== null) return masks[objectId]?.score ?? null;
  const scores = Object.values(masks).map((m) => m.score);
  return scores.length ? Math.min(...scores) : null;
}

/** The next frame after `from` (wrapping round) whose score is under the threshold, or null. */
export function nextLowScoreFrame(state: EditorState, from: number, objectId: number | null): number | null {
  for (let offset = 1; offset <= state.frameCount; offset += 1) {
    const frame = (from + offset) % state.frameCount;
    const score = frameScore(state, frame, objectId);
    if (score !== null && score < state.lowScore) return frame;
  }
  return null;
}

/** The action for a key press in the editor: space plays, arrows step 1, shift+arrows 10. */
export function keyAction(key: string, shift: boolean): EditorAction | null {
  const stride = shift ? 10 : 1;
  if (key === " ") return { type: "togglePlay" };
  if (key === "ArrowRight") return { type: "step", delta: stride };
  if (key === "ArrowLeft") return { type: "step", delta: -stride };
  if (key === "Home") return { type: "seek", frame: 0 };
  if (key === "End") return { type: "seek", frame: Number.MAX_SAFE_INTEGER };
  return null;
}
