/** The plate (the frame's picture) for the viewer, decoded ahead of time: proxy frames (long side
 * at most 960 px) for playback and scrubbing, the full frame once the playhead rests or when
 * zoomed. Frames are fetched in play order a second or so ahead, a few at a time, and held in a
 * cache sized by their resolution (frameCache.ts). */
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import type { ApiClient } from "../api/client";
import type { Video } from "../api/types";
import { around, BUDGET_BYTES, cacheCapacity, FrameCache, frameKey, nextFetches, PROXY_LONG_SIDE, proxySize, type FrameSize } from "../viewer/frameCache";
import { upcoming, type PlayRange } from "../viewer/playback";

export interface Plate {
  bitmap: ImageBitmap;
  index: number;
  size: FrameSize;
}

/** Requests in flight at once. */
const SLOTS = 4;
/** How long the playhead rests before the full frame is fetched. */
const SETTLE_MS = 150;
/** Seconds of playback fetched ahead. */
const AHEAD_S = 1.25;
/** Proxies fetched either side of a paused frame, for stepping. */
const NEIGHBOURS = 3;
/** A frame that failed is not asked for again this soon. */
const RETRY_MS = 2000;

export interface PlateOptions {
  playing: boolean;
  speed: number;
  range: PlayRange;
  loop: boolean;
  zoomed: boolean;
}

export function usePlates(api: ApiClient, videoId: string, video: Video | null, frame: number, options: PlateOptions) {
  const width = video?.width ?? 0;
  const height = video?.height ?? 0;
  const frameCount = video?.frame_count ?? 0;
  const fps = video?.fps ?? 25;
  // A video no larger than a proxy is served whole either way: one size, one cache.
  const hasProxy = Math.max(width, height) > PROXY_LONG_SIDE;
  const caches = useMemo(() => {
    const close = (bitmap: ImageBitmap) => bitmap.close();
    const [pw, ph] = proxySize(width, height);
    return {
      proxy: new FrameCache<ImageBitmap>(cacheCapacity(pw, ph, BUDGET_BYTES.proxy), close),
      full: new FrameCache<ImageBitmap>(cacheCapacity(width, height, hasProxy ? BUDGET_BYTES.full : BUDGET_BYTES.proxy), close),
    };
  }, [videoId, width, height, hasProxy]);
  const live = useRef(caches);
  live.current = caches;
  const inFlight = useRef(new Set<string>());
  const failed = useRef(new Map<string, number>());
  const [, setArrived] = useState(0);
  const [settled, setSettled] = useState<number | null>(null);
  const [error, setError] = useState<unknown>(null);
  const latest = useRef({ frame, settled, ...options });
  latest.current = { frame, settled, ...options };

  useEffect(() => {
    const flights = inFlight.current;
    return () => {
      caches.proxy.clear();
      caches.full.clear();
      flights.clear();
    };
  }, [caches]);

  useEffect(() => {
    if (options.playing) return setSettled(null);
    const timer = window.setTimeout(() => setSettled(frame), SETTLE_MS);
    return () => window.clearTimeout(timer);
  }, [frame, options.playing]);

  const playSize: FrameSize = hasProxy && !options.zoomed ? "proxy" : "full";
  /** Frames fetched ahead in playback: never more than the cache holds, or they would push
   * out the frames due first. */
  const aheadOf = useCallback(
    (size: FrameSize, speed: number) => Math.max(2, Math.min(caches[size].capacity - 2, Math.ceil(fps * speed * AHEAD_S))),
    [caches, fps],
  );

  /** The keys wanted now, most urgent first. */
  const wanted = useCallback((): string[] => {
    const { frame: at, settled: rested, playing, speed, range, loop, zoomed } = latest.current;
    const size: FrameSize = hasProxy && !zoomed ? "proxy" : "full";
    if (playing) return upcoming(at, aheadOf(size, speed), range, loop).map((i) => frameKey(size, i));
    const keys = rested === at || zoomed ? [frameKey("full", at)] : [];
    // As many neighbours as the cache holds beside the frame, or fetching them would go round.
    const radius = Math.min(NEIGHBOURS, Math.floor((caches[size].capacity - 2) / 2));
    return [...keys, ...around(at, frameCount, radius).map((i) => frameKey(size, i))];
  }, [caches, hasProxy, frameCount, aheadOf]);

  const pump = useCallback(() => {
    // A pump of another video's caches (still called as its fetches end) stops.
    if (frameCount === 0 || live.current !== caches) return;
    const now = performance.now();
    const has = (key: string) => caches[key.startsWith("proxy") ? "proxy" : "full"].has(key) || now - (failed.current.get(key) ?? -RETRY_MS) < RETRY_MS;
    for (const key of nextFetches(wanted(), has, inFlight.current, SLOTS - inFlight.current.size)) {
      const [size, index] = [key.split(":")[0] as FrameSize, Number(key.split(":")[1])];
      inFlight.current.add(key);
      api
        .frame(videoId, index, size)
        .then((blob) => createImageBitmap(blob))
        .then(
          (bitmap) => {
            if (live.current !== caches) return bitmap.close(); // another video's caches by now
            caches[size].set(key, bitmap);
            failed.current.delete(key);
            if (index === latest.current.frame) {
              setError(null);
              setArrived((n) => n + 1);
            }
          },
          (err: unknown) => {
            failed.current.set(key, performance.now());
            if (index === latest.current.frame) setError(err);
          },
        )
        .finally(() => {
          inFlight.current.delete(key);
          pump();
        });
    }
  }, [api, videoId, caches, wanted, frameCount]);

  useEffect(pump, [pump, frame, settled, options.playing, options.speed, options.loop, options.zoomed, options.range.first, options.range.last]);

  /** Whether playback can show the frame now. */
  const isReady = useCallback(
    (index: number) => caches[playSize].has(frameKey(playSize, index)) || caches.full.has(frameKey("full", index)),
    [caches, playSize],
  );

  // Playing, the playback size first, so the picture does not sharpen and soften frame to
  // frame; paused, the full frame when it is there.
  const order: FrameSize[] = options.playing && playSize === "proxy" ? ["proxy", "full"] : ["full", "proxy"];
  const size = order.find((s) => caches[s].has(frameKey(s, frame))) ?? "proxy";
  const bitmap = caches[size].get(frameKey(size, frame)) ?? null;
  const plate = useMemo<Plate | null>(() => (bitmap ? { bitmap, index: frame, size } : null), [bitmap, frame, size]);
  return { plate, isReady, error, ahead: aheadOf(playSize, options.speed) };
}
