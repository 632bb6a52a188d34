/** Below the timeline: stepping, playback, the frame number, timecode and score, playback's
 * frame rate and dropped frames, and the jump to the next low-score frame. */
import type { Dispatch } from "react";
import { frameScore, nextLowScoreFrame, type EditorAction, type EditorState } from "../state/editor";
import type { PlaybackStats } from "./usePlayback";

interface Props {
  state: EditorState;
  dispatch: Dispatch<EditorAction>;
  timecode?: string;
  playback?: PlaybackStats;
}

export function Transport({ state, dispatch, timecode, playback }: Props) {
  const { frame, frameCount, selected } = state;
  const score = frameScore(state, frame, selected);
  const nextLow = nextLowScoreFrame(state, frame, selected);
  return (
    <div className="row transport">
      <button onClick={() => dispatch({ type: "step", delta: -1 })} aria-label="Previous frame">◀</button>
      <button onClick={() => dispatch({ type: "togglePlay" })}>{state.playing ? "Pause" : "Play"}</button>
      <button onClick={() => dispatch({ type: "step", delta: 1 })} aria-label="Next frame">▶</button>
      <span data-testid="frame-number">frame {frame} / {frameCount - 1}</span>
      {timecode && <span data-testid="timecode" title="timecode (drop-frame shown with ;)">{timecode}</span>}
      <span>score {score === null ? "—" : score.toFixed(2)}</span>
      {playback && playback.fps !== null && (
        <span className="hint" data-testid="playback-stats" data-shown={playback.shown} data-dropped={playback.dropped}
          title="frames shown per second in the last playback, and frames skipped because they were not decoded in time">
          {playback.fps.toFixed(1)} fps, {playback.dropped} dropped
        </span>
      )}
      <span className="spacer" />
      <label className="inline">low below
        <input type="number" min={0} max={1} step={0.05} value={state.lowScore} onChange={(e) => dispatch({ type: "lowScore", value: Number(e.target.value) })} />
      </label>
      <button onClick={() => nextLow !== null && dispatch({ type: "seek", frame: nextLow })} disabled={nextLow === null}>Next low-score frame</button>
    </div>
  );
}
