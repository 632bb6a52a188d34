/** COCO run-length masks in pycocotools' compressed string form, as the API sends and takes them. */

export interface Rle {
  size: number[];
  counts: string;
}

/** Run lengths from the compressed string (pycocotools `rleFrString`): alternating runs of 0s
 * and 1s, 0s first, in column-major order. Each run is a LEB-like sequence of 6-bit chars
 * offset by 48; from the third run on, a value is stored as the difference to the run two back. */
export function decodeCounts(counts: string): number[] {
  const runs: number[] = [];
  let p = 0;
  while (p < counts.length) {
    let value = 0;
    let shift = 0;
    let more = true;
    while (more) {
      if (p >= counts.length) throw new Error("truncated RLE counts string");
      const c = counts.charCodeAt(p) - 48;
      if (c < 0 || c > 63) throw new Error(`invalid RLE character at ${p}`);
      value |= (c & 0x1f) << shift;
      more = (c & 0x20) !== 0;
      p += 1;
      shift += 5;
      if (!more && (c & 0x10) !== 0) value |= -1 << shift;
    }
    if (runs.length > 2) value += runs[runs.length - 2]!;
    runs.push(value);
  }
  return runs;
}

/** The mask as one byte per pixel (1 inside, 0 outside) in row-major order, ready for a canvas. */
export function decodeMask(rle: Rle): Uint8Array {
  const [height, width] = rle.size as [number, number];
  const total = height * width;
  const mask = new Uint8Array(total);
  let index = 0; // position in column-major order
  let inside = false;
  for (const run of decodeCounts(rle.counts)) {
    if (run < 0 || index + run > total) throw new Error("RLE runs do not fit the mask size");
    if (inside) {
      for (let k = index; k < index + run; k += 1) {
        const row = k % height;
        const col = (k - row) / height;
        mask[row * width + col] = 1;
      }
    }
    index += run;
    inside = !inside;
  }
  if (index !== total) throw new Error(`RLE covers ${index} of ${total} pixels`);
  return mask;
}

/** Pixels inside the mask, without decoding it. */
export function maskArea(rle: Rle): number {
  return decodeCounts(rle.counts).reduce((sum, run, i) => (i % 2 === 1 ? sum + run : sum), 0);
}

/** The compressed string of run lengths (pycocotools `rleToString`), the inverse of
 * `decodeCounts`: from the fourth run on, each is stored as the difference to the run two back. */
export function encodeCounts(runs: readonly number[]): string {
  let text = "";
  runs.forEach((run, i) => {
    let value = i > 2 ? run - runs[i - 2]! : run;
    let more = true;
    while (more) {
      let c = value & 0x1f;
      value >>= 5; // arithmetic shift: a negative difference ends at -1
      more = (c & 0x10) !== 0 ? value !== -1 : value !== 0;
      if (more) c |= 0x20;
      text += String.fromCharCode(c + 48);
    }
  });
  return text;
}

/** COCO RLE of a row-major mask (non-zero inside), as pycocotools `encode` writes it for the
 * same Fortran-ordered mask: runs in column-major order, starting with a run of 0s. */
export function encodeMask(mask: ArrayLike<number>, height: number, width: number): Rle {
  if (mask.length !== height * width) throw new Error(`mask has ${mask.length} pixels, not ${height}×${width}`);
  const runs: number[] = [];
  let inside = false;
  let run = 0;
  for (let col = 0; col < width; col += 1) {
    for (let row = 0; row < height; row += 1) {
      if ((mask[row * width + col] !== 0) !== inside) {
        runs.push(run);
        run = 0;
        inside = !inside;
      }
      run += 1;
    }
  }
  runs.push(run);
  return { size: [height, width], counts: encodeCounts(runs) };
}
