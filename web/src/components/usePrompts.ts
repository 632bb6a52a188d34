/** Prompts against the API: click, box or imported matte, undo and redo over the session's
 * history, deleting a prompt or a whole keyframe, and the stored prompts of the frame in view.
 * After each change the frame's overlay is set to exactly the API's mask. */
import { useEffect, useRef, useState, type Dispatch } from "react";
import type { ApiClient } from "../api/client";
import { ApiError } from "../api/errors";
import { followJob } from "../api/jobs";
import type { FrameMask, Job, Prompt, PromptRecord } from "../api/types";
import { readMatte } from "../rle/matte";
import type { EditorAction, EditorState } from "../state/editor";
import { nextRedo, nextUndo } from "../state/history";

const PROMPT_WAIT_S = 10;
/** Frame changes closer together than this (stepping, scrubbing) list the prompts once. */
const LIST_DELAY_MS = 150;

interface Handlers {
  onError: (error: unknown) => void;
  onNotice: (text: string | null) => void;
  /** Spans change with every prompt: the caller reloads them. */
  onChanged: () => void;
}

export function usePrompts(api: ApiClient, videoId: string, state: EditorState, dispatch: Dispatch<EditorAction>, handlers: Handlers) {
  const [busy, setBusy] = useState<string | null>(null);
  const inFlight = useRef(false); // busy as of now, not as of the last render
  // Bumped when a change starts and ends: a listing that overlapped one is stale and dropped.
  const generation = useRef(0);
  const { frame, playing, history, selected, video } = state;

  useEffect(() => {
    if (playing || !video) return;
    const started = generation.current;
    const timer = window.setTimeout(() => {
      api.listPrompts(videoId, { frameIndex: frame }).then(
        (records) => generation.current === started && dispatch({ type: "framePrompts", frame, records }),
        () => {}, // the prompts loaded with the editor stay shown; the next change tries again
      );
    }, LIST_DELAY_MS);
    return () => window.clearTimeout(timer);
  }, [api, videoId, frame, playing, video, dispatch]);

  /** The API's mask of one object on one frame, after a job if one is still running. */
  async function settleMask(frameIndex: number, objectId: number, answer: { job: Job | null; mask?: FrameMask | null }) {
    let mask = answer.mask ?? null;
    if (!mask) {
      if (answer.job && answer.job.status !== "succeeded") {
        const final = await followJob(api, answer.job.id, {});
        if (final.status !== "succeeded") throw new Error(`Segmenting failed: ${final.error?.message ?? final.status}`);
      }
      const frames = await api.masks(videoId, frameIndex, frameIndex, [objectId]);
      mask = frames.flatMap((f) => f.masks).find((m) => m.frame_index === frameIndex && m.object_id === objectId) ?? null;
    }
    dispatch({ type: "mask", frame: frameIndex, objectId, mask });
  }

  /** One change at a time, with its label shown while it runs. */
  async function run(label: string, change: () => Promise<void>) {
    if (inFlight.current) return;
    inFlight.current = true;
    setBusy(label);
    handlers.onError(null);
    handlers.onNotice(null);
    generation.current += 1;
    try {
      await change();
    } catch (err) {
      handlers.onError(err);
    } finally {
      generation.current += 1;
      inFlight.current = false;
      setBusy(null);
      handlers.onChanged();
    }
  }

  /** Shows the frame and object a history step acts on, so the artist sees what changed. */
  function goTo(objectId: number, frameIndex: number) {
    dispatch({ type: "select", objectId });
    dispatch({ type: "seek", frame: frameIndex });
  }

  async function post(body: Prompt, isRedo: boolean) {
    const answer = await api.prompt(videoId, body, PROMPT_WAIT_S);
    dispatch({ type: "promptAdded", body, record: answer.prompt, isRedo });
    await settleMask(body.frame_index, body.object_id, "mask" in answer ? answer : { job: answer.job });
  }

  function send(body: Prompt) {
    return run("segmenting…", () => post(body, false));
  }

  function undo() {
    const entry = nextUndo(history);
    if (!entry) {
      handlers.onNotice("Nothing to undo in this session. Older prompts are removed from the keyframe list.");
      return Promise.resolve();
    }
    const { record } = entry;
    return run("undoing…", async () => {
      goTo(record.object_id, record.frame_index);
      await removeStored(record, true);
    });
  }

  function redo() {
    const body = nextRedo(history);
    if (!body) {
      handlers.onNotice("Nothing to redo.");
      return Promise.resolve();
    }
    return run("redoing…", async () => {
      goTo(body.object_id, body.frame_index);
      await post(body, true);
    });
  }

  /** DELETE one stored prompt; a prompt that is already gone just leaves the lists. */
  async function removeStored(record: PromptRecord, isUndo: boolean) {
    let answer;
    try {
      answer = await api.deletePrompt(videoId, record.id, PROMPT_WAIT_S);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) dispatch({ type: "promptsRemoved", ids: [record.id] });
      throw err;
    }
    dispatch(isUndo ? { type: "promptUndone", record } : { type: "promptsRemoved", ids: [record.id] });
    await settleMask(record.frame_index, record.object_id, answer);
  }

  function removePrompt(record: PromptRecord) {
    return run("removing…", () => removeStored(record, false));
  }

  function removeKeyframe(objectId: number, frameIndex: number) {
    return run("removing…", async () => {
      await api.deleteKeyframe(videoId, objectId, frameIndex);
      const ids = state.prompts.filter((p) => p.object_id === objectId && p.frame_index === frameIndex).map((p) => p.id);
      dispatch({ type: "promptsRemoved", ids });
      await settleMask(frameIndex, objectId, { job: null });
    });
  }

  /** A matte PNG onto the current frame of the selected object: thresholded, encoded, posted. */
  function importMatte(file: File) {
    const objectId = selected;
    if (objectId === null || !video) return Promise.resolve();
    return run("importing…", async () => {
      const rle = await readMatte(file, video.width ?? 0, video.height ?? 0);
      await post({ object_id: objectId, frame_index: frame, points: [], labels: [], box: null, mask: rle, mode: "add" }, false);
    });
  }

  return { busy, send, undo, redo, removePrompt, removeKeyframe, importMatte };
}
