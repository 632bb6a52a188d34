/** The editor: frame viewer, timeline, objects, keyframes, prompts with undo, propagation and export. */
import { useCallback, useEffect, useMemo, useReducer, useRef, useState } from "react";
import type { ApiClient } from "../api/client";
import type { FrameMask, ObjectUpdate, VideoObject } from "../api/types";
import { exemplarsOn } from "../state/detection";
import { editorReducer, framePrompts, frameScore, initialEditor, keyframes, shortcut } from "../state/editor";
import { propagationRequest, staleFrameCount, staleRanges, staleSpans } from "../state/timeline";
import { isShown } from "../viewer/viewerState";
import { ErrorBanner } from "./ErrorBanner";
import { ExportDialog } from "./ExportDialog";
import { FindAllBar, FoundPanel } from "./FindAll";
import { FrameView, type Click } from "./FrameView";
import { KeyframesPanel } from "./KeyframesPanel";
import { MattePanel } from "./MattePanel";
import { ObjectsPanel } from "./ObjectsPanel";
import { PropagationPanel } from "./PropagationPanel";
import { Timeline } from "./Timeline";
import { Toolbar } from "./Toolbar";
import { Transport } from "./Transport";
import { useDetection } from "./useDetection";
import { usePropagation } from "./usePropagation";
import { usePrompts } from "./usePrompts";
import { useReview } from "./useReview";
import { ViewerControls } from "./ViewerControls";

const NO_MASKS: Record<number, FrameMask> = {};

