/** The export's `Dataset` settings for COCO and YOLO: frames included, frame stride, and
 * train/val/test splits in percent (contiguous blocks of the video). */
import type { Dataset } from "../api/types";

export interface SplitPercent {
  train: number;
  val: number;
  test: number;
}

interface Props {
  dataset: Dataset;
  splits: SplitPercent | null;
  problem: string | null;
  onChange: (dataset: Dataset) => void;
  onSplits: (splits: SplitPercent | null) => void;
}

export function DatasetFields({ dataset, splits, problem, onChange, onSplits }: Props) {
  return (
    <fieldset className="dataset-fields">
      <legend>Dataset</legend>
      <label className="inline">
        <input type="checkbox" checked={dataset.include_frames} onChange={(e) => onChange({ ...dataset, include_frames: e.target.checked })} />
        include the frames (JPEG)
      </label>
      <label>Every Nth frame
        <input type="number" min={1} max={1000} value={dataset.frame_step}
          onChange={(e) => onChange({ ...dataset, frame_step: Math.min(1000, Math.max(1, Math.round(Number(e.target.value) || 1))) })} />
      </label>
      <label className="inline">
        <input type="checkbox" checked={splits !== null} onChange={(e) => onSplits(e.target.checked ? { train: 80, val: 20, test: 0 } : null)} />
        split into train/val/test
      </label>
      {splits && (
        <div className="row">
          {(["train", "val", "test"] as const).map((name) => (
            <label key={name}>{name} %
              <input type="number" min={0} max={100} value={splits[name]} onChange={(e) => onSplits({ ...splits, [name]: Number(e.target.value) })} />
            </label>
          ))}
          {problem && <span className="error-text" data-testid="splits-problem">{problem}</span>}
        </div>
      )}
    </fieldset>
  );
}
