/** Below the transport: how the frame is shown (overlay mode and opacity, zoom) and played
 * (speed, loop over the in/out points). */
import type { Dispatch } from "react";
import { OVERLAY_MODES } from "../viewer/overlay";
import { SPEEDS } from "../viewer/playback";
import { ZOOMS, type ViewerAction, type ViewerState } from "../viewer/viewerState";

export function ViewerControls({ viewer, dispatch }: { viewer: ViewerState; dispatch: Dispatch<ViewerAction> }) {
  return (
    <div className="row viewer-controls" data-testid="viewer-controls">
      <span className="row segmented" role="radiogroup" aria-label="Overlay">
        {OVERLAY_MODES.map((mode) => (
          <label key={mode} className={`inline tool ${viewer.mode === mode ? "active" : ""}`}>
            <input type="radio" name="overlay" checked={viewer.mode === mode} onChange={() => dispatch({ type: "mode", mode })} />
            {mode}
          </label>
        ))}
      </span>
      <label className="inline">opacity
        <input type="range" min={0} max={1} step={0.05} value={viewer.opacity} aria-label="Overlay opacity"
          onChange={(e) => dispatch({ type: "opacity", value: Number(e.target.value) })} />
      </label>
      <span className="spacer" />
      <label className="inline">speed
        <select value={viewer.speed} aria-label="Playback speed" onChange={(e) => dispatch({ type: "speed", speed: Number(e.target.value) })}>
          {SPEEDS.map((s) => <option key={s} value={s}>{s}x</option>)}
        </select>
      </label>
      <label className="inline" title="play the in/out range (I and O) round and round; the whole video without one">
        <input type="checkbox" checked={viewer.loop} onChange={(e) => dispatch({ type: "loop", loop: e.target.checked })} />loop in/out
      </label>
      <label className="inline">zoom
        <select value={viewer.zoom} aria-label="Zoom" onChange={(e) => dispatch({ type: "zoom", zoom: Number(e.target.value) })}>
          {ZOOMS.map((z) => <option key={z} value={z}>{z === 1 ? "fit" : `${z}x`}</option>)}
        </select>
      </label>
    </div>
  );
}
