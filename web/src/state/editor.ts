/** The editor's state: the current frame, playback, objects, masks per frame, the stored
 * prompts with their undo history, stale spans, the in/out range and the tools.
 * A pure reducer, so every transition is unit-tested without a browser. */
import type { Direction, FrameMask, Job, Progress, Prompt, PromptRecord, Span, Video, VideoObject } from "../api/types";
import { withExemplar, type Box, type Exemplars, type Found } from "./detection";
import { emptyHistory, forgetObject, forgetPrompts, recorded, undone, type History } from "./history";
import { noRange, withIn, withOut, type FrameRange } from "./timeline";

export type Tool = "positive" | "negative" | "box";

/** Masks by frame index, then by object id. */
export type MaskTable = Record<number, Record<number, FrameMask>>;
/** Scores by frame index, then by object id: kept for every frame seen, after its mask is let go. */
export type ScoreTable = Record<number, Record<number, number>>;

export interface EditorState {
  video: Video | null;
  frameCount: number;
  frame: number;
  playing: boolean;
  objects: VideoObject[];
  selected: number | null;
  tool: Tool;
  /** The masks of the frames around the playhead (the mask window), not the whole video's. */
  masks: MaskTable;
  scores: ScoreTable;
  /** Every stored prompt of the video, oldest first: the keyframes and the drawn clicks. */
  prompts: PromptRecord[];
  history: History;
  spans: Span[];
  range: FrameRange;
  direction: Direction;
  propagation: Job | null;
  lowScore: number;
  /** Exemplar boxes drawn for "find all" (Shift+drag), and what the last detection made. */
  exemplars: Exemplars | null;
  found: Found | null;
}

export type EditorAction =
  | { type: "loaded"; video: Video; objects: VideoObject[]; masks: FrameMask[]; prompts: PromptRecord[] }
  | { type: "seek"; frame: number }
  | { type: "step"; delta: number }
  | { type: "togglePlay" }
  /** Playback shows this frame (it may skip late ones); nothing while paused. */
  | { type: "playhead"; frame: number }
  | { type: "objectAdded"; object: VideoObject }
  | { type: "objectUpdated"; object: VideoObject }
  | { type: "objectRemoved"; objectId: number }
  | { type: "select"; objectId: number | null }
  | { type: "tool"; tool: Tool }
  | { type: "masks"; masks: FrameMask[] }
  /** The API's mask of one object on one frame, exactly (null: it has none). */
  | { type: "mask"; frame: number; objectId: number; mask: FrameMask | null }
  /** Lets go of the masks of frames outside the spans (their scores stay). */
  | { type: "keepMasks"; spans: { first: number; last: number }[] }
  | { type: "promptAdded"; body: Prompt; record: PromptRecord; isRedo: boolean }
  | { type: "promptUndone"; record: PromptRecord }
  | { type: "promptsRemoved"; ids: string[] }
  /** The stored prompts of one frame, as just listed by the API. */
  | { type: "framePrompts"; frame: number; records: PromptRecord[] }
  | { type: "spans"; spans: Span[] }
  | { type: "markIn" }
  | { type: "markOut" }
  | { type: "clearRange" }
  | { type: "direction"; direction: Direction }
  | { type: "propagation"; job: Job | null }
  | { type: "propagationProgress"; progress: Progress }
  | { type: "lowScore"; value: number }
  | { type: "exemplarAdded"; frame: number; box: Box }
  | { type: "exemplarsCleared" }
  /** A detection succeeded: its new objects (best first) with their keyframe masks. */
  | { type: "detected"; frame: number; text: string | null; objects: VideoObject[]; masks: FrameMask[] }
  | { type: "foundCleared" };

