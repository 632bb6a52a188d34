/** The masks of the frames around the playhead (maskWindow.ts): read in chunks as the playhead
 * moves, let go of when it has moved far away (their scores stay for the timeline), and read
 * again after a propagation. Masks streamed by a running propagation land in the same table. */
import { useCallback, useEffect, useRef, useState, type Dispatch } from "react";
import type { ApiClient } from "../api/client";
import type { EditorAction, MaskTable } from "../state/editor";
import { inSpans, keptSpans, maskReads } from "../viewer/maskWindow";
import type { PlayRange } from "../viewer/playback";

interface Options {
  ready: boolean;
  frame: number;
  frameCount: number;
  /** The loop being played, read whole when it is short. */
  loop: PlayRange | null;
  masks: MaskTable;
}

export function useMaskWindow(api: ApiClient, videoId: string, options: Options, dispatch: Dispatch<EditorAction>, onError: (error: unknown) => void) {
  const { ready, frame, frameCount, loop, masks } = options;
  // Frames read or being read; `reading` those whose answer has not come yet.
  const loaded = useRef(new Set<number>());
  const reading = useRef(new Set<number>());
  const [generation, setGeneration] = useState(0);
  const loopFirst = loop?.first ?? null;
  const loopLast = loop?.last ?? null;

  useEffect(() => {
    loaded.current = new Set();
    reading.current = new Set();
  }, [videoId]);

  useEffect(() => {
    if (!ready || frameCount === 0) return;
    const held = loaded.current;
    const pending = reading.current;
    const playLoop = loopFirst === null || loopLast === null ? null : { first: loopFirst, last: loopLast };
    for (const span of maskReads(frame, frameCount, (f) => held.has(f), playLoop)) {
      const frames: number[] = [];
      for (let f = span.first; f <= span.last; f += 1) frames.push(f);
      frames.forEach((f) => (held.add(f), pending.add(f)));
      api.masks(videoId, span.first, span.last).then(
        (answer) => {
          frames.forEach((f) => pending.delete(f));
          if (loaded.current !== held) return; // read again since: the newer read covers these
          dispatch({ type: "masks", masks: answer.flatMap((f) => f.masks) });
          setGeneration((g) => g + 1);
        },
        (err: unknown) => {
          frames.forEach((f) => (held.delete(f), pending.delete(f)));
          onError(err); // the next move of the playhead tries again
        },
      );
    }
  }, [api, videoId, ready, frame, frameCount, loopFirst, loopLast, generation, dispatch, onError]);

  // Let go of the masks far from the playhead, whether read or streamed.
  useEffect(() => {
    if (frameCount === 0) return;
    const playLoop = loopFirst === null || loopLast === null ? null : { first: loopFirst, last: loopLast };
    const kept = keptSpans(frame, frameCount, playLoop);
    for (const f of loaded.current) if (!inSpans(f, kept)) loaded.current.delete(f);
    dispatch({ type: "keepMasks", spans: kept });
  }, [frame, frameCount, loopFirst, loopLast, masks, dispatch]);

  /** Reads the window again (after a propagation, in case a streamed event was missed). */
  const reload = useCallback(() => {
    loaded.current = new Set();
    reading.current = new Set();
    setGeneration((g) => g + 1);
  }, []);

  /** Whether the frame's masks have been read (the overlay shows all there is). */
  const isLoaded = (index: number) => loaded.current.has(index) && !reading.current.has(index);
  return { reload, isLoaded };
}
