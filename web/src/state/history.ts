/** Undo and redo over the prompt history, as one linear stack for the whole editing session
 * (the way Nuke, After Effects or Silhouette undo): Ctrl+Z takes back the last prompt made in
 * this session, whatever object or frame it was on; Ctrl+Shift+Z posts it again. A new prompt
 * clears what could be redone. Prompts from before a reload are not on the stack: they are
 * removed from the keyframe list instead.
 *
 * Undo is a DELETE of the stored prompt, redo a POST of the same body (the API's own undo and
 * redo), so the stack keeps the body that was sent, an imported matte's RLE included. */
import type { Prompt, PromptRecord } from "../api/types";

/** A prompt this session made (or redid), with the record the API stored for it. */
export interface Done {
  body: Prompt;
  record: PromptRecord;
}

export interface History {
  /** Oldest first; the last one is what Ctrl+Z undoes. */
  done: Done[];
  /** Bodies of undone prompts, the last one is what Ctrl+Shift+Z posts again. */
  undone: Prompt[];
}

export const emptyHistory: History = { done: [], undone: [] };

export function nextUndo(history: History): Done | null {
  return history.done.at(-1) ?? null;
}

export function nextRedo(history: History): Prompt | null {
  return history.undone.at(-1) ?? null;
}

/** A prompt made now: a fresh one clears the redo stack, a redone one comes off it. */
export function recorded(history: History, done: Done, isRedo: boolean): History {
  const undone = isRedo ? history.undone.filter((body) => body !== done.body) : [];
  return { done: [...history.done, done], undone };
}

/** The prompt with this id was undone: its body can be redone. */
export function undone(history: History, promptId: string): History {
  const entry = history.done.find((d) => d.record.id === promptId);
  if (!entry) return history;
  return { done: history.done.filter((d) => d !== entry), undone: [...history.undone, entry.body] };
}

/** Prompts that went some other way (a keyframe or prompt deleted from the list, or gone from
 * the server) can no longer be undone; their bodies already undone can still be redone. */
export function forgetPrompts(history: History, isGone: (record: PromptRecord) => boolean): History {
  const done = history.done.filter((d) => !isGone(d.record));
  return done.length === history.done.length ? history : { ...history, done };
}

/** A deleted object takes its undo and redo entries with it. */
export function forgetObject(history: History, objectId: number): History {
  return {
    done: history.done.filter((d) => d.record.object_id !== objectId),
    undone: history.undone.filter((body) => body.object_id !== objectId),
  };
}