export const initialEditor: EditorState = {
  video: null,
  frameCount: 0,
  frame: 0,
  playing: false,
  objects: [],
  selected: null,
  tool: "positive",
  masks: {},
  scores: {},
  prompts: [],
  history: emptyHistory,
  spans: [],
  range: noRange,
  direction: "both",
  propagation: null,
  lowScore: 0.5,
  exemplars: null,
  found: null,
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

/** The table with one object's mask on one frame set to exactly `mask` (or removed). */
export function setMask(table: MaskTable, frame: number, objectId: number, mask: FrameMask | null): MaskTable {
  const { [objectId]: _old, ...others } = table[frame] ?? {};
  const masks = mask ? { ...others, [objectId]: mask } : others;
  const next = { ...table };
  if (Object.keys(masks).length) next[frame] = masks;
  else delete next[frame];
  return next;
}

function withoutObject<T>(table: Record<number, Record<number, T>>, objectId: number): Record<number, Record<number, T>> {
  const next: Record<number, Record<number, T>> = {};
  for (const [frame, masks] of Object.entries(table)) {
    const { [objectId]: _dropped, ...rest } = masks;
    if (Object.keys(rest).length) next[Number(frame)] = rest;
  }
  return next;
}

/** The scores of the masks the table now holds, over the old ones. */
export function withScores(scores: ScoreTable, table: MaskTable, frames: Iterable<number>): ScoreTable {
  const next = { ...scores };
  for (const frame of new Set(frames)) {
    const masks = table[frame];
    if (!masks) delete next[frame];
    else next[frame] = Object.fromEntries(Object.values(masks).map((m) => [m.object_id, m.score]));
  }
  return next;
}

function keepMasks(table: MaskTable, spans: { first: number; last: number }[]): MaskTable {
  const frames = Object.keys(table).map(Number);
  if (frames.every((f) => spans.some((s) => s.first <= f && f <= s.last))) return table;
  return Object.fromEntries(frames.filter((f) => spans.some((s) => s.first <= f && f <= s.last)).map((f) => [f, table[f]!]));
}

export function editorReducer(state: EditorState, action: EditorAction): EditorState {
  switch (action.type) {
    case "loaded": {
      const masks = mergeMasks({}, action.masks);
      return {
        ...initialEditor,
        lowScore: state.lowScore,
        video: action.video,
        frameCount: action.video.frame_count ?? 0,
        objects: action.objects,
        selected: action.objects[0]?.id ?? null,
        masks,
        scores: withScores({}, masks, action.masks.map((m) => m.frame_index)),
        prompts: action.prompts,
      };
    }
    case "seek":
      return { ...state, frame: clampFrame(state, action.frame), playing: false };
    case "step":
      return { ...state, frame: clampFrame(state, state.frame + action.delta), playing: false };
    case "togglePlay": {
      const atEnd = state.frame >= state.frameCount - 1;
      return { ...state, playing: !state.playing, frame: !state.playing && atEnd ? 0 : state.frame };
    }
    case "playhead":
      return state.playing ? { ...state, frame: clampFrame(state, action.frame) } : state;
    case "objectAdded":
      return { ...state, objects: [...state.objects, action.object], selected: action.object.id };
    case "objectUpdated":
      return { ...state, objects: state.objects.map((o) => (o.id === action.object.id ? action.object : o)) };
    case "objectRemoved": {
      const objects = state.objects.filter((o) => o.id !== action.objectId);
      const selected = state.selected === action.objectId ? (objects[0]?.id ?? null) : state.selected;
      return {
        ...state,
        objects,
        selected,
        masks: withoutObject(state.masks, action.objectId),
        scores: withoutObject(state.scores, action.objectId),
        prompts: state.prompts.filter((p) => p.object_id !== action.objectId),
        history: forgetObject(state.history, action.objectId),
        spans: state.spans.filter((s) => s.object_id !== action.objectId),
        found: state.found && { ...state.found, objectIds: state.found.objectIds.filter((id) => id !== action.objectId) },
      };
    }
    case "select":
      return { ...state, selected: action.objectId };
    case "tool":
      return { ...state, tool: action.tool };
    case "masks": {
      const masks = mergeMasks(state.masks, action.masks);
      return { ...state, masks, scores: withScores(state.scores, masks, action.masks.map((m) => m.frame_index)) };
    }
    case "mask": {
      const masks = setMask(state.masks, action.frame, action.objectId, action.mask);
      return { ...state, masks, scores: withScores(state.scores, masks, [action.frame]) };
    }
    case "keepMasks": {
      const masks = keepMasks(state.masks, action.spans);
      return masks === state.masks ? state : { ...state, masks };
    }
    case "promptAdded":
      return {
        ...state,
        prompts: [...state.prompts, action.record],
        history: recorded(state.history, { body: action.body, record: action.record }, action.isRedo),
      };
    case "promptUndone":
      return {
        ...state,
        prompts: state.prompts.filter((p) => p.id !== action.record.id),
        history: undone(state.history, action.record.id),
      };
    case "promptsRemoved": {
      const ids = new Set(action.ids);
      return {
        ...state,
        prompts: state.prompts.filter((p) => !ids.has(p.id)),
        history: forgetPrompts(state.history, (r) => ids.has(r.id)),
      };
    }
    case "framePrompts": {
      const listed = new Set(action.records.map((r) => r.id));
      const others = state.prompts.filter((p) => p.frame_index !== action.frame);
      return {
        ...state,
        prompts: [...others, ...action.records].sort(byAge),
        history: forgetPrompts(state.history, (r) => r.frame_index === action.frame && !listed.has(r.id)),
      };
    }
    case "spans":
      return { ...state, spans: action.spans };
    case "markIn":
      return { ...state, range: withIn(state.range, state.frame) };
    case "markOut":
      return { ...state, range: withOut(state.range, state.frame) };
    case "clearRange":
      return { ...state, range: noRange };
    case "direction":
      return { ...state, direction: action.direction };
    case "propagation":
      return { ...state, propagation: action.job };
    case "propagationProgress":
      if (!state.propagation) return state;
      return { ...state, propagation: { ...state.propagation, status: "running", progress: action.progress } };
    case "lowScore":
      return { ...state, lowScore: Math.max(0, Math.min(1, action.value)) };
    case "exemplarAdded":
      return { ...state, exemplars: withExemplar(state.exemplars, action.frame, action.box) };
    case "exemplarsCleared":
      return { ...state, exemplars: null };
    case "detected": {
      const known = new Set(state.objects.map((o) => o.id));
      const added = action.objects.filter((o) => !known.has(o.id));
      const masks = mergeMasks(state.masks, action.masks);
      return {
        ...state,
        objects: [...state.objects, ...added],
        selected: action.objects[0]?.id ?? state.selected,
        masks,
        scores: withScores(state.scores, masks, action.masks.map((m) => m.frame_index)),
        exemplars: null,
        found: { frame: action.frame, text: action.text, objectIds: action.objects.map((o) => o.id) },
      };
    }
    case "foundCleared":
      return { ...state, found: null };
  }
}

function byAge(a: PromptRecord, b: PromptRecord): number {
  return a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : 0;
}

/** Frames where the object (or, with null, any object) holds prompts: its keyframes, in order. */
export function keyframes(state: EditorState, objectId: number | null): number[] {
  const frames = new Set(state.prompts.filter((p) => objectId === null || p.object_id === objectId).map((p) => p.frame_index));
  return [...frames].sort((a, b) => a - b);
}

/** The object's stored prompts on a frame, oldest first (what the frame view draws). */
export function framePrompts(state: EditorState, objectId: number | null, frame: number): PromptRecord[] {
  return state.prompts.filter((p) => p.object_id === objectId && p.frame_index === frame);
}

/** The confidence of a frame: the object's score, or with no object the lowest of all; null
 * where the frame has no mask yet, or its masks have not been read yet (the mask window). */
export function frameScore(state: EditorState, frame: number, objectId: number | null): number | null {
  const scores = state.scores[frame];
  if (!scores) return null;
  if (objectId !== null) return scores[objectId] ?? null;
  const all = Object.values(scores);
  return all.length ? Math.min(...all) : null;
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

/** The action for a key press in the editor: space plays, arrows step 1, shift+arrows 10,
 * I and O set the in and out points. */
export function keyAction(key: string, shift: boolean): EditorAction | null {
  const stride = shift ? 10 : 1;
  if (key === " ") return { type: "togglePlay" };
  if (key === "ArrowRight") return { type: "step", delta: stride };
  if (key === "ArrowLeft") return { type: "step", delta: -stride };
  if (key === "Home") return { type: "seek", frame: 0 };
  if (key === "End") return { type: "seek", frame: Number.MAX_SAFE_INTEGER };
  if (key === "i" || key === "I") return { type: "markIn" };
  if (key === "o" || key === "O") return { type: "markOut" };
  return null;
}

export type KeyPress = Pick<KeyboardEvent, "key" | "shiftKey" | "ctrlKey" | "metaKey" | "altKey">;

/** A key press as an editor action, or an undo or redo of the prompt history: Ctrl+Z (Cmd+Z)
 * undoes, Ctrl+Shift+Z or Ctrl+Y redoes, Alt+X clears the in/out range. */
export function shortcut(press: KeyPress): EditorAction | "undo" | "redo" | null {
  const key = press.key.toLowerCase();
  if (press.ctrlKey || press.metaKey) {
    if (key === "z") return press.shiftKey ? "redo" : "undo";
    if (key === "y") return "redo";
    return null;
  }
  // Alt+X types "≈" on a Mac keyboard: look at the key's code-independent name too.
  if (press.altKey) return key === "x" || key === "≈" ? { type: "clearRange" } : null;
  return keyAction(press.key, press.shiftKey);
}
