/** The selected object's keyframes: go to one, delete one, and on the current frame remove a
 * single prompt (older prompts than this session's undo stack reach are removed here). */
import type { PromptRecord } from "../api/types";

interface Props {
  objectName: string | null;
  prompts: PromptRecord[]; // the selected object's, oldest first
  frame: number;
  busy: boolean;
  onSeek: (frame: number) => void;
  onDeleteKeyframe: (frame: number) => void;
  onRemovePrompt: (prompt: PromptRecord) => void;
}

/** "2 positive, 1 negative, box" or "matte": what a keyframe holds, in a few words. */
export function describePrompts(prompts: PromptRecord[]): string {
  const positive = prompts.reduce((n, p) => n + p.labels.filter((l) => l === 1).length, 0);
  const negative = prompts.reduce((n, p) => n + p.labels.filter((l) => l === 0).length, 0);
  const boxes = prompts.filter((p) => p.box !== null).length;
  const mattes = prompts.filter((p) => p.mask).length;
  const parts = [
    positive && `${positive} positive`,
    negative && `${negative} negative`,
    boxes && (boxes === 1 ? "box" : `${boxes} boxes`),
    mattes && (mattes === 1 ? "matte" : `${mattes} mattes`),
  ];
  return parts.filter(Boolean).join(", ");
}

export function KeyframesPanel({ objectName, prompts, frame, busy, onSeek, onDeleteKeyframe, onRemovePrompt }: Props) {
  const byFrame = new Map<number, PromptRecord[]>();
  for (const p of prompts) byFrame.set(p.frame_index, [...(byFrame.get(p.frame_index) ?? []), p]);
  const frames = [...byFrame.keys()].sort((a, b) => a - b);

  return (
    <section className="panel keyframes" aria-label="Keyframes">
      <h3>Keyframes{objectName ? ` of ${objectName}` : ""}</h3>
      {frames.length === 0 && <p className="hint">None yet: click the object to make one.</p>}
      <ul>
        {frames.map((f) => (
          <li key={f} className={f === frame ? "current" : ""} data-testid="keyframe-row" data-frame={f}>
            <div className="row">
              <button className="link" onClick={() => onSeek(f)}>frame {f}</button>
              <span className="hint" title={describePrompts(byFrame.get(f)!)}>{describePrompts(byFrame.get(f)!)}</span>
              <span className="spacer" />
              <button className="link" disabled={busy} aria-label={`Delete keyframe ${f}`} onClick={() => onDeleteKeyframe(f)}>Delete</button>
            </div>
            {f === frame && (
              <ol className="prompts">
                {byFrame.get(f)!.map((p, i) => (
                  <li key={p.id}>
                    {describePrompts([p])}
                    <button className="link" disabled={busy} aria-label={`Remove prompt ${i + 1} of frame ${f}`} onClick={() => onRemovePrompt(p)}>×</button>
                  </li>
                ))}
              </ol>
            )}
          </li>
        ))}
      </ul>
    </section>
  );
}
