/** The export's matte settings, previewed on the paused frame for the selected object by the
 * matte endpoint (the same code and bytes as the export); the export dialog starts from them. */
import type { Matte } from "../api/types";
import { MatteFields } from "./MatteFields";
import type { MattePreview } from "./useMattePreview";

interface Props {
  matte: Matte;
  objectName: string | null;
  preview: boolean;
  state: MattePreview;
  onMatte: (matte: Matte) => void;
  onPreview: (on: boolean) => void;
}

function describe(state: MattePreview, objectName: string | null): string {
  if (objectName === null) return "select an object to preview its matte";
  switch (state.status) {
    case "off":
      return "shows on the paused frame";
    case "loading":
      return "computing…";
    case "ready":
      return `${objectName} on this frame as the export writes it (${Math.round(state.ms ?? 0)} ms)`;
    case "none":
      return `${objectName} has no mask on this frame`;
    case "failed":
      return "the preview failed; change a setting to try again";
  }
}

export function MattePanel({ matte, objectName, preview, state, onMatte, onPreview }: Props) {
  return (
    <section className="panel matte" aria-label="Matte">
      <h3>Matte</h3>
      <MatteFields matte={matte} smoothing={false} onChange={(m) => {
        onMatte(m);
        onPreview(true);
      }} />
      <label className="inline">
        <input type="checkbox" checked={preview} onChange={(e) => onPreview(e.target.checked)} />preview on the frame
      </label>
      {preview && <p className="hint" data-testid="matte-preview-status" data-status={state.status}>{describe(state, objectName)}</p>}
    </section>
  );
}
