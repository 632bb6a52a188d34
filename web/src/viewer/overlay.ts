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

/** Calls `visit(pixel)` for every row-major pixel inside the mask, run by run. */
function forEachInside(rle: Rle, width: number, height: number, visit: (pixel: number) => void) {
  let index = 0; // column-major position
  let inside = false;
  for (const run of decodeCounts(rle.counts)) {
    if (inside) {
      let column = Math.floor(index / height);
      let row = index - column * height;
      for (let k = 0; k < run; k += 1) {
        visit(row * width + column);
        row += 1;
        if (row === height) {
          row = 0;
          column += 1;
        }
      }
    }
    index += run;
    inside = !inside;
  }
}

/** The layer's mask as row-major 0/1 bytes; null when its size is not the frame's. */
function maskOf(layer: OverlayLayer, width: number, height: number): Uint8Array | null {
  const [h, w] = layer.rle.size as [number, number];
  if (w !== width || h !== height) return null;
  const mask = new Uint8Array(width * height);
  forEachInside(layer.rle, width, height, (p) => {
    mask[p] = 1;
  });
  return mask;
}

/** Pixels whose square neighbourhood of `radius` lies wholly inside the mask (outside the
 * frame counts as inside, so a mask cut by the frame's edge gets no line along it). */
export function erode(mask: Uint8Array, width: number, height: number, radius: number): Uint8Array {
  const across = new Uint8Array(mask.length);
  for (let y = 0; y < height; y += 1) {
    const row = y * width;
    let outside = 0; // background pixels in the window [x - radius, x + radius]
    for (let x = 0; x < Math.min(radius, width); x += 1) outside += 1 - mask[row + x]!;
    for (let x = 0; x < width; x += 1) {
      if (x + radius < width) outside += 1 - mask[row + x + radius]!;
      if (x - radius - 1 >= 0) outside -= 1 - mask[row + x - radius - 1]!;
      across[row + x] = outside === 0 ? 1 : 0;
    }
  }
  const eroded = new Uint8Array(mask.length);
  for (let x = 0; x < width; x += 1) {
    let outside = 0;
    for (let y = 0; y < Math.min(radius, height); y += 1) outside += 1 - across[y * width + x]!;
    for (let y = 0; y < height; y += 1) {
      if (y + radius < height) outside += 1 - across[(y + radius) * width + x]!;
      if (y - radius - 1 >= 0) outside -= 1 - across[(y - radius - 1) * width + x]!;
      eroded[y * width + x] = outside === 0 ? 1 : 0;
    }
  }
  return eroded;
}

/** Paints the layers (later ones over earlier ones) into `pixels`, which it clears first. */
export function paintOverlay(pixels: Uint32Array, width: number, height: number, layers: readonly OverlayLayer[], mode: OverlayMode, opacity: number) {
  pixels.fill(0);
  if (mode === "off" || opacity <= 0) return;
  if (mode === "matte") {
    const alpha = Math.round(255 * Math.min(1, opacity));
    pixels.fill(rgbaWord(0, 0, 0, alpha));
    const white = rgbaWord(255, 255, 255, alpha);
    for (const layer of layers) {
      const [h, w] = layer.rle.size as [number, number];
      if (w === width && h === height) forEachInside(layer.rle, width, height, (p) => (pixels[p] = white));
    }
    return;
  }
  for (const layer of layers) {
    const word = rgbaWord(...layer.color, Math.max(1, Math.round(layer.alpha * Math.min(1, opacity))));
    if (mode === "fill") {
      const [h, w] = layer.rle.size as [number, number];
      if (w === width && h === height) forEachInside(layer.rle, width, height, (p) => (pixels[p] = word));
      continue;
    }
    const mask = maskOf(layer, width, height);
    if (!mask) continue;
    const core = erode(mask, width, height, outlineWidth(width, height));
    for (let p = 0; p < mask.length; p += 1) if (mask[p] && !core[p]) pixels[p] = word;
  }
}
