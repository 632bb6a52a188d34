/** An imported matte PNG as a binary mask: thresholded in the browser, sent as COCO RLE. */
import { encodeMask, type Rle } from "./rle";

/** Pixels at or above this value (alpha, or luminance for an opaque image) are inside. */
export const MATTE_THRESHOLD = 128;

/** The binary row-major mask of RGBA pixels (straight alpha). An image with any transparency is
 * read by its alpha; an opaque one (a grey matte, 255 inside) by its luminance. */
export function thresholdMatte(rgba: ArrayLike<number>, width: number, height: number): Uint8Array {
  const pixels = width * height;
  if (rgba.length !== pixels * 4) throw new Error(`expected ${pixels * 4} RGBA values, got ${rgba.length}`);
  let hasAlpha = false;
  for (let i = 3; i < rgba.length && !hasAlpha; i += 4) hasAlpha = rgba[i]! < 255;
  const mask = new Uint8Array(pixels);
  for (let p = 0; p < pixels; p += 1) {
    const i = p * 4;
    const value = hasAlpha ? rgba[i + 3]! : 0.2126 * rgba[i]! + 0.7152 * rgba[i + 1]! + 0.0722 * rgba[i + 2]!;
    mask[p] = value >= MATTE_THRESHOLD ? 1 : 0;
  }
  return mask;
}

/** Why a matte file cannot be used, in words for the artist. */
export class MatteError extends Error {
  override name = "MatteError";
}

/** The size check, separate so it is tested without a browser. */
export function checkMatteSize(name: string, width: number, height: number, videoWidth: number, videoHeight: number): void {
  if (width !== videoWidth || height !== videoHeight) {
    throw new MatteError(
      `${name} is ${width}×${height}, but this video is ${videoWidth}×${videoHeight}: ` +
        "import a matte at the video's resolution.",
    );
  }
}

/** Reads a PNG file (in the browser) into COCO RLE at the video's resolution. */
export async function readMatte(file: File, videoWidth: number, videoHeight: number): Promise<Rle> {
  if (file.type !== "image/png" && !file.name.toLowerCase().endsWith(".png")) {
    throw new MatteError(`${file.name} is not a PNG: import a matte PNG.`);
  }
  let bitmap: ImageBitmap;
  try {
    // No premultiplying or colour management: the values are the file's own.
    bitmap = await createImageBitmap(file, { premultiplyAlpha: "none", colorSpaceConversion: "none" });
  } catch {
    throw new MatteError(`${file.name} could not be read as a PNG image.`);
  }
  try {
    checkMatteSize(file.name, bitmap.width, bitmap.height, videoWidth, videoHeight);
    const context = new OffscreenCanvas(bitmap.width, bitmap.height).getContext("2d");
    if (!context) throw new MatteError("this browser cannot read image pixels");
    context.drawImage(bitmap, 0, 0);
    const { data } = context.getImageData(0, 0, bitmap.width, bitmap.height);
    return encodeMask(thresholdMatte(data, bitmap.width, bitmap.height), bitmap.height, bitmap.width);
  } finally {
    bitmap.close();
  }
}
