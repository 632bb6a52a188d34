/** The export's `Matte` settings as inputs, shared by the matte panel (which previews them) and
 * the export dialog (which adds `smooth_frames`, an export-only setting). */
import type { Matte } from "../api/types";
import { withMatteField, type MatteNumber } from "../viewer/matte";

const NUMBERS: { field: MatteNumber; label: string; title: string }[] = [
  { field: "grow_px", label: "Grow (px)", title: "grow (positive) or shrink (negative) the matte by this many pixels" },
  { field: "feather_px", label: "Feather (px)", title: "soften the edge over about this many pixels each side" },
  { field: "fill_holes_px", label: "Fill holes (px²)", title: "fill holes of at most this many pixels" },
  { field: "remove_islands_px", label: "Remove islands (px²)", title: "remove specks of at most this many pixels" },
  { field: "smooth_frames", label: "Smooth (± frames)", title: "steady the edge over this many frames either side (export only)" },
];

export function MatteFields({ matte, onChange, smoothing }: { matte: Matte; onChange: (matte: Matte) => void; smoothing: boolean }) {
  return (
    <div className="row matte-fields">
      {NUMBERS.filter((n) => smoothing || n.field !== "smooth_frames").map((n) => (
        <label key={n.field} title={n.title}>{n.label}
          <input type="number" value={matte[n.field]} onChange={(e) => onChange(withMatteField(matte, n.field, Number(e.target.value)))} />
        </label>
      ))}
      <label title="guided: a fast edge-aware filter from the frame's pixels; matting: an alpha-matting solve at the edge, slower">Soft edges
        <select value={matte.soft_edges} onChange={(e) => onChange({ ...matte, soft_edges: e.target.value as Matte["soft_edges"] })}>
          <option value="none">none</option>
          <option value="guided">guided</option>
          <option value="matting">matting</option>
        </select>
      </label>
    </div>
  );
}
