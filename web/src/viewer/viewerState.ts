/** How the frame is looked at, apart from what is edited: the overlay mode and opacity, the
 * plate held in view, objects hidden or soloed, playback speed and loop, zoom, and the matte
 * settings the matte panel previews and the export dialog starts from. A pure reducer. */
import type { Matte } from "../api/types";
import { defaultMatte } from "./matte";
import type { OverlayMode } from "./overlay";
import { SPEEDS } from "./playback";

export const ZOOMS = [1, 2, 4] as const;

export interface ViewerState {
  mode: OverlayMode;
  /** 0..1, how strongly the overlay covers the plate. */
  opacity: number;
  /** The plate alone while the key is held: no overlay, no marks. */
  plateHeld: boolean;
  hidden: readonly number[];
  solo: number | null;
  speed: number;
  loop: boolean;
  /** 1 fits the frame to the view; 2 and 4 magnify it (full-resolution frames even in playback). */
  zoom: number;
  matte: Matte;
  /** Show the matte endpoint's preview of `matte` on the frame instead of the overlay. */
  mattePreview: boolean;
}

export type ViewerAction =
  | { type: "mode"; mode: OverlayMode }
  | { type: "opacity"; value: number }
  | { type: "holdPlate"; held: boolean }
  | { type: "toggleHidden"; objectId: number }
  | { type: "toggleSolo"; objectId: number }
  | { type: "speed"; speed: number }
  | { type: "loop"; loop: boolean }
  | { type: "zoom"; zoom: number }
  | { type: "matte"; matte: Matte }
  | { type: "mattePreview"; on: boolean };

export const initialViewer: ViewerState = {
  mode: "fill",
  opacity: 0.6,
  plateHeld: false,
  hidden: [],
  solo: null,
  speed: 1,
  loop: false,
  zoom: 1,
  matte: defaultMatte,
  mattePreview: false,
};

function nearest(options: readonly number[], value: number): number {
  return options.reduce((best, o) => (Math.abs(o - value) < Math.abs(best - value) ? o : best));
}

export function viewerReducer(state: ViewerState, action: ViewerAction): ViewerState {
  switch (action.type) {
    case "mode":
      return { ...state, mode: action.mode, mattePreview: false };
    case "opacity":
      return { ...state, opacity: Math.min(1, Math.max(0, Number.isFinite(action.value) ? action.value : state.opacity)) };
    case "holdPlate":
      return state.plateHeld === action.held ? state : { ...state, plateHeld: action.held };
    case "toggleHidden": {
      const hidden = state.hidden.includes(action.objectId)
        ? state.hidden.filter((id) => id !== action.objectId)
        : [...state.hidden, action.objectId];
      // Hiding the soloed object ends the solo, so it does not stay shown.
      const solo = state.solo === action.objectId && hidden.includes(action.objectId) ? null : state.solo;
      return { ...state, hidden, solo };
    }
    case "toggleSolo":
      return {
        ...state,
        solo: state.solo === action.objectId ? null : action.objectId,
        hidden: state.hidden.filter((id) => id !== action.objectId),
      };
    case "speed":
      return { ...state, speed: nearest(SPEEDS, action.speed) };
    case "loop":
      return { ...state, loop: action.loop };
    case "zoom":
      return { ...state, zoom: nearest(ZOOMS, action.zoom) };
    case "matte":
      return { ...state, matte: action.matte };
    case "mattePreview":
      return { ...state, mattePreview: action.on };
  }
}

/** Whether an object's mask is drawn: the soloed one alone, else every one not hidden. */
export function isShown(state: ViewerState, objectId: number): boolean {
  return state.solo !== null ? state.solo === objectId : !state.hidden.includes(objectId);
}

/** The mode the overlay is painted in: nothing while the plate is held. */
export function paintedMode(state: ViewerState): OverlayMode {
  return state.plateHeld ? "off" : state.mode;
}

/** The viewer's keys: backslash held shows the plate alone. */
export const PLATE_KEY = "\\";
