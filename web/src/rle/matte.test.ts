import { describe, expect, it } from "vitest";
import { checkMatteSize, MatteError, thresholdMatte } from "./matte";
import { decodeMask, encodeMask } from "./rle";

/** RGBA pixels from [r, g, b, a] tuples. */
function rgba(pixels: [number, number, number, number][]): Uint8ClampedArray {
  return Uint8ClampedArray.from(pixels.flat());
}

describe("thresholdMatte", () => {
  it("reads an opaque grey matte by its value, 128 and up inside", () => {
    const data = rgba([[0, 0, 0, 255], [127, 127, 127, 255], [128, 128, 128, 255], [255, 255, 255, 255]]);
    expect([...thresholdMatte(data, 2, 2)]).toEqual([0, 0, 1, 1]);
  });

  it("reads an image with transparency by its alpha, whatever its colour", () => {
    const data = rgba([[255, 255, 255, 0], [0, 0, 0, 255], [255, 0, 0, 127], [0, 0, 0, 200]]);
    expect([...thresholdMatte(data, 4, 1)]).toEqual([0, 1, 0, 1]);
  });

  it("weighs colours by luminance on an opaque image", () => {
    const data = rgba([[255, 0, 0, 255], [0, 255, 0, 255]]);
    expect([...thresholdMatte(data, 2, 1)]).toEqual([0, 1]);
  });

  it("refuses pixel data of another length", () => {
    expect(() => thresholdMatte(new Uint8ClampedArray(12), 2, 2)).toThrow(/16 RGBA/);
  });
});

describe("an imported matte", () => {
  it("round-trips through the RLE encoder and the decoder pixel for pixel", () => {
    const [width, height] = [192, 108];
    const data = new Uint8ClampedArray(width * height * 4);
    for (let y = 0; y < height; y += 1) {
      for (let x = 0; x < width; x += 1) {
        const inside = (x - 60) ** 2 + (y - 50) ** 2 <= 18 ** 2 || (x > 150 && y < 10);
        data.set([inside ? 255 : 0, inside ? 255 : 0, inside ? 255 : 0, 255], (y * width + x) * 4);
      }
    }
    const mask = thresholdMatte(data, width, height);
    const rle = encodeMask(mask, height, width);
    expect(rle.size).toEqual([108, 192]);
    expect(decodeMask(rle)).toEqual(mask);
    expect(mask.reduce((a, b) => a + b, 0)).toBeGreaterThan(1000);
  });

  it("of another size is refused with both sizes named", () => {
    expect(() => checkMatteSize("roto.png", 1920, 1080, 192, 108)).toThrow(MatteError);
    expect(() => checkMatteSize("roto.png", 1920, 1080, 192, 108)).toThrow(
      "roto.png is 1920×1080, but this video is 192×108: import a matte at the video's resolution.",
    );
    expect(() => checkMatteSize("roto.png", 192, 108, 192, 108)).not.toThrow();
  });
});
