/** The editor: frame viewer, timeline, objects, prompts, propagation and export. */
import { useCallback, useEffect, useMemo, useReducer, useState } from "react";
import type { ApiClient } from "../api/client";
import { followJob } from "../api/jobs";
import type { FrameMask, Job, ObjectUpdate, Prompt, VideoObject } from "../api/types";
import { editorReducer, frameScore, initialEditor, keyAction, keyframes, nextLowScoreFrame } from "../state/editor";
import { ErrorBanner } from "./ErrorBanner";
import { ExportDialog } from "./ExportDialog";
import { FrameView, type Click } from "./FrameView";
import { ObjectsPanel } from "./ObjectsPanel";
import { Timeline } from "./Timeline";
import { useFrames } from "./useFrames";

const PROMPT_WAIT_S = 10;

export function Editor({ api, videoId }: { api: ApiClient; videoId: string }) {
  const [state, dispatch] = useReducer(editorReducer, initialEditor);
  const [error, setError] = useState<unknown>(null);
  const [clicks, setClicks] = useState<Record<string, Click[]>>({});
  const [prompting, setPrompting] = useState(false);
  const [exporting, setExporting] = useState(false);
  const [streamedFrames, setStreamedFrames] = useState(0);
  const { video, frame, frameCount, selected } = state;
  const frames = useFrames(api, videoId, frame, frameCount);

  const load = useCallback(async () => {
    try {
      const [loadedVideo, objects] = await Promise.all([api.getVideo(videoId), api.listObjects(videoId)]);
      const masks = loadedVideo.status === "ready" ? (await api.masks(videoId)).flatMap((f) => f.masks) : [];
      dispatch({ type: "loaded", video: loadedVideo, objects: objects.items, masks });
      const running = (await api.listJobs(videoId)).items.find(
        (j) => j.type === "propagate" && (j.status === "queued" || j.status === "running"),
      );
      if (running) void streamPropagation(running);
    } catch (err) {
      setError(err);
    }
    // Loads once per video: streamPropagation is a fresh function each render on purpose.
  }, [api, videoId]);

  useEffect(() => {
    void load();
  }, [load]);

  // Playback at the video's frame rate.
  useEffect(() => {
    if (!state.playing) return;
    const timer = window.setInterval(() => dispatch({ type: "tick" }), 1000 / (video?.fps ?? 25));
    return () => window.clearInterval(timer);
  }, [state.playing, video?.fps]);

  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      const target = event.target as HTMLElement;
      if (["INPUT", "SELECT", "TEXTAREA"].includes(target.tagName)) return;
      const action = keyAction(event.key, event.shiftKey);
      if (!action) return;
      event.preventDefault();
      dispatch(action);
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);

  async function streamPropagation(job: Job) {
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
      if (final.status === "failed") setError(new Error(`Propagation failed: ${final.error?.message ?? "unknown error"}`));
      // One full read at the end, in case an event was missed while the stream reconnected.
      dispatch({ type: "masks", masks: (await api.masks(videoId)).flatMap((f) => f.masks) });
    } catch (err) {
      setError(err);
    }
  }

  async function propagate() {
    setError(null);
    try {
      const { job } = await api.propagate(videoId, { object_ids: null, direction: "both" });
      await streamPropagation(job);
    } catch (err) {
      setError(err);
    }
  }

  async function cancelPropagation(jobId: string) {
    try {
      dispatch({ type: "propagation", job: await api.cancelJob(jobId) });
    } catch (err) {
      setError(err);
    }
  }

  async function sendPrompt(prompt: Prompt) {
    setPrompting(true);
    setError(null);
    try {
      const answer = await api.prompt(videoId, prompt, PROMPT_WAIT_S);
      if ("mask" in answer) {
        dispatch({ type: "masks", masks: [answer.mask] });
      } else {
        const final = await followJob(api, answer.job.id, {});
        if (final.status !== "succeeded") throw new Error(`Segmenting failed: ${final.error?.message ?? final.status}`);
        const masks = await api.masks(videoId, prompt.frame_index, prompt.frame_index, [prompt.object_id]);
        dispatch({ type: "masks", masks: masks.flatMap((f) => f.masks) });
      }
    } catch (err) {
      setError(err);
    } finally {
      setPrompting(false);
    }
  }

  const clickKey = `${selected}:${frame}`;
  function onClick(click: Click) {
    if (selected === null) return;
    setClicks((all) => ({ ...all, [clickKey]: [...(all[clickKey] ?? []), click] }));
    void sendPrompt({ object_id: selected, frame_index: frame, points: [[click.x, click.y]], labels: [click.label], box: null, mode: "add" });
  }
  function onBox(box: [number, number, number, number]) {
    if (selected === null) return;
    void sendPrompt({ object_id: selected, frame_index: frame, points: [], labels: [], box, mode: "add" });
  }

  async function addObject(name: string, color: string) {
    try {
      dispatch({ type: "objectAdded", object: await api.createObject(videoId, { name, color }) });
    } catch (err) {
      setError(err);
    }
  }
  async function updateObject(object: VideoObject, change: ObjectUpdate) {
    try {
      dispatch({ type: "objectUpdated", object: await api.updateObject(videoId, object.id, change) });
    } catch (err) {
      setError(err);
    }
  }
  async function deleteObject(object: VideoObject) {
    if (!window.confirm(`Delete ${object.name} with its prompts and masks?`)) return;
    try {
      await api.deleteObject(videoId, object.id);
      dispatch({ type: "objectRemoved", objectId: object.id });
    } catch (err) {
      setError(err);
    }
  }

  const scores = useMemo(
    () => Array.from({ length: frameCount }, (_, i) => frameScore(state, i, selected)),
    // Scores change with the masks, the selection, the length and the threshold only.
    [state.masks, selected, frameCount],
  );
  const marks = useMemo(() => keyframes(state, selected), [state, selected]);
  const currentMasks: Record<number, FrameMask> = state.masks[frame] ?? {};
  const score = frameScore(state, frame, selected);
  const job = state.propagation;
  const propagating = job !== null && (job.status === "queued" || job.status === "running");

  if (!video) return <main className="editor"><ErrorBanner error={error} />{!error && <p>Loading…</p>}</main>;
  if (video.status !== "ready") {
    return <main className="editor"><p>{video.filename} is {video.status.replace("_", " ")}: the editor opens once ingest has finished.</p></main>;
  }

  return (
    <main className="editor">
      <ErrorBanner error={error ?? frames.error} onClose={() => setError(null)} />
      <div className="editor-body">
        <div className="viewer">
          <div className="row toolbar">
            <strong>{video.filename}</strong>
            <span className="spacer" />
            {(["positive", "negative", "box"] as const).map((tool) => (
              <label key={tool} className={`inline tool ${state.tool === tool ? "active" : ""}`}>
                <input type="radio" name="tool" checked={state.tool === tool} onChange={() => dispatch({ type: "tool", tool })} />
                {tool === "positive" ? "+ click" : tool === "negative" ? "− click" : "box"}
              </label>
            ))}
            {prompting && <span className="hint" data-testid="prompting">segmenting…</span>}
          </div>
          <FrameView
            frameUrl={frames.url}
            width={video.width ?? 1}
            height={video.height ?? 1}
            masks={currentMasks}
            objects={state.objects}
            selected={selected}
            tool={state.tool}
            clicks={clicks[clickKey] ?? []}
            busy={prompting}
            onClick={onClick}
            onBox={onBox}
          />
          <Timeline frame={frame} frameCount={frameCount} keyframes={marks} scores={scores} lowScore={state.lowScore} onSeek={(f) => dispatch({ type: "seek", frame: f })} />
          <div className="row transport">
            <button onClick={() => dispatch({ type: "step", delta: -1 })} aria-label="Previous frame">◀</button>
            <button onClick={() => dispatch({ type: "togglePlay" })}>{state.playing ? "Pause" : "Play"}</button>
            <button onClick={() => dispatch({ type: "step", delta: 1 })} aria-label="Next frame">▶</button>
            <span data-testid="frame-number">frame {frame} / {frameCount - 1}</span>
            <span>score {score === null ? "—" : score.toFixed(2)}</span>
            <span className="spacer" />
            <label className="inline">low below
              <input type="number" min={0} max={1} step={0.05} value={state.lowScore} onChange={(e) => dispatch({ type: "lowScore", value: Number(e.target.value) })} />
            </label>
            <button
              onClick={() => { const next = nextLowScoreFrame(state, frame, selected); if (next !== null) dispatch({ type: "seek", frame: next }); }}
              disabled={nextLowScoreFrame(state, frame, selected) === null}
            >Next low-score frame</button>
          </div>
        </div>
        <aside>
          <ObjectsPanel objects={state.objects} selected={selected} onSelect={(id) => dispatch({ type: "select", objectId: id })} onAdd={addObject} onUpdate={updateObject} onDelete={(o) => void deleteObject(o)} />
          <section className="panel">
            <h3>Propagation</h3>
            <div className="row">
              <button className="primary" onClick={() => void propagate()} disabled={propagating || keyframes(state, null).length === 0}>Propagate</button>
              {propagating && job && <button onClick={() => void cancelPropagation(job.id)}>Cancel</button>}
            </div>
            {job && (
              <div className="job" data-testid="propagation-status" data-status={job.status} data-streamed-frames={streamedFrames}>
                <span>{job.status}</span>
                <progress max={Math.max(1, job.progress.total)} value={job.progress.done} />
                <span>{job.progress.done}/{job.progress.total}</span>
              </div>
            )}
          </section>
          <section className="panel">
            <h3>Export</h3>
            <button onClick={() => setExporting(true)} disabled={state.objects.length === 0}>Export…</button>
          </section>
          <p className="hint">Keys: space plays, ←/→ step a frame, shift+←/→ ten frames. Right-click or alt-click for a negative click.</p>
        </aside>
      </div>
      {exporting && <ExportDialog api={api} videoId={videoId} frameCount={frameCount} objects={state.objects} onClose={() => setExporting(false)} />}
    </main>
  );
}
