/** Propagation of the selected object (or all) in a direction over the in/out range, and the
 * update of its stale frames; the job's progress while it runs. */
import { useState } from "react";
import type { Direction, Job } from "../api/types";
import type { FrameRange } from "../state/timeline";

interface Props {
  objectName: string | null;
  hasKeyframes: boolean;
  anyKeyframes: boolean;
  staleFrames: number;
  direction: Direction;
  range: FrameRange;
  job: Job | null;
  streamedFrames: number;
  onDirection: (direction: Direction) => void;
  onMarkIn: () => void;
  onMarkOut: () => void;
  onClearRange: () => void;
  onPropagate: (allObjects: boolean) => void;
  onUpdateStale: () => void;
  onCancel: (jobId: string) => void;
}

const DIRECTIONS: { value: Direction; label: string }[] = [
  { value: "both", label: "both ways" },
  { value: "forward", label: "forward" },
  { value: "backward", label: "backward" },
];

export function PropagationPanel(props: Props) {
  const [allObjects, setAllObjects] = useState(false);
  const { job, range } = props;
  const running = job !== null && (job.status === "queued" || job.status === "running");
  const canPropagate = allObjects ? props.anyKeyframes : props.hasKeyframes;

  return (
    <section className="panel" aria-label="Propagation">
      <h3>Propagation</h3>
      <div className="row">
        <label className="inline">Direction
          <select value={props.direction} onChange={(e) => props.onDirection(e.target.value as Direction)}>
            {DIRECTIONS.map((d) => <option key={d.value} value={d.value}>{d.label}</option>)}
          </select>
        </label>
        <label className="inline">
          <input type="checkbox" checked={allObjects} onChange={(e) => setAllObjects(e.target.checked)} />all objects
        </label>
      </div>
      <div className="row range" data-testid="range">
        <span>{range.in === null && range.out === null ? "whole video" : `frames ${range.in ?? "start"}–${range.out ?? "end"}`}</span>
        <span className="spacer" />
        <button className="link" onClick={props.onMarkIn} title="I">In</button>
        <button className="link" onClick={props.onMarkOut} title="O">Out</button>
        <button className="link" onClick={props.onClearRange} title="Alt+X" disabled={range.in === null && range.out === null}>Clear</button>
      </div>
      <div className="row">
        <button className="primary" onClick={() => props.onPropagate(allObjects)} disabled={running || !canPropagate}
          title={allObjects ? "every object with keyframes" : `${props.objectName ?? "the selected object"} only`}>Propagate</button>
        <button onClick={props.onUpdateStale} disabled={running || props.staleFrames === 0} data-testid="update-stale"
          title="propagate only the frames that corrections made stale">
          Update {props.staleFrames} stale frame{props.staleFrames === 1 ? "" : "s"}
        </button>
        {running && <button onClick={() => props.onCancel(job.id)}>Cancel</button>}
      </div>
      {job && (
        <div className="job" data-testid="propagation-status" data-status={job.status} data-job-id={job.id} data-streamed-frames={props.streamedFrames}>
          <span>{job.status}</span>
          <progress max={Math.max(1, job.progress.total)} value={job.progress.done} />
          <span>{job.progress.done}/{job.progress.total}</span>
        </div>
      )}
    </section>
  );
}
