/** The frame view's picture layers: the plate (a decoded proxy or full frame) and the overlay
 * painted from the masks at the source resolution. */
import { useLayoutEffect, useRef, useState } from "react";
import type { FrameMask, VideoObject } from "../api/types";
import { hexColor, paintOverlay, type OverlayMode } from "../viewer/overlay";
import type { Plate } from "./usePlates";
import "./viewer.css";

/** Draws the plate; the last one stays up until the next is decoded, so scrubbing never flashes
 * black. `data-frame` and `data-size` name what is drawn, set with the pixels. */
export function PlateCanvas({ plate }: { plate: Plate | null }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const [drawn, setDrawn] = useState(false);

  useLayoutEffect(() => {
    const target = canvas.current;
    // A closed bitmap (let go by the cache) has no size: keep what is drawn.
    if (!target || !plate || plate.bitmap.width === 0) return;
    if (target.width !== plate.bitmap.width) target.width = plate.bitmap.width;
    if (target.height !== plate.bitmap.height) target.height = plate.bitmap.height;
    target.getContext("2d")?.drawImage(plate.bitmap, 0, 0);
    target.dataset.frame = String(plate.index);
    target.dataset.size = plate.size;
    setDrawn(true);
  }, [plate]);

  return (
    <>
      <canvas ref={canvas} className="plate" data-testid="frame-image" />
      {!drawn && <div className="frame-placeholder">Loading frame…</div>}
    </>
  );
}

interface OverlayProps {
  width: number;
  height: number;
  masks: Record<number, FrameMask>;
  objects: VideoObject[];
  selected: number | null;
  mode: OverlayMode;
  opacity: number;
  isShown: (objectId: number) => boolean;
}

/** The masks of the shown objects in the mode; the selected object a third stronger. */
export function OverlayCanvas({ width, height, masks, objects, selected, mode, opacity, isShown }: OverlayProps) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const image = useRef<ImageData | null>(null);
  const shown = objects.filter((o) => isShown(o.id)).map((o) => o.id).join();

  // Painted before the browser paints, like the plate, so the two never disagree on screen.
  useLayoutEffect(() => {
    const context = canvas.current?.getContext("2d");
    if (!context) return;
    if (image.current?.width !== width || image.current.height !== height) image.current = context.createImageData(width, height);
    const layers = objects.flatMap((o) => {
      const mask = masks[o.id];
      if (!mask || !isShown(o.id)) return [];
      return [{ rle: mask.rle, color: hexColor(o.color), alpha: o.id === selected ? 255 : 170 }];
    });
    paintOverlay(new Uint32Array(image.current.data.buffer), width, height, layers, mode, opacity);
    context.putImageData(image.current, 0, 0);
    canvas.current!.dataset.painted = mode; // what the pixels show now, for tests
    // `shown` stands for isShown, a new function every render.
  }, [masks, objects, selected, mode, opacity, shown, width, height]);

  return <canvas ref={canvas} width={width} height={height} data-testid="overlay" data-mode={mode} />;
}
