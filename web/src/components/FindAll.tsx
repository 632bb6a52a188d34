/** "Find all" over the frame: a text (a short noun phrase), and exemplar boxes drawn with
 * Shift+drag ("more like this one"); each instance found on the frame becomes a new object.
 * And the panel that lists what the last detection found, with one click to track them all. */
import { useState, type FormEvent } from "react";
import type { Detection, Job, PropagationCreate, VideoObject } from "../api/types";
import {
  defaultDetectionOptions,
  describeFound,
  detectionRequest,
  foundObjects,
  foundPropagation,
  MAX_FOUND,
  MAX_TEXT,
  type Box,
  type Exemplars,
  type Found,
} from "../state/detection";

interface BarProps {
  frame: number;
  exemplars: Exemplars | null;
  busy: boolean;
  onFind: (body: Detection) => void;
  onClearExemplars: () => void;
}

export function FindAllBar({ frame, exemplars, busy, onFind, onClearExemplars }: BarProps) {
  const [text, setText] = useState("");
  const [options, setOptions] = useState(defaultDetectionOptions);
  const boxes: Box[] = exemplars?.frame === frame ? exemplars.boxes : [];
  const body = detectionRequest(text, exemplars, frame, options);

  function submit(event: FormEvent) {
    event.preventDefault();
    if (body && !busy) onFind(body);
  }

  return (
    <form className="row find-all" onSubmit={submit} role="search" aria-label="Find all">
      <input placeholder="Find all… (e.g. person)" value={text} maxLength={MAX_TEXT} aria-label="What to find"
        onChange={(e) => setText(e.target.value)} title="every instance on this frame becomes a new object" />
      {boxes.length > 0 && (
        <span className="hint" data-testid="exemplars">
          {boxes.length} exemplar{boxes.length === 1 ? "" : "s"}
          <button type="button" className="link" onClick={onClearExemplars} aria-label="Clear exemplars">×</button>
        </span>
      )}
      <label className="inline" title="the detector's score an instance needs">score &gt;
        <input type="number" min={0} max={1} step={0.05} value={options.threshold}
          onChange={(e) => setOptions({ ...options, threshold: Number(e.target.value) })} aria-label="Score threshold" />
      </label>
      <label className="inline" title="at most this many objects, best first">max
        <input type="number" min={1} max={MAX_FOUND} value={options.maxObjects}
          onChange={(e) => setOptions({ ...options, maxObjects: Number(e.target.value) })} aria-label="Most objects" />
      </label>
      <label className="inline" title="track the new objects through the whole video at once">
        <input type="checkbox" checked={options.propagate} onChange={(e) => setOptions({ ...options, propagate: e.target.checked })} />
        propagate
      </label>
      <button type="submit" className="primary" disabled={!body || busy}>{busy ? "Finding…" : "Find all"}</button>
    </form>
  );
}

interface PanelProps {
  found: Found | null;
  objects: VideoObject[];
  selected: number | null;
  propagation: Job | null;
  onSelect: (id: number) => void;
  onPropagate: (body: PropagationCreate) => void;
  onDismiss: () => void;
}

export function FoundPanel({ found, objects, selected, propagation, onSelect, onPropagate, onDismiss }: PanelProps) {
  if (!found) return null;
  const present = foundObjects(found, objects);
  const body = foundPropagation(found, objects);
  const running = propagation !== null && (propagation.status === "queued" || propagation.status === "running");
  return (
    <section className="panel found" aria-label="Found">
      <div className="row">
        <h3>Found</h3>
        <span className="spacer" />
        <button className="link" onClick={onDismiss} aria-label="Dismiss">×</button>
      </div>
      <p className="hint" data-testid="found-summary">{describeFound(found, objects)}</p>
      <ul>
        {present.map((o) => (
          <li key={o.id} className={o.id === selected ? "selected" : ""} data-testid="found-object">
            <button className="object" onClick={() => onSelect(o.id)}>
              <span className="swatch" style={{ background: o.color }} />
              {o.name}
              <span className="hint">{o.category}</span>
            </button>
          </li>
        ))}
      </ul>
      {body && (
        <button className="primary" onClick={() => onPropagate(body)} disabled={running} data-testid="propagate-found">
          Propagate {present.length === 1 ? "it" : `all ${present.length}`}
        </button>
      )}
    </section>
  );
}
