import { describe, expect, it } from "vitest";
import { initialViewer, isShown, paintedMode, viewerReducer, type ViewerAction, type ViewerState } from "./viewerState";

function run(...actions: ViewerAction[]): ViewerState {
  return actions.reduce(viewerReducer, initialViewer);
}

describe("viewer state", () => {
  it("solo shows one object alone; soloing it again shows the others", () => {
    let state = run({ type: "toggleSolo", objectId: 2 });
    expect([1, 2, 3].map((id) => isShown(state, id))).toEqual([false, true, false]);
    state = viewerReducer(state, { type: "toggleSolo", objectId: 2 });
    expect([1, 2, 3].map((id) => isShown(state, id))).toEqual([true, true, true]);
  });

  it("hidden objects stay hidden; soloing a hidden one shows it, hiding the soloed one ends the solo", () => {
    let state = run({ type: "toggleHidden", objectId: 1 }, { type: "toggleHidden", objectId: 3 });
    expect([1, 2, 3].map((id) => isShown(state, id))).toEqual([false, true, false]);
    state = viewerReducer(state, { type: "toggleSolo", objectId: 1 });
    expect([1, 2, 3].map((id) => isShown(state, id))).toEqual([true, false, false]);
    state = viewerReducer(state, { type: "toggleHidden", objectId: 1 });
    expect(state.solo).toBeNull();
    expect([1, 2, 3].map((id) => isShown(state, id))).toEqual([false, true, false]);
  });

  it("holding the plate paints nothing, whatever the mode, until it is let go", () => {
    let state = run({ type: "mode", mode: "outline" }, { type: "holdPlate", held: true });
    expect(paintedMode(state)).toBe("off");
    state = viewerReducer(state, { type: "holdPlate", held: false });
    expect(paintedMode(state)).toBe("outline");
  });

  it("speed and zoom snap to the offered steps; opacity stays within 0..1", () => {
    expect(run({ type: "speed", speed: 0.3 }).speed).toBe(0.25);
    expect(run({ type: "speed", speed: 5 }).speed).toBe(2);
    expect(run({ type: "zoom", zoom: 3.5 }).zoom).toBe(4);
    expect(run({ type: "opacity", value: 1.4 }).opacity).toBe(1);
    expect(run({ type: "opacity", value: Number.NaN }).opacity).toBe(initialViewer.opacity);
  });

  it("choosing an overlay mode ends the matte preview", () => {
    const state = run({ type: "mattePreview", on: true }, { type: "mode", mode: "matte" });
    expect(state.mattePreview).toBe(false);
  });
});