export function Editor({ api, videoId }: { api: ApiClient; videoId: string }) {
  const [state, dispatch] = useReducer(editorReducer, initialEditor);
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [pending, setPending] = useState<(Click & { key: string }) | null>(null);
  const [exporting, setExporting] = useState(false);
  const { video, frame, frameCount, selected } = state;
  const review = useReview(api, videoId, state, dispatch, setError);
  const { viewer, viewerDispatch } = review;

  const refreshSpans = useCallback(() => {
    api.spans(videoId).then((spans) => dispatch({ type: "spans", spans }), setError);
  }, [api, videoId]);
  const propagation = usePropagation(api, videoId, dispatch, {
    onError: setError,
    onChanged: () => {
      refreshSpans();
      review.masks.reload();
    },
  });
  const prompts = usePrompts(api, videoId, state, dispatch, { onError: setError, onNotice: setNotice, onChanged: refreshSpans });
  const detection = useDetection(api, videoId, dispatch, {
    onError: setError,
    onChanged: refreshSpans,
    // A detection with `propagate` queued the propagation of its objects: follow it.
    onPropagationQueued: () => void followRunningPropagation(),
  });

  /** Follows the video's queued or running propagation, if there is one. */
  async function followRunningPropagation() {
    const running = (await api.listJobs(videoId)).items.find(
      (j) => j.type === "propagate" && (j.status === "queued" || j.status === "running"),
    );
    if (running) await propagation.stream(running);
  }

  const load = useCallback(async () => {
    try {
      const [loadedVideo, objects] = await Promise.all([api.getVideo(videoId), api.listObjects(videoId)]);
      const ready = loadedVideo.status === "ready";
      // Masks come with the mask window, for the frames around the playhead only.
      const stored = ready ? await api.listPrompts(videoId) : [];
      dispatch({ type: "loaded", video: loadedVideo, objects: objects.items, masks: [], prompts: stored });
      if (!ready) return;
      refreshSpans();
      void followRunningPropagation().catch(setError);
    } catch (err) {
      setError(err);
    }
    // Loads once per video: followRunningPropagation is a fresh function each render on purpose.
  }, [api, videoId, refreshSpans]);

  useEffect(() => {
    void load();
  }, [load]);

  // The key handler is registered once and calls the latest undo and redo.
  const history = useRef(prompts);
  useEffect(() => {
    history.current = prompts;
  });
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      const target = event.target as HTMLElement;
      if (["INPUT", "SELECT", "TEXTAREA"].includes(target.tagName)) return;
      const command = shortcut(event);
      if (!command) return;
      event.preventDefault();
      if (command === "undo") void history.current.undo();
      else if (command === "redo") void history.current.redo();
      else dispatch(command);
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);

  const viewKey = `${selected}:${frame}`;
  async function onClick(click: Click) {
    if (selected === null) return;
    setPending({ ...click, key: viewKey });
    await prompts.send({ object_id: selected, frame_index: frame, points: [[click.x, click.y]], labels: [click.label], box: null, mode: "add" });
    setPending(null);
  }
  function onBox(box: [number, number, number, number]) {
    if (selected === null) return;
    void prompts.send({ object_id: selected, frame_index: frame, points: [], labels: [], box, mode: "add" });
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
  function deleteKeyframe(frameIndex: number) {
    if (selected === null) return;
    if (!window.confirm(`Delete keyframe ${frameIndex} with all its prompts? This is not on the undo stack.`)) return;
    void prompts.removeKeyframe(selected, frameIndex);
  }

  /** Propagates the selected object over its stale ranges only; "both" lets the API start each
   * from the keyframe next to it. */
  function updateStale() {
    if (selected === null) return;
    const bodies = staleRanges(state.spans, selected).map((r) => ({ object_ids: [selected], direction: "both" as const, ...r }));
    void propagation.propagate(...bodies);
  }

  const scores = useMemo(
    () => Array.from({ length: frameCount }, (_, i) => frameScore(state, i, selected)),
    // Scores change with the masks, the selection, the length and the threshold only.
    [state.scores, selected, frameCount],
  );
  const selectedObject = state.objects.find((o) => o.id === selected) ?? null;
  const objectPrompts = useMemo(() => state.prompts.filter((p) => p.object_id === selected), [state.prompts, selected]);
  const marks = useMemo(() => keyframes(state, selected), [state.prompts, selected]);
  const stale = useMemo(() => staleSpans(state.spans, selected), [state.spans, selected]);
  const currentMasks = state.masks[frame] ?? NO_MASKS;
  const shown = (objectId: number) => isShown(viewer, objectId);
  const job = state.propagation;

  if (!video) return <main className="editor"><ErrorBanner error={error} />{!error && <p>Loading…</p>}</main>;
  if (video.status !== "ready") {
    return <main className="editor"><p>{video.filename} is {video.status.replace("_", " ")}: the editor opens once ingest has finished.</p></main>;
  }

  return (
    <main className="editor">
      <ErrorBanner error={error ?? review.plates.error} onClose={() => setError(null)} />
      <div className="editor-body">
        <div className="viewer">
          <Toolbar filename={video.filename} tool={state.tool} busy={prompts.busy} canImport={selected !== null}
            onTool={(tool) => dispatch({ type: "tool", tool })} onImport={(file) => void prompts.importMatte(file)} />
          <FindAllBar frame={frame} exemplars={state.exemplars} busy={detection.busy}
            onFind={(body) => void detection.find(body)} onClearExemplars={() => dispatch({ type: "exemplarsCleared" })} />
          <FrameView
            plate={review.plates.plate}
            mode={viewer.mode}
            opacity={viewer.opacity}
            isShown={shown}
            plateHeld={viewer.plateHeld}
            mattePreview={review.previewUrl}
            zoom={viewer.zoom}
            masksReady={review.masks.isLoaded(frame)}
            width={video.width ?? 1}
            height={video.height ?? 1}
            masks={currentMasks}
            objects={state.objects}
            selected={selected}
            tool={state.tool}
            prompts={framePrompts(state, selected, frame)}
            pending={pending?.key === viewKey ? pending : null}
            busy={prompts.busy !== null || detection.busy}
            exemplars={exemplarsOn(state.exemplars, frame)}
            onClick={(click) => void onClick(click)}
            onBox={onBox}
            onExemplar={(box) => dispatch({ type: "exemplarAdded", frame, box })}
          />
          <Timeline frame={frame} frameCount={frameCount} keyframes={marks} stale={stale} range={state.range}
            scores={scores} lowScore={state.lowScore} onSeek={(f) => dispatch({ type: "seek", frame: f })} />
          <Transport state={state} dispatch={dispatch} timecode={review.timecode} playback={review.playback} />
          <ViewerControls viewer={viewer} dispatch={viewerDispatch} />
          {notice && <p className="hint" role="status">{notice}</p>}
        </div>
        <aside>
          <FoundPanel found={state.found} objects={state.objects} selected={selected} propagation={job}
            onSelect={(id) => dispatch({ type: "select", objectId: id })}
            onPropagate={(body) => void propagation.propagate(body)} onDismiss={() => dispatch({ type: "foundCleared" })} />
          <ObjectsPanel objects={state.objects} selected={selected} onSelect={(id) => dispatch({ type: "select", objectId: id })} onAdd={addObject} onUpdate={updateObject} onDelete={(o) => void deleteObject(o)}
            view={{ isShown: shown, solo: viewer.solo, onSolo: (id) => viewerDispatch({ type: "toggleSolo", objectId: id }), onHide: (id) => viewerDispatch({ type: "toggleHidden", objectId: id }) }} />
          <KeyframesPanel objectName={selectedObject?.name ?? null} prompts={objectPrompts} frame={frame} busy={prompts.busy !== null}
            onSeek={(f) => dispatch({ type: "seek", frame: f })} onDeleteKeyframe={deleteKeyframe} onRemovePrompt={(p) => void prompts.removePrompt(p)} />
          <PropagationPanel
            objectName={selectedObject?.name ?? null}
            hasKeyframes={marks.length > 0}
            anyKeyframes={state.prompts.length > 0}
            staleFrames={selected === null ? 0 : staleFrameCount(state.spans, selected)}
            direction={state.direction}
            range={state.range}
            job={job}
            streamedFrames={propagation.streamedFrames}
            onDirection={(direction) => dispatch({ type: "direction", direction })}
            onMarkIn={() => dispatch({ type: "markIn" })}
            onMarkOut={() => dispatch({ type: "markOut" })}
            onClearRange={() => dispatch({ type: "clearRange" })}
            onPropagate={(all) => void propagation.propagate(propagationRequest(all ? null : selected, state.direction, state.range))}
            onUpdateStale={updateStale}
            onCancel={(id) => void propagation.cancel(id)}
          />
          <MattePanel matte={viewer.matte} objectName={selectedObject?.name ?? null} preview={viewer.mattePreview} state={review.preview}
            onMatte={(matte) => viewerDispatch({ type: "matte", matte })} onPreview={(on) => viewerDispatch({ type: "mattePreview", on })} />
          <section className="panel">
            <h3>Export</h3>
            <button onClick={() => setExporting(true)} disabled={state.objects.length === 0}>Export…</button>
          </section>
          <Help />
        </aside>
      </div>
      {exporting && <ExportDialog api={api} videoId={videoId} frameCount={frameCount} objects={state.objects} matte={viewer.matte} onClose={() => setExporting(false)} />}
    </main>
  );
}

function Help() {
  return (
    <div className="hint help">
      <p>Keys: space plays, ←/→ step a frame, shift+←/→ ten frames. Right-click or alt-click for a negative click.</p>
      <p>Find all: type what to look for (“person”), or Shift+drag boxes around examples on the frame, or both; every
        instance found on the frame becomes a new object with its mask as a keyframe.</p>
      <p>Ctrl+Z (⌘Z) undoes the last prompt made in this session, whichever object or frame it was on, and shows that
        frame; Ctrl+Shift+Z (or Ctrl+Y) redoes it. Prompts from before a reload are removed from the keyframe list.</p>
      <p>I and O set the in and out points for Propagate, Alt+X clears them. Striped spans on the timeline are stale:
        a correction changed a keyframe next to them; “Update stale frames” recomputes just those.</p>
      <p>Hold \ (backslash) to see the plate alone. Overlay fill, outline, matte (the alpha in grey) or off, with its opacity;
        S shows one object alone, hide leaves it out. Playback runs at 0.25x–2x on proxy frames and loops over the in/out
        points with “loop in/out”; the full frame comes in when it rests or is zoomed.</p>
    </div>
  );
}
