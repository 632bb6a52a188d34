/** The scrubbable timeline: playhead, keyframe markers, stale spans, the in/out range and the
 * per-frame confidence strip. */
import { useEffect, useRef, type PointerEvent } from "react";
import type { Span } from "../api/types";
import { frameBand, type FrameRange } from "../state/timeline";

interface Props {
  frame: number;
  frameCount: number;
  keyframes: number[];
  /** Spans to mark as stale (the selected object's). */
  stale: Span[];
  range: FrameRange;
  scores: (number | null)[];
  lowScore: number;
  onSeek: (frame: number) => void;
}

/** Red below the threshold, shading to green at 1; grey where there is no mask. */
export function scoreColor(score: number | null, lowScore: number): string {
  if (score === null) return "#3a3a3a";
  if (score < lowScore) return "#d62728";
  const t = (score - lowScore) / Math.max(1e-6, 1 - lowScore);
  return `hsl(${Math.round(45 + 75 * t)}, 70%, 45%)`;
}

function bandStyle(first: number, last: number, frameCount: number) {
  const { left, width } = frameBand(first, last, frameCount);
  return { left: `${left}%`, width: `${width}%` };
}

export function Timeline({ frame, frameCount, keyframes, stale, range, scores, lowScore, onSeek }: Props) {
  const strip = useRef<HTMLCanvasElement>(null);
  const last = Math.max(1, frameCount - 1);

  useEffect(() => {
    const canvas = strip.current;
    const context = canvas?.getContext("2d");
    if (!canvas || !context) return;
    canvas.width = Math.max(1, frameCount);
    for (let i = 0; i < frameCount; i += 1) {
      context.fillStyle = scoreColor(scores[i] ?? null, lowScore);
      context.fillRect(i, 0, 1, canvas.height);
    }
  }, [scores, frameCount, lowScore]);

  function seekAt(event: PointerEvent<HTMLDivElement>) {
    const rect = event.currentTarget.getBoundingClientRect();
    const fraction = (event.clientX - rect.left) / rect.width;
    onSeek(Math.round(Math.min(1, Math.max(0, fraction)) * last));
  }

  return (
    <div
      className="timeline"
      data-testid="timeline"
      role="slider"
      aria-label="Frame"
      aria-valuemin={0}
      aria-valuemax={last}
      aria-valuenow={frame}
      onPointerDown={(e) => { e.currentTarget.setPointerCapture(e.pointerId); seekAt(e); }}
      onPointerMove={(e) => e.buttons === 1 && seekAt(e)}
    >
      <canvas ref={strip} height={1} className="confidence" data-testid="confidence-strip" />
      <div className="track">
        {(range.in !== null || range.out !== null) && (
          <span className="in-out" data-testid="in-out" style={bandStyle(range.in ?? 0, range.out ?? frameCount - 1, frameCount)}
            title={`in ${range.in ?? "start"}, out ${range.out ?? "end"}`} />
        )}
        {stale.map((s) => (
          <span key={`${s.object_id}:${s.frame_start}`} className="stale" style={bandStyle(s.frame_start, s.frame_end, frameCount)}
            title={`frames ${s.frame_start}–${s.frame_end} stale: update them to recompute`} data-testid="stale-span" />
        ))}
        {keyframes.map((k) => (
          <span key={k} className="keyframe" style={{ left: `${(100 * k) / last}%` }} title={`keyframe ${k}`} data-testid="keyframe-marker" />
        ))}
        <span className="playhead" style={{ left: `${(100 * frame) / last}%` }} />
      </div>
    </div>
  );
}
