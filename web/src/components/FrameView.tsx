/** The current frame with its masks overlaid, the stored clicks and boxes of the selected
 * object drawn over it, and the click and box tools on top. Shift+drag draws an exemplar box
 * for "find all" whatever the tool, with or without a selected object. */
import { useEffect, useMemo, useRef, useState, type MouseEvent } from "react";
import type { FrameMask, PromptRecord, VideoObject } from "../api/types";
import { decodeMask } from "../rle/rle";
import type { Box } from "../state/detection";
import type { Tool } from "../state/editor";

export interface Click {
  x: number;
  y: number;
  label: 0 | 1;
}

interface Props {
  frameUrl: string | null;
  width: number;
  height: number;
  masks: Record<number, FrameMask>;
  objects: VideoObject[];
  selected: number | null;
  tool: Tool;
  /** The selected object's stored prompts on this frame. */
  prompts: PromptRecord[];
  /** A click sent but not stored yet, drawn at once. */
  pending: Click | null;
  busy: boolean;
  /** Exemplar boxes drawn on this frame for "find all". */
  exemplars: Box[];
  onClick: (click: Click) => void;
  onBox: (box: [number, number, number, number]) => void;
  onExemplar: (box: Box) => void;
}

function rgb(color: string): [number, number, number] {
  const n = Number.parseInt(color.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

/** Paints each object's mask in its colour; the selected object a little stronger. */
function paint(canvas: HTMLCanvasElement, masks: Record<number, FrameMask>, objects: VideoObject[], selected: number | null) {
  const context = canvas.getContext("2d");
  if (!context) return;
  const image = context.createImageData(canvas.width, canvas.height);
  for (const object of objects) {
    const mask = masks[object.id];
    if (!mask) continue;
    const [height, width] = mask.rle.size as [number, number];
    if (width !== canvas.width || height !== canvas.height) continue;
    const bits = decodeMask(mask.rle);
    const [r, g, b] = rgb(object.color);
    const alpha = object.id === selected ? 150 : 100;
    for (let i = 0; i < bits.length; i += 1) {
      if (!bits[i]) continue;
      image.data[i * 4] = r;
      image.data[i * 4 + 1] = g;
      image.data[i * 4 + 2] = b;
      image.data[i * 4 + 3] = alpha;
    }
  }
  context.putImageData(image, 0, 0);
}

export function FrameView(props: Props) {
  const { width, height } = props;
  const canvas = useRef<HTMLCanvasElement>(null);
  const [dragFrom, setDragFrom] = useState<[number, number] | null>(null);
  const [dragTo, setDragTo] = useState<[number, number] | null>(null);
  const [exemplar, setExemplar] = useState(false);

  useEffect(() => {
    if (canvas.current) paint(canvas.current, props.masks, props.objects, props.selected);
  }, [props.masks, props.objects, props.selected, width, height]);

  /** Source-resolution pixel under the pointer. */
  function toSource(event: MouseEvent): [number, number] {
    const rect = (event.currentTarget as Element).getBoundingClientRect();
    const x = ((event.clientX - rect.left) / rect.width) * width;
    const y = ((event.clientY - rect.top) / rect.height) * height;
    return [Math.min(width - 1, Math.max(0, Math.round(x))), Math.min(height - 1, Math.max(0, Math.round(y)))];
  }

  function down(event: MouseEvent) {
    if (props.busy) return;
    const isExemplar = event.shiftKey && event.button === 0;
    if (props.selected === null && !isExemplar) return;
    if (props.tool === "box" || isExemplar) {
      setExemplar(isExemplar);
      setDragFrom(toSource(event));
      setDragTo(toSource(event));
      return;
    }
    const [x, y] = toSource(event);
    const negative = props.tool === "negative" || event.button === 2 || event.altKey;
    props.onClick({ x, y, label: negative ? 0 : 1 });
  }

  function up() {
    if (dragFrom && dragTo) {
      const box: [number, number, number, number] = [
        Math.min(dragFrom[0], dragTo[0]), Math.min(dragFrom[1], dragTo[1]),
        Math.max(dragFrom[0], dragTo[0]), Math.max(dragFrom[1], dragTo[1]),
      ];
      if (box[2] - box[0] >= 2 && box[3] - box[1] >= 2) (exemplar ? props.onExemplar : props.onBox)(box);
    }
    setDragFrom(null);
    setDragTo(null);
  }

  const rect = useMemo(() => {
    if (!dragFrom || !dragTo) return null;
    return { x: Math.min(dragFrom[0], dragTo[0]), y: Math.min(dragFrom[1], dragTo[1]), w: Math.abs(dragTo[0] - dragFrom[0]), h: Math.abs(dragTo[1] - dragFrom[1]) };
  }, [dragFrom, dragTo]);

  return (
    <div className={`frame-view tool-${props.tool}${props.busy ? " busy" : ""}`} style={{ aspectRatio: `${width} / ${height}` }}>
      {props.frameUrl ? <img src={props.frameUrl} alt="current frame" draggable={false} data-testid="frame-image" /> : <div className="frame-placeholder">Loading frame…</div>}
      <canvas ref={canvas} width={width} height={height} data-testid="overlay" />
      <svg
        viewBox={`0 0 ${width} ${height}`}
        data-testid="click-layer"
        onMouseDown={down}
        onMouseMove={(e) => dragFrom && setDragTo(toSource(e))}
        onMouseUp={up}
        onMouseLeave={up}
        onContextMenu={(e) => e.preventDefault()}
      >
        <PromptMarks prompts={props.prompts} pending={props.pending} radius={Math.max(2, width / 160)} />
        {props.exemplars.map(([x0, y0, x1, y1], i) => (
          <rect key={i} x={x0} y={y0} width={x1 - x0} height={y1 - y0} className="exemplar" data-testid="exemplar" />
        ))}
        {rect && <rect x={rect.x} y={rect.y} width={rect.w} height={rect.h} className={exemplar ? "exemplar" : "box"} />}
      </svg>
    </div>
  );
}

/** Stored clicks (green positive, red negative) and boxes, then the click in flight. */
function PromptMarks({ prompts, pending, radius }: { prompts: PromptRecord[]; pending: Click | null; radius: number }) {
  return (
    <g data-testid="prompt-marks">
      {prompts.map((p) => (
        <g key={p.id}>
          {p.box && <rect x={p.box[0]} y={p.box[1]} width={p.box[2] - p.box[0]} height={p.box[3] - p.box[1]} className="prompt-box" />}
          {p.points.map(([x, y], i) => (
            <circle key={i} cx={x} cy={y} r={radius} className={p.labels[i] ? "positive" : "negative"} />
          ))}
        </g>
      ))}
      {pending && <circle cx={pending.x} cy={pending.y} r={radius} className={`pending ${pending.label ? "positive" : "negative"}`} />}
    </g>
  );
}
