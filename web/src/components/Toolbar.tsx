/** Above the frame: the click and box tools, the matte import, and what is being computed. */
import { useRef } from "react";
import type { Tool } from "../state/editor";

interface Props {
  filename: string;
  tool: Tool;
  busy: string | null;
  canImport: boolean;
  onTool: (tool: Tool) => void;
  onImport: (file: File) => void;
}

const TOOLS: { tool: Tool; label: string }[] = [
  { tool: "positive", label: "+ click" },
  { tool: "negative", label: "− click" },
  { tool: "box", label: "box" },
];

export function Toolbar({ filename, tool, busy, canImport, onTool, onImport }: Props) {
  const file = useRef<HTMLInputElement>(null);
  return (
    <div className="row toolbar">
      <strong>{filename}</strong>
      <span className="spacer" />
      {TOOLS.map((t) => (
        <label key={t.tool} className={`inline tool ${tool === t.tool ? "active" : ""}`}>
          <input type="radio" name="tool" checked={tool === t.tool} onChange={() => onTool(t.tool)} />
          {t.label}
        </label>
      ))}
      <button onClick={() => file.current?.click()} disabled={!canImport || busy !== null}
        title="a PNG matte at the video's resolution (white or opaque inside) as the selected object's mask on this frame">
        Import matte…
      </button>
      <input ref={file} type="file" accept="image/png" hidden data-testid="matte-input" aria-label="Matte PNG"
        onChange={(e) => {
          const chosen = e.target.files?.[0];
          e.target.value = ""; // the same file can be chosen again
          if (chosen) onImport(chosen);
        }} />
      {busy && <span className="hint" data-testid="prompting">{busy}</span>}
    </div>
  );
}
