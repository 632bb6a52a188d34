/** "Find all" against the API: the detection is posted (waiting up to 30 s for its objects, else
 * following its job), its new objects and their masks enter the editor, and the frame's prompts
 * are listed again so the new keyframes show. */
import { useState, type Dispatch } from "react";
import type { ApiClient } from "../api/client";
import { followJob } from "../api/jobs";
import type { Detection, FrameMask, VideoObject } from "../api/types";
import { foundObjectIds } from "../state/detection";
import type { EditorAction } from "../state/editor";

const DETECT_WAIT_S = 30;

interface Handlers {
  onError: (error: unknown) => void;
  /** Spans and keyframes change with new objects: the caller reloads them. */
  onChanged: () => void;
  onPropagationQueued: () => void;
}

export function useDetection(api: ApiClient, videoId: string, dispatch: Dispatch<EditorAction>, handlers: Handlers) {
  const [busy, setBusy] = useState(false);

  /** The objects a succeeded detection made and their masks on its frame. */
  async function made(ids: number[], frame: number): Promise<{ objects: VideoObject[]; masks: FrameMask[] }> {
    if (!ids.length) return { objects: [], masks: [] };
    const wanted = new Set(ids);
    const listed = (await api.listObjects(videoId)).items.filter((o) => wanted.has(o.id));
    const order = new Map(ids.map((id, index) => [id, index]));
    const objects = listed.sort((a, b) => (order.get(a.id) ?? 0) - (order.get(b.id) ?? 0));
    const masks = (await api.masks(videoId, frame, frame, ids)).flatMap((f) => f.masks);
    return { objects, masks };
  }

  async function find(body: Detection) {
    if (busy) return;
    setBusy(true);
    handlers.onError(null);
    try {
      const answer = await api.detect(videoId, body, DETECT_WAIT_S);
      let found: { objects: VideoObject[]; masks: FrameMask[] };
      if ("objects" in answer) {
        found = { objects: answer.objects, masks: answer.masks };
      } else {
        const job = answer.job.status === "succeeded" ? answer.job : await followJob(api, answer.job.id, {});
        if (job.status !== "succeeded") throw new Error(`Finding failed: ${job.error?.message ?? job.status}`);
        found = await made(foundObjectIds(job.result), body.frame_index);
      }
      dispatch({ type: "detected", frame: body.frame_index, text: body.text ?? null, ...found });
      const records = await api.listPrompts(videoId, { frameIndex: body.frame_index });
      dispatch({ type: "framePrompts", frame: body.frame_index, records });
      if (body.propagate && found.objects.length) handlers.onPropagationQueued();
    } catch (err) {
      handlers.onError(err);
    } finally {
      setBusy(false);
      handlers.onChanged();
    }
  }

  return { busy, find };
}
