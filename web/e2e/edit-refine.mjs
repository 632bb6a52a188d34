// The editing flow's revisions: a propagated frame refined, undone and redone, the stale frames
// updated, and a reload that brings back the stored keyframes and clicks.
import { longWait, REFINE_FRAME } from "./config.mjs";
import {
  frameNumber,
  frameShown,
  keyframeRows,
  marksOnKeyframe,
  matteMismatch,
  overlayVersus,
  paintedPoint,
  promptMarks,
  prompted,
  propagateWith,
  saveMask,
  settled,
  staleSpans,
  waitForOverlay,
  waitForStale,
} from "./helpers.mjs";
import { screenshot, step } from "./report.mjs";

/** Refine a propagated frame: a negative click inside its mask. Undo gives back exactly the
 * mask from before the click (the API's matte saved then), redo the refined one.
 * `before` is the overlay read before the first click: its size is the source resolution. */
export async function refine(page, before) {
  const layer = page.getByTestId("click-layer");
  await page.evaluate(() => document.activeElement?.blur());
  while ((await frameNumber(page)) > REFINE_FRAME) await page.keyboard.press("ArrowLeft");
  await waitForOverlay(page, (s) => s.painted > 0, `frame ${REFINE_FRAME}`);
  await saveMask(page, "before", REFINE_FRAME, 1);
  const point = await paintedPoint(page);
  const layerBox = await layer.boundingBox();
  const clickedAt = Date.now();
  const [refinement] = await Promise.all([
    page.waitForResponse(prompted, { timeout: longWait }),
    layer.click({ modifiers: ["Alt"], position: { x: (point.x / before.width) * layerBox.width, y: (point.y / before.height) * layerBox.height } }),
  ]);
  await settled(page);
  const refineSeconds = (Date.now() - clickedAt) / 1000;
  await saveMask(page, "refined", null, 1);
  step("refined", {
    frame: await frameNumber(page),
    prompt: refinement.request().postDataJSON(),
    source: (await refinement.json()).mask?.source ?? null,
    seconds: refineSeconds,
    matte: await matteMismatch(page, REFINE_FRAME, 1),
    changed_from_before: await overlayVersus(page, "before"),
    keyframe_markers: await page.getByTestId("keyframe-marker").count(),
    marks: await promptMarks(page),
    stale_spans: await waitForStale(page, (n) => n > 0, "after the refinement"),
    screenshot: await screenshot(page, "refined"),
  });

  const deleted = (r) => r.request().method() === "DELETE" && r.url().includes("/prompts/") && r.ok();
  await page.evaluate(() => document.activeElement?.blur());
  await Promise.all([page.waitForResponse(deleted, { timeout: longWait }), page.keyboard.press("Control+z")]);
  await settled(page);
  step("undone", {
    frame: await frameNumber(page),
    versus_before: await overlayVersus(page, "before"),
    matte: await matteMismatch(page, REFINE_FRAME, 1),
    keyframe_markers: await page.getByTestId("keyframe-marker").count(),
    marks: await promptMarks(page),
    stale_spans: await staleSpans(page),
    screenshot: await screenshot(page, "undone"),
  });

  const [redone] = await Promise.all([page.waitForResponse(prompted, { timeout: longWait }), page.keyboard.press("Control+Shift+z")]);
  await settled(page);
  step("redone", {
    prompt: redone.request().postDataJSON(),
    versus_refined: await overlayVersus(page, "refined"),
    matte: await matteMismatch(page, REFINE_FRAME, 1),
    keyframe_markers: await page.getByTestId("keyframe-marker").count(),
    stale_spans: await waitForStale(page, (n) => n > 0, "after the redo"),
  });
}

/** "Update stale frames" propagates the selected object over its stale spans only. */
export async function updateStale(page) {
  const update = await propagateWith(page, page.getByTestId("update-stale"));
  step("stale_updated", {
    request: update.request().postDataJSON(),
    stale_spans: await waitForStale(page, (n) => n === 0, "after the update"),
    matte: await matteMismatch(page, REFINE_FRAME, 1),
  });
}

/** A reload shows the same keyframes and the same clicks, drawn from the stored prompts. */
export async function reload(page) {
  const keyframesBefore = await keyframeRows(page);
  const marksBefore = {};
  for (const f of keyframesBefore) marksBefore[f] = await marksOnKeyframe(page, f);
  await page.reload();
  await frameShown(page);
  await page.getByTestId("keyframe-row").first().waitFor();
  const keyframesAfter = await keyframeRows(page);
  const marksAfter = {};
  for (const f of keyframesAfter) marksAfter[f] = await marksOnKeyframe(page, f);
  await frameShown(page);
  step("reloaded", {
    keyframes_before: keyframesBefore,
    keyframes_after: keyframesAfter,
    keyframe_markers: await page.getByTestId("keyframe-marker").count(),
    category: await page.getByLabel("Category of ball").inputValue(),
    marks_before: marksBefore,
    marks_after: marksAfter,
    matte: await matteMismatch(page, keyframesAfter.at(-1), 1),
    screenshot: await screenshot(page, "reloaded"),
  });
}
