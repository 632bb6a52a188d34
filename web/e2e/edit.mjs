// The editing flow (the issue's), its phases in order, and the first of them: sign up and
// upload, an object added, renamed, recoloured and clicked, corrections, and propagation. The
// later phases are in edit-refine.mjs, edit-transfer.mjs and edit-find.mjs.
import { args, longWait } from "./config.mjs";
import { findAll } from "./edit-find.mjs";
import { refine, reload, updateStale } from "./edit-refine.mjs";
import { exportSequence, importMatte } from "./edit-transfer.mjs";
import { frameNumber, frameShown, matteMismatch, overlay, prompted, settled, waitForOverlay } from "./helpers.mjs";
import { screenshot, step } from "./report.mjs";

/** Sign up, upload, click the object, correct, propagate, refine, undo and redo, update the
 * stale frames, reload, export, import a matte, find all: each step checked as it goes. */
export async function editFlow(page) {
  await signUpAndUpload(page);
  const { before, box } = await clickObject(page);
  await correct(page, box);
  await propagate(page);
  await refine(page, before);
  await updateStale(page);
  await reload(page);
  await exportSequence(page);
  await importMatte(page);
  await findAll(page);
}

/** Signs up, uploads the clip (recording its progress bar) and opens it. */
async function signUpAndUpload(page) {
  await page.goto(args.url);
  await page.getByRole("button", { name: /create an account/i }).click();
  const email = `e2e-${Date.now()}@example.com`;
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill("a long password 123");
  await page.getByRole("button", { name: "Sign up" }).click();
  await page.getByTestId("user-email").filter({ hasText: email }).waitFor();
  step("signed_up", { email, screenshot: await screenshot(page, "signed-up") });

  // Record what the upload progress bar showed: a small clip uploads too fast to poll for it.
  await page.evaluate(() => {
    window.__uploadProgress = [];
    new MutationObserver(() => {
      const bar = document.querySelector('[data-testid="upload-progress"] progress');
      if (bar) window.__uploadProgress.push([bar.value, bar.max]);
    }).observe(document.body, { subtree: true, childList: true, attributes: true });
  });
  await page.getByTestId("upload-input").setInputFiles(args.video);
  const row = page.getByTestId("video-row").first();
  await row.waitFor();
  await page.locator('[data-testid="video-row"][data-status="ready"]').waitFor({ timeout: longWait });
  const progress = await page.evaluate(() => window.__uploadProgress);
  step("uploaded", {
    progress_seen: progress.length > 0,
    progress_max: Math.max(0, ...progress.map(([value, max]) => value / max)),
    details: await row.locator("td").nth(2).textContent(),
    screenshot: await screenshot(page, "ready"),
  });

  await row.getByRole("link").click();
  await frameShown(page);
}

/** Adds an object, renames, recolours and categorises it, then clicks it on frame 0. Returns
 * the overlay before the click (its size is the source resolution) and the click layer's box. */
async function clickObject(page) {
  await page.getByLabel("New object name").fill("disc");
  await page.getByRole("button", { name: "Add object" }).click();
  await page.getByTestId("object-row").filter({ hasText: "disc" }).waitFor();
  // Rename and recolour through the API's PATCH; the export's file names show the new name.
  await page.getByRole("button", { name: "Rename disc" }).click();
  await page.getByLabel("New name for disc").fill("ball");
  await page.getByLabel("New name for disc").press("Enter");
  await page.getByRole("button", { name: "Rename ball" }).waitFor();
  // Listening before the change: a PATCH answered before the listener was set would be missed.
  await Promise.all([
    page.waitForResponse((r) => r.request().method() === "PATCH" && r.ok() && r.request().postDataJSON()?.color === "#00ff00"),
    page.getByLabel("Colour of ball").fill("#00ff00"),
  ]);
  // The category (the class in dataset exports) is saved by PATCH when the field is left.
  const category = page.getByLabel("Category of ball");
  await category.fill("sports ball");
  await Promise.all([
    page.waitForResponse((r) => r.request().method() === "PATCH" && r.ok() && r.request().postDataJSON()?.category === "sports ball"),
    category.press("Enter"),
  ]);
  const before = await overlay(page);
  if (before.painted !== 0) throw new Error(`overlay painted before any click: ${before.painted}`);

  // The generated clip's disc sits at 20% of the width on frame 0, half-way down.
  const layer = page.getByTestId("click-layer");
  const box = await layer.boundingBox();
  const sx = Math.round(before.width * 0.2);
  const sy = Math.round(before.height / 2);
  const began = Date.now();
  await layer.click({ position: { x: (sx / before.width) * box.width, y: (sy / before.height) * box.height } });
  const after = await waitForOverlay(page, (s) => s.painted > 0, "click");
  step("clicked", {
    matte: await matteMismatch(page, 0, 1),
    keyframe_markers: await page.getByTestId("keyframe-marker").count(),
    seconds: (Date.now() - began) / 1000,
    painted_before: before.painted,
    painted_after: after.painted,
    colors: after.colors,
    screenshot: await screenshot(page, "clicked"),
  });
  return { before, box };
}

