// The review tools, after the editing flow: the overlay modes, opacity, solo and hide, and the
// plate key held on the first clip; then the matte export (review-matte.mjs) and 1080p loop
// playback (review-playback.mjs).
import { REFINE_FRAME } from "./config.mjs";
import {
  atFrame,
  frameNumber,
  frameShown,
  keys,
  matteMismatch,
  outlineVersusFill,
  overlayIn,
  overlayMaxAlpha,
  saveMask,
  waitFor,
  waitForOverlay,
} from "./helpers.mjs";
import { reviewScreenshot, step } from "./report.mjs";
import { matteExport } from "./review-matte.mjs";
import { playback } from "./review-playback.mjs";

/** The review tools, after the editing flow: on the first clip, then on a 1080p one. */
export async function reviewFlow(page) {
  await review(page);
  await matteExport(page);
  await playback(page);
}

/** The overlay modes, opacity, solo and hide on a propagated frame, and the plate key held.
 * The ball is selected and soloed first, so other objects (if any) do not count. */
async function review(page) {
  await keys(page, "Home", "Shift+ArrowRight");
  await frameShown(page);
  const ball = page.getByTestId("object-row").filter({ hasText: "ball" });
  await ball.getByRole("button", { name: "ball", exact: true }).click();
  await ball.getByRole("button", { name: "Solo ball" }).click();
  const soloed = await ball.getByRole("button", { name: "Solo ball" }).getAttribute("aria-pressed");
  const fill = await waitForOverlay(page, (s) => s.painted > 0, "frame 10");
  const soloMatte = await matteMismatch(page, 10, 1);
  await saveMask(page, "fill", null, 1);
  const painted = {};
  let outline = null;
  for (const mode of ["fill", "outline", "matte", "off"]) {
    await page.getByRole("radio", { name: mode, exact: true }).check();
    painted[mode] = (await overlayIn(page, mode)).painted;
    if (mode === "outline") outline = await outlineVersusFill(page, "fill");
  }
  await page.getByRole("radio", { name: "fill", exact: true }).check();
  await overlayIn(page, "fill");
  const alphaBefore = await overlayMaxAlpha(page);
  await page.getByLabel("Overlay opacity").fill("1");
  const alphaFull = await waitFor(() => overlayMaxAlpha(page), (alpha) => alpha === 255, "opacity 1");
  await page.getByLabel("Overlay opacity").fill("0.6");
  await waitFor(() => overlayMaxAlpha(page), (alpha) => alpha === alphaBefore, "opacity 0.6");
  // Out of solo, hidden: none of the ball's green is painted; shown again, it is back.
  await ball.getByRole("button", { name: "Solo ball" }).click();
  await ball.getByRole("button", { name: "Hide ball" }).click();
  const green = (s) => s.colors.filter((c) => c === "0,255,0").length;
  const hidden = await waitForOverlay(page, (s) => green(s) === 0, "ball hidden");
  await ball.getByRole("button", { name: "Hide ball" }).click();
  const shownAgain = await waitForOverlay(page, (s) => green(s) === 1, "ball shown again");
  step("overlay_modes", {
    frame: await frameNumber(page),
    soloed,
    painted,
    outline,
    matte: soloMatte,
    alpha: { default: alphaBefore, opacity_1: alphaFull },
    hidden_colors: hidden.colors,
    shown_again_colors: shownAgain.colors,
    size: [fill.width, fill.height],
    screenshot: await reviewScreenshot(page, "overlay"),
  });

  // Backslash held on keyframe 15: the plate alone (no overlay, no click marks); let go, the
  // overlay and the marks are back.
  await keys(page, "ArrowRight", "ArrowRight", "ArrowRight", "ArrowRight", "ArrowRight");
  await atFrame(page, REFINE_FRAME);
  await frameShown(page);
  const before = await waitForOverlay(page, (s) => s.painted > 0, `frame ${REFINE_FRAME}`);
  const mark = page.getByTestId("prompt-marks").locator("circle").first();
  const markedBefore = await mark.isVisible();
  await page.keyboard.down("\\");
  const held = await overlayIn(page, "off");
  const marksHeld = await mark.isVisible();
  const heldShot = await reviewScreenshot(page, "plate-held");
  await page.keyboard.up("\\");
  const released = await overlayIn(page, "fill");
  step("plate_held", {
    frame: await frameNumber(page),
    painted_before: before.painted,
    painted_held: held.painted,
    marks_visible: [markedBefore, marksHeld, await mark.isVisible()],
    painted_released: released.painted,
    screenshot: heldShot,
  });
}
