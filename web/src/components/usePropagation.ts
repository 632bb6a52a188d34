/** Propagation jobs: start one (or resume following one), stream its masks, cancel it, and
 * "update stale frames", which propagates only the selected object's stale spans. */
import { useState, type Dispatch } from "react";
import type { ApiClient } from "../api/client";
import { followJob } from "../api/jobs";
import type { Job, PropagationCreate } from "../api/types";
import type { EditorAction } from "../state/editor";

interface Handlers {
  onError: (error: unknown) => void;
  /** Spans and masks change with every propagation: the caller reloads them. */
  onChanged: () => void;
}

export function usePropagation(api: ApiClient, videoId: string, dispatch: Dispatch<EditorAction>, handlers: Handlers) {
  const [streamedFrames, setStreamedFrames] = useState(0);

  /** Follows a job to its end; true when it succeeded. */
  async function stream(job: Job): Promise<boolean> {
    dispatch({ type: "propagation", job });
    setStreamedFrames(0);
    try {
      const final = await followJob(api, job.id, {
        onStatus: (j) => dispatch({ type: "propagation", job: j }),
        onProgress: (progress) => dispatch({ type: "propagationProgress", progress }),
        onMasks: (_frame, masks) => {
          setStreamedFrames((n) => n + 1);
          dispatch({ type: "masks", masks });
        },
      });
      dispatch({ type: "propagation", job: final });
      if (final.status === "failed") handlers.onError(new Error(`Propagation failed: ${final.error?.message ?? "unknown error"}`));
      // The caller reads the masks around the playhead again (onChanged), in case an event was
      // missed while the stream reconnected.
      return final.status === "succeeded";
    } catch (err) {
      handlers.onError(err);
      return false;
    } finally {
      handlers.onChanged();
    }
  }

  /** Runs the propagations one after the other, stopping at the first that does not succeed. */
  async function propagate(...bodies: PropagationCreate[]) {
    handlers.onError(null);
    for (const body of bodies) {
      try {
        const { job } = await api.propagate(videoId, body);
        if (!(await stream(job))) return;
      } catch (err) {
        handlers.onError(err);
        return;
      }
    }
  }

  async function cancel(jobId: string) {
    try {
      dispatch({ type: "propagation", job: await api.cancelJob(jobId) });
    } catch (err) {
      handlers.onError(err);
    }
  }

  return { streamedFrames, stream, propagate, cancel };
}
