/** Frame images as object URLs, fetched with the caller's token, cached and prefetched. */
import { useEffect, useRef, useState } from "react";
import type { ApiClient } from "../api/client";

const PREFETCH = 4;
const KEEP = 300; // object URLs held at most; the oldest are released first

export function useFrames(api: ApiClient, videoId: string, frame: number, frameCount: number) {
  const cache = useRef(new Map<number, Promise<string>>());
  const [urls, setUrls] = useState<Record<number, string>>({});
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    const held = cache.current;
    return () => {
      for (const url of held.values()) void url.then(URL.revokeObjectURL, () => {});
      held.clear();
    };
  }, [videoId]);

  useEffect(() => {
    if (frameCount === 0) return;
    const wanted = [frame];
    for (let k = 1; k <= PREFETCH; k += 1) if (frame + k < frameCount) wanted.push(frame + k);
    for (const index of wanted) {
      if (cache.current.has(index)) continue;
      const loading = api.frame(videoId, index).then((blob) => URL.createObjectURL(blob));
      cache.current.set(index, loading);
      loading.then(
        (url) => setUrls((all) => ({ ...all, [index]: url })),
        (err) => {
          cache.current.delete(index);
          if (index === frame) setError(err);
        },
      );
    }
    while (cache.current.size > KEEP) {
      const oldest = cache.current.keys().next().value as number;
      void cache.current.get(oldest)!.then(URL.revokeObjectURL, () => {});
      cache.current.delete(oldest);
      setUrls(({ [oldest]: _gone, ...rest }) => rest);
    }
  }, [api, videoId, frame, frameCount]);

  return { url: urls[frame] ?? null, error };
}
