/** Following a job to its end through its event stream. */
import type { ApiClient } from "./client";
import { TERMINAL_JOB_STATUSES, type FrameMask, type Job, type Progress } from "./types";

export interface JobHandlers {
  onStatus?: (job: Job) => void;
  onProgress?: (progress: Progress) => void;
  onMasks?: (frameIndex: number, masks: FrameMask[]) => void;
}

/** Streams the job's events to the handlers and resolves with its terminal state. If the
 * stream drops before the end, the job is read once more so the caller still learns it. */
export async function followJob(api: ApiClient, jobId: string, handlers: JobHandlers, signal?: AbortSignal): Promise<Job> {
  let last: Job | null = null;
  for await (const event of api.jobEvents(jobId, signal)) {
    const data: unknown = JSON.parse(event.data);
    if (event.event === "status") {
      last = data as Job;
      handlers.onStatus?.(last);
      if (TERMINAL_JOB_STATUSES.has(last.status)) return last;
    } else if (event.event === "progress") {
      handlers.onProgress?.(data as Progress);
    } else if (event.event === "masks") {
      const chunk = data as { frame_index: number; masks: FrameMask[] };
      handlers.onMasks?.(chunk.frame_index, chunk.masks);
    }
  }
  const job = await api.getJob(jobId);
  handlers.onStatus?.(job);
  return job;
}
