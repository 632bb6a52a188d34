/** The current frame with its masks overlaid (or the matte preview, or with the plate key held
 * the plate alone), the stored clicks and boxes of the selected object drawn over it, and the
 * click and box tools on top. Shift+drag draws an exemplar box for "find all" whatever the tool,
 * with or without a selected object. */
import { useMemo, useState, type CSSProperties, type MouseEvent } from "react";
import type { FrameMask, PromptRecord, VideoObject } from "../api/types";
import type { Box } from "../state/detection";
import type { Tool } from "../state/editor";
import type { OverlayMode } from "../viewer/overlay";
import { OverlayCanvas, PlateCanvas } from "./FrameLayers";
import type { Plate } from "./usePlates";

export interface Click {
  x: number;
  y: number;
  label: 0 | 1;
}

interface Props {
  plate: Plate | null;
  /** How the masks are drawn; "off" while the plate key is held or the matte preview shows. */
  mode: OverlayMode;
  opacity: number;
  isShown: (objectId: number) => boolean;
  /** The plate alone: no overlay, no marks. */
  plateHeld: boolean;
  /** The matte endpoint's PNG of this frame, shown instead of the overlay. */
  mattePreview: string | null;
  /** 1 fits the view; more magnifies it, scrolled inside the view. */
  zoom: number;
  /** Whether this frame's masks have been read (the mask window). */
  masksReady: boolean;
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

export function FrameView(props: Props) {
  const { width, height } = props;
  const [dragFrom, setDragFrom] = useState<[number, number] | null>(null);
  const [dragTo, setDragTo] = useState<[number, number] | null>(null);
  const [exemplar, setExemplar] = useState(false);

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

  const preview = props.plateHeld ? null : props.mattePreview;
  const view = `${props.zoom > 1 ? " zoomed" : ""}${props.plateHeld ? " plate-held" : ""}`;
  return (
    <div className={`frame-view tool-${props.tool}${props.busy ? " busy" : ""}${view}`} data-testid="frame-view" data-masks-ready={props.masksReady}
      style={{ aspectRatio: `${width} / ${height}`, "--zoom": props.zoom } as CSSProperties}>
      <PlateCanvas plate={props.plate} />
      <OverlayCanvas width={width} height={height} masks={props.masks} objects={props.objects} selected={props.selected}
        mode={props.plateHeld || preview ? "off" : props.mode} opacity={props.opacity} isShown={props.isShown} />
      {preview && <img src={preview} alt="matte preview" className="matte-preview" data-testid="matte-preview" draggable={false} />}
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
