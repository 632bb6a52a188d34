/** The decoded frames the viewer holds: a least-recently-used cache whose size follows the
 * frames' resolution (a memory budget in decoded pixels), and which frames to fetch next. */

export type FrameSize = "proxy" | "full";

/** The long side of a proxy frame (ingest makes them; smaller videos serve the full frame). */
export const PROXY_LONG_SIDE = 960;
/** Decoded bytes held per size: about two seconds of 960x540 proxies at 24 fps, and a few full frames. */
export const BUDGET_BYTES: Record<FrameSize, number> = { proxy: 96 * 2 ** 20, full: 48 * 2 ** 20 };
const MIN_FRAMES = 4;
const MAX_FRAMES = 240;

/** A proxy frame's size for a video of `width` x `height`: long side at most 960, aspect kept. */
export function proxySize(width: number, height: number): [number, number] {
  const scale = Math.min(1, PROXY_LONG_SIDE / Math.max(1, width, height));
  return [Math.max(1, Math.round(width * scale)), Math.max(1, Math.round(height * scale))];
}

/** Frames of `width` x `height` (RGBA, decoded) that fit the budget, within 4..240. */
export function cacheCapacity(width: number, height: number, budgetBytes: number): number {
  const frameBytes = Math.max(1, width * height * 4);
  return Math.min(MAX_FRAMES, Math.max(MIN_FRAMES, Math.floor(budgetBytes / frameBytes)));
}

export function frameKey(size: FrameSize, index: number): string {
  return `${size}:${index}`;
}

/** Least recently used first out; `dispose` releases what leaves (ImageBitmap.close). */
export class FrameCache<T> {
  private readonly items = new Map<string, T>();

  constructor(
    readonly capacity: number,
    private readonly dispose: (value: T) => void = () => {},
  ) {}

  get size(): number {
    return this.items.size;
  }

  has(key: string): boolean {
    return this.items.has(key);
  }

  /** The value, now the most recently used. */
  get(key: string): T | undefined {
    const value = this.items.get(key);
    if (value !== undefined) {
      this.items.delete(key);
      this.items.set(key, value);
    }
    return value;
  }

  /** Adds the value as the most recently used; the least recently used leave past capacity. */
  set(key: string, value: T): void {
    const old = this.items.get(key);
    if (old !== undefined && old !== value) this.dispose(old);
    this.items.delete(key);
    this.items.set(key, value);
    for (const [oldest, gone] of this.items) {
      if (this.items.size <= this.capacity) break;
      this.items.delete(oldest);
      this.dispose(gone);
    }
  }

  clear(): void {
    for (const value of this.items.values()) this.dispose(value);
    this.items.clear();
  }
}

/** The keys to start fetching now: wanted ones neither held nor in flight, in order, as many as
 * there are free slots. */
export function nextFetches(wanted: readonly string[], has: (key: string) => boolean, inFlight: ReadonlySet<string>, slots: number): string[] {
  const chosen: string[] = [];
  for (const key of wanted) {
    if (chosen.length >= slots) break;
    if (!has(key) && !inFlight.has(key) && !chosen.includes(key)) chosen.push(key);
  }
  return chosen;
}

/** Frames the viewer wants while paused: the frame and its neighbours, nearest first, so
 * stepping and short scrubs show at once. */
export function around(frame: number, frameCount: number, radius: number): number[] {
  const frames = [frame];
  for (let d = 1; d <= radius; d += 1) {
    if (frame + d < frameCount) frames.push(frame + d);
    if (frame - d >= 0) frames.push(frame - d);
  }
  return frames;
}