/** Corrections: an alt-click (negative) on frame 0 away from the disc, then a box on frame 5.
 * Each is one more prompt, and the overlay keeps showing exactly the API's matte. */
async function correct(page, box) {
  const layer = page.getByTestId("click-layer");
  const [negative] = await Promise.all([
    page.waitForResponse(prompted, { timeout: longWait }),
    layer.click({ modifiers: ["Alt"], position: { x: box.width * 0.85, y: box.height * 0.2 } }),
  ]);
  await settled(page);
  const negativeMatte = await matteMismatch(page, 0, 1);
  await page.evaluate(() => document.activeElement?.blur()); // keys go to the editor
  for (let i = 0; i < 5; i += 1) await page.keyboard.press("ArrowRight");
  await page.getByRole("radio", { name: "box", exact: true }).check();
  const frameBox = await layer.boundingBox();
  const [boxed] = await Promise.all([
    page.waitForResponse(prompted, { timeout: longWait }),
    (async () => {
      await page.mouse.move(frameBox.x + frameBox.width * 0.15, frameBox.y + frameBox.height * 0.3);
      await page.mouse.down();
      await page.mouse.move(frameBox.x + frameBox.width * 0.4, frameBox.y + frameBox.height * 0.7, { steps: 5 });
      await page.mouse.up();
    })(),
  ]);
  await settled(page);
  step("corrected", {
    frame: await frameNumber(page),
    negative_labels: negative.request().postDataJSON().labels,
    negative_matte: negativeMatte,
    box: boxed.request().postDataJSON().box,
    box_matte: await matteMismatch(page, 5, 1),
    keyframe_markers: await page.getByTestId("keyframe-marker").count(),
    screenshot: await screenshot(page, "corrected"),
  });
  await page.getByRole("radio", { name: "+ click", exact: true }).check();
  await page.evaluate(() => document.activeElement?.blur());
  for (let i = 0; i < 5; i += 1) await page.keyboard.press("ArrowLeft");
}

/** Propagates, reads the confidence strip, steps over propagated frames, and jumps to the next
 * low-score frame. */
async function propagate(page) {
  await page.getByRole("button", { name: "Propagate" }).click();
  const propagation = page.locator('[data-testid="propagation-status"][data-status="succeeded"]');
  await propagation.waitFor({ timeout: longWait });
  const streamedFrames = Number(await propagation.getAttribute("data-streamed-frames"));
  // Cells of the confidence strip that carry a score (grey #3a3a3a means no mask on that frame).
  const scoredFrames = await page.getByTestId("confidence-strip").evaluate((canvas) => {
    const { data } = canvas.getContext("2d").getImageData(0, 0, canvas.width, 1);
    let scored = 0;
    for (let i = 0; i < data.length; i += 4) if (!(data[i] === 0x3a && data[i + 1] === 0x3a)) scored += 1;
    return { scored, cells: canvas.width };
  });
  const painted = {};
  await page.evaluate(() => document.activeElement?.blur()); // keys go to the editor, not an input
  for (const key of ["Shift+ArrowRight", "ArrowRight", "Shift+ArrowRight"]) {
    await page.keyboard.press(key);
    const frame = await frameNumber(page);
    painted[frame] = (await waitForOverlay(page, (s) => s.painted > 0, `frame ${frame}`)).painted;
  }
  const matte = await matteMismatch(page, await frameNumber(page), 1);
  const shot = await screenshot(page, "propagated");
  // With the threshold at 1 every scored frame is "low": the jump goes to the next frame.
  await page.getByLabel("low below").fill("1");
  const jumpFrom = await frameNumber(page);
  await page.getByRole("button", { name: "Next low-score frame" }).click();
  const lowScoreJump = { from: jumpFrom, to: await frameNumber(page) };
  step("propagated", {
    painted,
    matte,
    streamed_frames: streamedFrames,
    confidence_strip: scoredFrames,
    low_score_jump: lowScoreJump,
    screenshot: shot,
  });
}
