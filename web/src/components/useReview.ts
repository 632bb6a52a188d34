/** Everything the editor needs to review a shot, in one hook: the viewer's settings (overlay,
 * plate, solo/hide, speed, loop, zoom, matte), the plates, playback, the mask window, the matte
 * preview and the timecode. */
import { useCallback, useEffect, useMemo, useReducer, type Dispatch } from "react";
import type { ApiClient } from "../api/client";
import type { EditorAction, EditorState } from "../state/editor";
import { playRange } from "../viewer/playback";
import { frameTimecode } from "../viewer/timecode";
import { initialViewer, PLATE_KEY, viewerReducer, type ViewerAction } from "../viewer/viewerState";
import { useMaskWindow } from "./useMaskWindow";
import { previewKey, useMattePreview } from "./useMattePreview";
import { usePlates } from "./usePlates";
import { usePlayback } from "./usePlayback";

/** Holding the plate key (backslash, or the key in its place on other layouts) shows the plate
 * alone; letting go, or leaving the window, brings the overlay back. */
function usePlateKey(dispatch: Dispatch<ViewerAction>) {
  useEffect(() => {
    const typing = (event: KeyboardEvent) => ["INPUT", "SELECT", "TEXTAREA"].includes((event.target as HTMLElement).tagName);
    const isPlateKey = (event: KeyboardEvent) => event.key === PLATE_KEY || event.code === "Backslash";
    const down = (event: KeyboardEvent) => {
      if (!isPlateKey(event) || typing(event)) return;
      event.preventDefault();
      dispatch({ type: "holdPlate", held: true });
    };
    const up = (event: KeyboardEvent) => isPlateKey(event) && dispatch({ type: "holdPlate", held: false });
    const release = () => dispatch({ type: "holdPlate", held: false });
    window.addEventListener("keydown", down);
    window.addEventListener("keyup", up);
    window.addEventListener("blur", release);
    return () => {
      window.removeEventListener("keydown", down);
      window.removeEventListener("keyup", up);
      window.removeEventListener("blur", release);
    };
  }, [dispatch]);
}

export function useReview(api: ApiClient, videoId: string, state: EditorState, dispatch: Dispatch<EditorAction>, onError: (error: unknown) => void) {
  const [viewer, viewerDispatch] = useReducer(viewerReducer, initialViewer);
  usePlateKey(viewerDispatch);
  const { video, frame, frameCount, playing, selected } = state;
  const ready = video?.status === "ready";
  const fps = video?.fps ?? 25;
  const { first, last } = playRange(state.range, frameCount, viewer.loop);
  const range = useMemo(() => ({ first, last }), [first, last]);

  const plates = usePlates(api, videoId, ready ? video : null, frame, {
    playing, speed: viewer.speed, range, loop: viewer.loop, zoomed: viewer.zoom > 1,
  });
  const onFrame = useCallback((f: number) => dispatch({ type: "playhead", frame: f }), [dispatch]);
  const onStop = useCallback(() => dispatch({ type: "togglePlay" }), [dispatch]);
  const playback = usePlayback({ playing, frame, fps, speed: viewer.speed, range, loop: viewer.loop, ahead: plates.ahead, isReady: plates.isReady, onFrame, onStop });
  const masks = useMaskWindow(api, videoId, { ready, frame, frameCount, loop: viewer.loop ? range : null, masks: state.masks }, dispatch, onError);
  const preview = useMattePreview(api, videoId, {
    on: viewer.mattePreview, playing, frame, objectId: selected, matte: viewer.matte,
    mask: selected === null ? undefined : state.masks[frame]?.[selected],
  });
  // The preview is shown only for the frame, object and settings it was made for.
  const current = selected === null ? null : previewKey(frame, selected, viewer.matte);
  const previewUrl = preview.url !== null && preview.key === current ? preview.url : null;
  const timecode = video ? frameTimecode(video.timecode, fps, frame) : "";
  return { viewer, viewerDispatch, plates, playback, masks, preview, previewUrl, timecode };
}
