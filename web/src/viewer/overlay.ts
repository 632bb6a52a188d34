/** The overlay drawn over the plate, from the objects' COCO RLE masks at the source resolution:
 * `fill` (the mask in the object's colour), `outline` (its edge only), `matte` (the alpha as
 * greyscale: white inside any shown object, black elsewhere) or `off`. Pixels are written into
 * an RGBA buffer viewed as 32-bit words, so a 1080p frame paints within a playback frame. */
import { decodeCounts, type Rle } from "../rle/rle";

export type OverlayMode = "fill" | "outline" | "matte" | "off";
export const OVERLAY_MODES: readonly OverlayMode[] = ["fill", "outline", "matte", "off"];

export interface OverlayLayer {
  rle: Rle;
  color: [number, number, number];
  /** 0..255 */
  alpha: number;
}

/** One RGBA pixel as a little-endian 32-bit word (every browser's byte order). */
export function rgbaWord(r: number, g: number, b: number, a: number): number {
  return ((a << 24) | (b << 16) | (g << 8) | r) >>> 0;
}

export function hexColor(color: string): [number, number, number] {
  const n = Number.parseInt(color.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

/** Outline width in source pixels: about 1.5 screen pixels at a typical view (3 px at 1080p). */
export function outlineWidth(width: number, height: number): number {
  return Math.max(1, Math.round(Math.max(width, height) / 640));
}

/** Sets `value` at every row-major pixel inside the mask, run by run (the runs are column-major). */
function fillRuns(rle: Rle, width: number, height: number, target: Uint32Array | Uint8Array, value: number) {
  let index = 0; // column-major position
  let inside = false;
  for (const run of decodeCounts(rle.counts)) {
    if (inside) {
      let column = Math.floor(index / height);
      let row = index - column * height;
      let pixel = row * width + column;
      for (let k = 0; k < run; k += 1) {
        target[pixel] = value;
        row += 1;
        pixel += width;
        if (row === height) {
          row = 0;
          column += 1;
          pixel = column;
        }
      }
    }
    index += run;
    inside = !inside;
  }
}

function fits(layer: OverlayLayer, width: number, height: number): boolean {
  const [h, w] = layer.rle.size as [number, number];
  return w === width && h === height;
}

/** Scratch buffers reused from frame to frame: playback paints one overlay per frame. */
const scratch = { size: 0, mask: new Uint8Array(0), across: new Uint8Array(0), core: new Uint8Array(0) };

function buffers(size: number) {
  if (scratch.size !== size) Object.assign(scratch, { size, mask: new Uint8Array(size), across: new Uint8Array(size), core: new Uint8Array(size) });
  return scratch;
}

/** A rectangle of pixels, inclusive. */
export interface Box {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/** The mask's bounding box from its runs, without decoding it; null when it is empty. */
export function maskBox(rle: Rle, height: number): Box | null {
  let box: Box | null = null;
  let index = 0;
  let inside = false;
  for (const run of decodeCounts(rle.counts)) {
    if (inside && run > 0) {
      const first = index;
      const last = index + run - 1;
      const [c0, c1] = [Math.floor(first / height), Math.floor(last / height)];
      // A run that goes on into the next column covers the column's ends.
      const [r0, r1] = c0 === c1 ? [first - c0 * height, last - c1 * height] : [0, height - 1];
      box = box
        ? { x0: Math.min(box.x0, c0), y0: Math.min(box.y0, r0), x1: Math.max(box.x1, c1), y1: Math.max(box.y1, r1) }
        : { x0: c0, y0: r0, x1: c1, y1: r1 };
    }
    index += run;
    inside = !inside;
  }
  return box;
}

/** Pixels whose square neighbourhood of `radius` lies wholly inside the mask (outside the
 * frame counts as inside, so a mask cut by the frame's edge gets no line along it). Only the
 * pixels in `box` are computed; a box reaching `radius` past the mask's own box gives the same
 * values there as the whole frame would. */
export function erode(mask: Uint8Array, width: number, height: number, radius: number, across = new Uint8Array(mask.length), eroded = new Uint8Array(mask.length), box: Box = { x0: 0, y0: 0, x1: width - 1, y1: height - 1 }): Uint8Array {
  const { x0, y0, x1, y1 } = box;
  // Along the rows, run by run (native scans): a run of the mask loses `radius` pixels at
  // each end, except at the frame's edges. Rows reach past the box for the column pass below.
  const first = Math.max(0, x0 - radius);
  const last = Math.min(width - 1, x1 + radius);
  for (let y = Math.max(0, y0 - radius - 1); y <= Math.min(height - 1, y1 + radius); y += 1) {
    const row = y * width;
    across.fill(0, row + x0, row + x1 + 1);
    const line = mask.subarray(row + first, row + last + 1);
    let at = 0;
    while (at < line.length) {
      const start = line.indexOf(1, at);
      if (start < 0) break;
      let end = line.indexOf(0, start);
      if (end < 0) end = line.length;
      const from = first + start === 0 ? 0 : first + start + radius;
      const to = first + end === width ? width : first + end - radius;
      if (from < to) across.fill(1, row + Math.max(from, x0), row + Math.min(to, x1 + 1));
      at = end;
    }
  }
  // Down the columns, row by row (contiguous reads): background pixels per column in the window.
  const outside = new Int32Array(width);
  const addRow = (y: number, sign: number) => {
    const row = y * width;
    for (let x = x0; x <= x1; x += 1) outside[x]! += sign * (1 - across[row + x]!);
  };
  for (let y = Math.max(0, y0 - radius - 1); y < Math.min(y0 + radius, height); y += 1) addRow(y, 1);
  for (let y = y0; y <= y1; y += 1) {
    if (y + radius < height) addRow(y + radius, 1);
    if (y - radius - 1 >= 0) addRow(y - radius - 1, -1);
    const row = y * width;
    for (let x = x0; x <= x1; x += 1) eroded[row + x] = outside[x] === 0 ? 1 : 0;
  }
  return eroded;
}

/** Paints the layers (later ones over earlier ones) into `pixels`, which it clears first. */
export function paintOverlay(pixels: Uint32Array, width: number, height: number, layers: readonly OverlayLayer[], mode: OverlayMode, opacity: number) {
  pixels.fill(0);
  if (mode === "off" || opacity <= 0) return;
  const shown = layers.filter((layer) => fits(layer, width, height));
  if (mode === "matte") {
    const alpha = Math.round(255 * Math.min(1, opacity));
    pixels.fill(rgbaWord(0, 0, 0, alpha));
    for (const layer of shown) fillRuns(layer.rle, width, height, pixels, rgbaWord(255, 255, 255, alpha));
    return;
  }
  for (const layer of shown) {
    const word = rgbaWord(...layer.color, Math.max(1, Math.round(layer.alpha * Math.min(1, opacity))));
    if (mode === "fill") {
      fillRuns(layer.rle, width, height, pixels, word);
      continue;
    }
    // Only the mask's box (and the outline's width round it) is eroded and painted.
    const found = maskBox(layer.rle, height);
    if (!found) continue;
    const radius = outlineWidth(width, height);
    const box = { x0: Math.max(0, found.x0 - radius), y0: Math.max(0, found.y0 - radius), x1: Math.min(width - 1, found.x1 + radius), y1: Math.min(height - 1, found.y1 + radius) };
    const { mask, across, core } = buffers(width * height);
    mask.fill(0);
    fillRuns(layer.rle, width, height, mask, 1);
    erode(mask, width, height, radius, across, core, box);
    for (let y = box.y0; y <= box.y1; y += 1) {
      for (let p = y * width + box.x0; p <= y * width + box.x1; p += 1) if (mask[p] !== core[p]) pixels[p] = word;
    }
  }
}
