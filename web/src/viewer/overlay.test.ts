import { describe, expect, it } from "vitest";
import { encodeMask } from "../rle/rle";
import { erode, maskBox, outlineWidth, paintOverlay, rgbaWord, type OverlayLayer } from "./overlay";

const W = 40;
const H = 30;

/** A filled rectangle [x0, x1) x [y0, y1) as RLE. */
function rect(x0: number, y0: number, x1: number, y1: number) {
  const mask = new Uint8Array(W * H);
  for (let y = y0; y < y1; y += 1) for (let x = x0; x < x1; x += 1) mask[y * W + x] = 1;
  return encodeMask(mask, H, W);
}

function painted(pixels: Uint32Array): number {
  return pixels.reduce((n, p) => n + (p >>> 24 > 0 ? 1 : 0), 0);
}

const red: OverlayLayer = { rle: rect(5, 5, 25, 20), color: [255, 0, 0], alpha: 255 };
const blue: OverlayLayer = { rle: rect(20, 10, 30, 25), color: [0, 0, 255], alpha: 170 };

describe("overlay", () => {
  it("fill paints every mask pixel in the object's colour at the opacity, later objects on top", () => {
    const pixels = new Uint32Array(W * H);
    paintOverlay(pixels, W, H, [red, blue], "fill", 0.6);
    expect(painted(pixels)).toBe(20 * 15 + 10 * 15 - 5 * 10);
    expect(pixels[6 * W + 6]).toBe(rgbaWord(255, 0, 0, 153));
    expect(pixels[12 * W + 22]).toBe(rgbaWord(0, 0, 255, 102));
    expect(pixels[0]).toBe(0);
  });

  it("outline paints only a band along the edge, far fewer pixels than fill", () => {
    const pixels = new Uint32Array(W * H);
    paintOverlay(pixels, W, H, [red], "outline", 1);
    // A 1-px band round a 20x15 rectangle: its perimeter pixels.
    expect(painted(pixels)).toBe(20 * 15 - 18 * 13);
    expect(pixels[5 * W + 10]).toBe(rgbaWord(255, 0, 0, 255));
    expect(pixels[10 * W + 10]).toBe(0);
  });

  it("matte shows the alpha as greyscale: white inside any shown object, black elsewhere, opaque", () => {
    const pixels = new Uint32Array(W * H);
    paintOverlay(pixels, W, H, [red, blue], "matte", 1);
    expect(painted(pixels)).toBe(W * H);
    const white = pixels.reduce((n, p) => n + (p === rgbaWord(255, 255, 255, 255) ? 1 : 0), 0);
    expect(white).toBe(20 * 15 + 10 * 15 - 5 * 10);
    expect(pixels[0]).toBe(rgbaWord(0, 0, 0, 255));
  });

  it("off, or no opacity, paints nothing and clears what was there", () => {
    const pixels = new Uint32Array(W * H).fill(7);
    paintOverlay(pixels, W, H, [red], "off", 1);
    expect(painted(pixels)).toBe(0);
    paintOverlay(pixels, W, H, [red], "fill", 0);
    expect(painted(pixels)).toBe(0);
  });

  it("skips a mask of another size", () => {
    const pixels = new Uint32Array(W * H);
    const other = { ...red, rle: encodeMask(new Uint8Array(4).fill(1), 2, 2) };
    paintOverlay(pixels, W, H, [other], "fill", 1);
    paintOverlay(pixels, W, H, [other], "outline", 1);
    expect(painted(pixels)).toBe(0);
  });

  it("erodes by a square and treats outside the frame as inside", () => {
    const full = new Uint8Array(W * H).fill(1);
    expect(erode(full, W, H, 2).every((v) => v === 1)).toBe(true);
    const holed = full.slice();
    holed[10 * W + 10] = 0;
    const eroded = erode(holed, W, H, 2);
    expect(eroded.reduce((n, v) => n + v, 0)).toBe(W * H - 25);
    expect(eroded[12 * W + 12]).toBe(0);
    expect(eroded[13 * W + 13]).toBe(1);
  });

  it("erodes a box the same as the whole frame does there", () => {
    const mask = new Uint8Array(W * H);
    for (let y = 8; y < 22; y += 1) for (let x = 9; x < 33; x += 1) mask[y * W + x] = (x * 7 + y * 3) % 11 < 8 ? 1 : 0;
    const whole = erode(mask, W, H, 2);
    const box = { x0: 7, y0: 6, x1: 34, y1: 23 };
    const part = erode(mask, W, H, 2, undefined, undefined, box);
    for (let y = box.y0; y <= box.y1; y += 1) for (let x = box.x0; x <= box.x1; x += 1) expect(part[y * W + x]).toBe(whole[y * W + x]);
  });

  it("finds the mask's bounding box from its runs", () => {
    expect(maskBox(rect(5, 5, 25, 20), H)).toEqual({ x0: 5, y0: 5, x1: 24, y1: 19 });
    expect(maskBox(encodeMask(new Uint8Array(W * H), H, W), H)).toBeNull();
  });

  it("outlines are wider on larger frames", () => {
    expect(outlineWidth(192, 108)).toBe(1);
    expect(outlineWidth(1920, 1080)).toBe(3);
    expect(outlineWidth(3840, 2160)).toBe(6);
  });
});
