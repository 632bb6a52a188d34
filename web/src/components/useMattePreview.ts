/** The export's matte of the selected object on the paused frame, from the matte endpoint with
 * the matte panel's settings: the same code and the same bytes as an 8-bit PNG export. */
import { useEffect, useState } from "react";
import type { ApiClient } from "../api/client";
import { ApiError } from "../api/errors";
import type { FrameMask, Matte } from "../api/types";
import { matteQuery } from "../viewer/matte";

/** Settings typed in quick succession ask once. */
const DELAY_MS = 200;

export interface MattePreview {
  /** What the preview shows; null while there is none. */
  url: string | null;
  /** The frame and query it was made for: it is shown only while they are current. */
  key: string | null;
  status: "off" | "loading" | "ready" | "none" | "failed";
  ms: number | null;
}

interface Options {
  on: boolean;
  playing: boolean;
  frame: number;
  objectId: number | null;
  matte: Matte;
  /** The object's mask on the frame: a new one (a prompt) asks again. */
  mask: FrameMask | undefined;
}

export function previewKey(frame: number, objectId: number, matte: Matte): string {
  return `${frame}?${matteQuery(objectId, matte)}`;
}

const off: MattePreview = { url: null, key: null, status: "off", ms: null };

export function useMattePreview(api: ApiClient, videoId: string, options: Options): MattePreview {
  const { on, playing, frame, objectId, matte, mask } = options;
  const [preview, setPreview] = useState<MattePreview>(off);
  const active = on && !playing && objectId !== null;
  const key = active ? previewKey(frame, objectId, matte) : null;

  useEffect(() => {
    if (key === null || objectId === null) return;
    const abort = new AbortController();
    const timer = window.setTimeout(() => {
      setPreview((p) => ({ ...p, status: "loading" }));
      const began = performance.now();
      api.matte(videoId, frame, matteQuery(objectId, matte), abort.signal).then(
        (blob) => abort.signal.aborted || setPreview({ url: URL.createObjectURL(blob), key, status: "ready", ms: performance.now() - began }),
        (err: unknown) => {
          if (abort.signal.aborted) return;
          // 404: the object has no mask on this frame yet.
          const status = err instanceof ApiError && err.status === 404 ? "none" : "failed";
          setPreview({ url: null, key, status, ms: null });
        },
      );
    }, DELAY_MS);
    return () => {
      window.clearTimeout(timer);
      abort.abort();
    };
    // `key` stands for frame, object and settings; `mask` for the mask they shape.
  }, [api, videoId, key, mask]);

  useEffect(() => {
    const url = preview.url;
    return () => {
      if (url) URL.revokeObjectURL(url);
    };
  }, [preview.url]);

  return active ? preview : off;
}
