/** The export dialog: every format of api.md, which objects and frames, the matte settings
 * (from the matte panel) or the dataset settings, progress, download. */
import { useState, type FormEvent } from "react";
import type { ApiClient } from "../api/client";
import { followJob } from "../api/jobs";
import type { Dataset, ExportFormat, ExportResult, Job, Matte, VideoObject } from "../api/types";
import { defaultDataset, splitsOf, splitsProblem } from "../viewer/matte";
import { DatasetFields, type SplitPercent } from "./DatasetFields";
import { ErrorBanner } from "./ErrorBanner";
import { MatteFields } from "./MatteFields";

type Kind = "matte" | "dataset" | "preview";

export const FORMATS: { value: ExportFormat; label: string; bitDepth: boolean; kind: Kind }[] = [
  { value: "png_sequence", label: "PNG matte sequence (one per object per frame)", bitDepth: true, kind: "matte" },
  { value: "rgba_png_sequence", label: "RGBA PNG sequence (source pixels, straight alpha)", bitDepth: true, kind: "matte" },
  { value: "exr_sequence", label: "EXR sequence (half float, one layer per object)", bitDepth: false, kind: "matte" },
  { value: "prores_4444", label: "ProRes 4444 .mov with alpha", bitDepth: false, kind: "matte" },
  { value: "overlay_mp4", label: "Overlay preview MP4", bitDepth: false, kind: "preview" },
  { value: "coco_json", label: "COCO JSON (RLE annotations)", bitDepth: false, kind: "dataset" },
  { value: "yolo_seg", label: "YOLO segmentation (polygons per frame)", bitDepth: false, kind: "dataset" },
];

interface Props {
  api: ApiClient;
  videoId: string;
  frameCount: number;
  objects: VideoObject[];
  /** The matte panel's settings, which the dialog starts from. */
  matte: Matte;
  onClose: () => void;
}

function megabytes(bytes: number): string {
  return bytes < 1e6 ? `${(bytes / 1e3).toFixed(1)} kB` : `${(bytes / 1e6).toFixed(1)} MB`;
}

export function ExportDialog({ api, videoId, frameCount, objects, matte: initialMatte, onClose }: Props) {
  const [format, setFormat] = useState<ExportFormat>("png_sequence");
  const [chosen, setChosen] = useState<Set<number>>(() => new Set(objects.map((o) => o.id)));
  const [frameStart, setFrameStart] = useState(0);
  const [frameEnd, setFrameEnd] = useState(frameCount - 1);
  const [startNumber, setStartNumber] = useState(0);
  const [bitDepth, setBitDepth] = useState<8 | 16>(8);
  const [matte, setMatte] = useState<Matte>(initialMatte);
  const [dataset, setDataset] = useState<Dataset>(defaultDataset);
  const [splits, setSplits] = useState<SplitPercent | null>(null);
  const chosenFormat = FORMATS.find((f) => f.value === format)!;
  const problem = chosenFormat.kind === "dataset" ? splitsProblem(splits) : null;
  const [job, setJob] = useState<Job | null>(null);
  const [error, setError] = useState<unknown>(null);
  const running = job !== null && (job.status === "queued" || job.status === "running");
  const result = job?.status === "succeeded" ? (job.result as unknown as ExportResult) : null;

  async function submit(event: FormEvent) {
    event.preventDefault();
    setError(null);
    setJob(null);
    try {
      const allChosen = chosen.size === objects.length;
      const { job: started } = await api.exportVideo(videoId, {
        format,
        object_ids: allChosen ? null : [...chosen],
        frame_start: frameStart,
        frame_end: frameEnd,
        start_number: startNumber,
        bit_depth: chosenFormat.bitDepth ? bitDepth : 8,
        ...(chosenFormat.kind === "matte" ? { matte } : {}),
        ...(chosenFormat.kind === "dataset" ? { dataset: { ...dataset, splits: splitsOf(splits) } } : {}),
      });
      setJob(started);
      const final = await followJob(api, started.id, {
        onStatus: setJob,
        onProgress: (progress) => setJob((j) => (j ? { ...j, progress } : j)),
      });
      setJob(final);
      if (final.status === "failed") setError(new Error(`Export failed: ${final.error?.message ?? "unknown error"}`));
    } catch (err) {
      setError(err);
    }
  }

  function toggle(id: number) {
    const next = new Set(chosen);
    if (next.has(id)) next.delete(id);
    else next.add(id);
    setChosen(next);
  }

  return (
    <div className="modal" role="dialog" aria-label="Export">
      <form className="card" onSubmit={submit}>
        <h2>Export</h2>
        <label>
          Format
          <select value={format} onChange={(e) => setFormat(e.target.value as ExportFormat)} data-testid="export-format">
            {FORMATS.map((f) => <option key={f.value} value={f.value}>{f.label}</option>)}
          </select>
        </label>
        <fieldset>
          <legend>Objects</legend>
          {objects.map((o) => (
            <label key={o.id} className="inline">
              <input type="checkbox" checked={chosen.has(o.id)} onChange={() => toggle(o.id)} /> {o.name}
            </label>
          ))}
        </fieldset>
        <div className="row">
          <label>First frame <input type="number" min={0} max={frameCount - 1} value={frameStart} onChange={(e) => setFrameStart(Number(e.target.value))} /></label>
          <label>Last frame <input type="number" min={0} max={frameCount - 1} value={frameEnd} onChange={(e) => setFrameEnd(Number(e.target.value))} /></label>
          <label>Numbering starts at <input type="number" min={0} value={startNumber} onChange={(e) => setStartNumber(Number(e.target.value))} /></label>
          {chosenFormat.bitDepth && (
            <label>Bit depth
              <select value={bitDepth} onChange={(e) => setBitDepth(Number(e.target.value) as 8 | 16)}>
                <option value={8}>8-bit</option>
                <option value={16}>16-bit</option>
              </select>
            </label>
          )}
        </div>
        {chosenFormat.kind === "matte" && (
          <fieldset className="matte">
            <legend>Matte</legend>
            <MatteFields matte={matte} onChange={setMatte} smoothing />
          </fieldset>
        )}
        {chosenFormat.kind === "dataset" && (
          <DatasetFields dataset={dataset} splits={splits} problem={problem} onChange={setDataset} onSplits={setSplits} />
        )}
        <ErrorBanner error={error} />
        {job && (
          <div className="job" data-testid="export-status" data-status={job.status}>
            <span>{job.status}</span>
            <progress max={Math.max(1, job.progress.total)} value={job.progress.done} />
            <span>{job.progress.done}/{job.progress.total}</span>
          </div>
        )}
        {result && (
          <p className="download">
            <a href={result.download_url} download={result.filename} data-testid="export-download">
              Download {result.filename}
            </a>{" "}
            ({megabytes(result.size_bytes)}, link valid until {new Date(result.expires_at).toLocaleString()})
          </p>
        )}
        <div className="row">
          <span className="spacer" />
          <button type="button" onClick={onClose}>Close</button>
          <button type="submit" className="primary" disabled={running || chosen.size === 0 || problem !== null}>Export</button>
        </div>
      </form>
    </div>
  );
}
