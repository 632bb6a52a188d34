// The end-to-end flow in headless Chromium (Debian's package, driven by playwright-core):
// sign up, upload a clip, click the object, propagate, refine a propagated frame with a negative
// click, undo and redo it, update the stale frames, reload (the stored keyframes and clicks come
// back), export a PNG sequence and download it, import a matte, and find all instances of a
// text and an exemplar box (each a new object) and propagate them.
//
//   node web/e2e/flow.mjs --url http://127.0.0.1:8000 --video clip.mp4 --out DIR
//
// Prints one JSON line per step; screenshots and the download go to DIR. Exits non-zero on the
// first step that does not do what it should.
import { mkdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { chromium } from "playwright-core";

const { values: args } = parseArgs({
  options: {
    url: { type: "string" },
    video: { type: "string" },
    out: { type: "string" },
    chromium: { type: "string", default: process.env.CHROMIUM ?? "/usr/bin/chromium" },
    "timeout-s": { type: "string", default: "240" },
  },
});
if (!args.url || !args.video || !args.out) {
  console.error("usage: node flow.mjs --url URL --video FILE --out DIR");
  process.exit(2);
}
const out = resolve(args.out);
mkdirSync(out, { recursive: true });
const longWait = Number(args["timeout-s"]) * 1000;
// The propagated (not prompted) frame that the flow refines with a negative click.
const REFINE_FRAME = 15;
// The frame that the flow imports frame 10's matte onto.
const IMPORT_FRAME = 20;

// The flags that keep Chromium off the network in this sandbox (see the machine notes).
const CHROMIUM_FLAGS = [
  "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

function step(name, facts = {}) {
  console.log(JSON.stringify({ step: name, ...facts }));
}

let shot = 0;
async function screenshot(page, name) {
  shot += 1;
  const path = join(out, `${String(shot).padStart(2, "0")}-${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** Painted overlay pixels (alpha > 0), their colours, and the canvas size (source resolution). */
async function overlay(page) {
  return page.$eval('[data-testid="overlay"]', (canvas) => {
    const { data } = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
    let painted = 0;
    const colors = new Set();
    for (let i = 3; i < data.length; i += 4) {
      if (data[i] === 0) continue;
      painted += 1;
      // The canvas stores premultiplied alpha, so channels come back rounded: snap them.
      colors.add([0, 1, 2].map((c) => Math.round(data[i - 3 + c] / 51) * 51).join(","));
    }
    return { painted, colors: [...colors], width: canvas.width, height: canvas.height };
  });
}

async function waitForOverlay(page, predicate, what) {
  const began = Date.now();
  for (;;) {
    const state = await overlay(page);
    if (predicate(state)) return state;
    const alert = await page.locator('[role="alert"]').allTextContents();
    if (alert.length) throw new Error(`${what}: the app shows an error: ${alert.join(" | ")}`);
    if (Date.now() - began > longWait) throw new Error(`${what}: overlay still ${JSON.stringify(state)}`);
    await page.waitForTimeout(100);
  }
}

/** In-page helpers, installed on every load: the API's PNG matte of a frame as inside flags,
 * the overlay's painted flags, and a count of the pixels where two such arrays differ. */
function installHelpers() {
  window.__e2e = {
    async matte(frameIndex, objectId) {
      const videoId = window.location.pathname.split("/").pop();
      const token = JSON.parse(localStorage.getItem("roto.tokens")).access_token;
      const response = await fetch(`/v1/videos/${videoId}/masks/${frameIndex}.png?object_id=${objectId}`, {
        headers: { Authorization: `Bearer ${token}` },
      });
      if (!response.ok) return { error: `matte: HTTP ${response.status}` };
      const bitmap = await createImageBitmap(await response.blob());
      const scratch = new OffscreenCanvas(bitmap.width, bitmap.height).getContext("2d");
      scratch.drawImage(bitmap, 0, 0);
      const data = scratch.getImageData(0, 0, bitmap.width, bitmap.height).data;
      const inside = new Uint8Array(bitmap.width * bitmap.height);
      for (let i = 0; i < inside.length; i += 1) inside[i] = data[i * 4] > 127 ? 1 : 0;
      return { width: bitmap.width, height: bitmap.height, inside };
    },
    overlay() {
      const canvas = document.querySelector('[data-testid="overlay"]');
      const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
      const inside = new Uint8Array(canvas.width * canvas.height);
      for (let i = 0; i < inside.length; i += 1) inside[i] = data[i * 4 + 3] > 0 ? 1 : 0;
      return { width: canvas.width, height: canvas.height, inside };
    },
    compare(a, b) {
      if (a.error || b.error) return { error: a.error ?? b.error };
      if (a.width !== b.width || a.height !== b.height) return { error: "size differs" };
      let mismatched = 0;
      for (let i = 0; i < a.inside.length; i += 1) if (a.inside[i] !== b.inside[i]) mismatched += 1;
      return { mismatched, inside: a.inside.reduce((n, v) => n + v, 0) };
    },
    saved: {},
  };
}

/** Pixels where the overlay disagrees with the API's own PNG matte of the frame: the check that
 * the app decodes COCO RLE at the source resolution the way the server encoded it. */
async function matteMismatch(page, frame, objectId) {
  return page.evaluate(async ([frameIndex, object]) => {
    const helpers = window.__e2e;
    return helpers.compare(await helpers.matte(frameIndex, object), helpers.overlay());
  }, [frame, objectId]);
}

/** Keeps the API's matte (or, with frame null, the overlay) under `name` for a later compare. */
async function saveMask(page, name, frame, objectId) {
  await page.evaluate(async ([key, frameIndex, object]) => {
    const helpers = window.__e2e;
    helpers.saved[key] = frameIndex === null ? helpers.overlay() : await helpers.matte(frameIndex, object);
  }, [name, frame, objectId]);
}

/** Pixels where the overlay now differs from a saved mask. */
async function overlayVersus(page, name) {
  return page.evaluate((key) => window.__e2e.compare(window.__e2e.saved[key], window.__e2e.overlay()), name);
}

/** A painted overlay pixel near the middle of the painted area, in source pixels. */
async function paintedPoint(page) {
  return page.evaluate(() => {
    const { width, inside } = window.__e2e.overlay();
    const painted = [];
    for (let i = 0; i < inside.length; i += 1) if (inside[i]) painted.push(i);
    const i = painted[Math.floor(painted.length / 2)];
    return { x: i % width, y: Math.floor(i / width) };
  });
}

/** The stored clicks and boxes drawn on the frame, as text. */
async function promptMarks(page) {
  return page.getByTestId("prompt-marks").evaluate((g) =>
    [...g.querySelectorAll("circle, rect")].map((el) =>
      el.tagName === "circle"
        ? `${el.getAttribute("class")} ${el.getAttribute("cx")},${el.getAttribute("cy")}`
        : `box ${["x", "y", "width", "height"].map((a) => el.getAttribute(a)).join(",")}`,
    ),
  );
}

async function keyframeRows(page) {
  return page.getByTestId("keyframe-row").evaluateAll((rows) => rows.map((r) => Number(r.dataset.frame)));
}

/** Goes to a keyframe through the keyframe list and reads the clicks drawn there. */
async function marksOnKeyframe(page, frame) {
  await page.locator(`[data-testid="keyframe-row"][data-frame="${frame}"] button`).first().click();
  await page.getByTestId("frame-number").filter({ hasText: `frame ${frame} /` }).waitFor();
  return promptMarks(page);
}

async function staleSpans(page) {
  return page.getByTestId("stale-span").count();
}

/** Waits until the timeline shows a stale-span count that `predicate` accepts (spans are
 * reloaded after each change). */
async function waitForStale(page, predicate, what) {
  const began = Date.now();
  for (;;) {
    const count = await staleSpans(page);
    if (predicate(count)) return count;
    const alert = await page.locator('[role="alert"]').allTextContents();
    if (alert.length) throw new Error(`${what}: the app shows an error: ${alert.join(" | ")}`);
    if (Date.now() - began > longWait) throw new Error(`${what}: ${count} stale spans`);
    await page.waitForTimeout(100);
  }
}

/** Waits until the frame image in view has loaded. */
async function frameShown(page) {
  await page.waitForFunction(() => {
    const img = document.querySelector('[data-testid="frame-image"]');
    return img && img.complete && img.naturalWidth > 0;
  }, null, { timeout: longWait });
}

async function frameNumber(page) {
  const text = await page.getByTestId("frame-number").textContent();
  return Number(/frame (\d+)/.exec(text)[1]);
}

async function run(page) {
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
  await page.getByLabel("New object name").fill("disc");
  await page.getByRole("button", { name: "Add object" }).click();
  await page.getByTestId("object-row").filter({ hasText: "disc" }).waitFor();
  // Rename and recolour through the API's PATCH; the export's file names show the new name.
  await page.getByRole("button", { name: "Rename disc" }).click();
  await page.getByLabel("New name for disc").fill("ball");
  await page.getByLabel("New name for disc").press("Enter");
  await page.getByRole("button", { name: "Rename ball" }).waitFor();
  await page.getByLabel("Colour of ball").fill("#00ff00");
  await page.waitForResponse((r) => r.request().method() === "PATCH" && r.ok());
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

  // Corrections: an alt-click (negative) on frame 0 away from the disc, then a box on frame 5.
  // Each is one more prompt, and the overlay keeps showing exactly the API's matte.
  const prompted = (r) => r.request().method() === "POST" && r.url().includes("/prompts") && r.ok();
  const settled = () => page.getByTestId("prompting").waitFor({ state: "detached", timeout: longWait });
  const [negative] = await Promise.all([
    page.waitForResponse(prompted, { timeout: longWait }),
    layer.click({ modifiers: ["Alt"], position: { x: box.width * 0.85, y: box.height * 0.2 } }),
  ]);
  await settled();
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
  await settled();
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

  // Refine a propagated frame: a negative click inside its mask. Undo gives back exactly the
  // mask from before the click (the API's matte saved then), redo the refined one.
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
  await settled();
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
  await settled();
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
  await settled();
  step("redone", {
    prompt: redone.request().postDataJSON(),
    versus_refined: await overlayVersus(page, "refined"),
    matte: await matteMismatch(page, REFINE_FRAME, 1),
    keyframe_markers: await page.getByTestId("keyframe-marker").count(),
    stale_spans: await waitForStale(page, (n) => n > 0, "after the redo"),
  });

  // "Update stale frames" propagates the selected object over its stale spans only.
  const started = (r) => r.request().method() === "POST" && r.url().includes("/propagations") && r.ok();
  const [update] = await Promise.all([page.waitForResponse(started, { timeout: longWait }), page.getByTestId("update-stale").click()]);
  const updateJob = (await update.json()).job.id;
  await page.locator(`[data-testid="propagation-status"][data-job-id="${updateJob}"][data-status="succeeded"]`).waitFor({ timeout: longWait });
  step("stale_updated", {
    request: update.request().postDataJSON(),
    stale_spans: await waitForStale(page, (n) => n === 0, "after the update"),
    matte: await matteMismatch(page, REFINE_FRAME, 1),
  });

  // A reload shows the same keyframes and the same clicks, drawn from the stored prompts.
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

  await page.getByRole("button", { name: "Export…" }).click();
  await page.getByTestId("export-format").selectOption("png_sequence");
  await page.getByRole("dialog").getByRole("button", { name: "Export" }).click();
  const link = page.getByTestId("export-download");
  await link.waitFor({ timeout: longWait });
  const [download] = await Promise.all([page.waitForEvent("download", { timeout: longWait }), link.click()]);
  const saved = join(out, download.suggestedFilename());
  await download.saveAs(saved);
  const head = readFileSync(saved).subarray(0, 4);
  if (head.toString("latin1") !== "PK\u0003\u0004") throw new Error(`the download is not a zip: ${saved}`);
  step("exported", { file: saved, screenshot: await screenshot(page, "exported") });
  await page.getByRole("dialog").getByRole("button", { name: "Close" }).click();

  // Importing a matte PNG: one of another size is refused in words; the API's own matte of
  // frame 10, imported onto frame 20, goes out as exactly the RLE the API holds for frame 10.
  const matteInput = page.getByTestId("matte-input");
  await matteInput.setInputFiles({ name: "tiny.png", mimeType: "image/png", buffer: await pngOf(page, null) });
  const refusal = await page.getByRole("alert").locator("span").first().textContent();
  await page.getByRole("alert").getByRole("button", { name: "Dismiss" }).click();
  const frame10 = await page.evaluate(async () => {
    const videoId = window.location.pathname.split("/").pop();
    const token = JSON.parse(localStorage.getItem("roto.tokens")).access_token;
    const masks = await fetch(`/v1/videos/${videoId}/masks?frame_start=10&frame_end=10&object_ids=1`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    return (await masks.json()).frames[0].masks[0].rle;
  });
  await page.evaluate(() => document.activeElement?.blur());
  while ((await frameNumber(page)) < IMPORT_FRAME) await page.keyboard.press("ArrowRight");
  await saveMask(page, "frame 10", 10, 1);
  const [imported] = await Promise.all([
    page.waitForResponse(prompted, { timeout: longWait }),
    matteInput.setInputFiles({ name: "frame10.png", mimeType: "image/png", buffer: await pngOf(page, 10) }),
  ]);
  await settled();
  const sent = imported.request().postDataJSON();
  step("imported", {
    refusal,
    frame: sent.frame_index,
    points: sent.points.length,
    sent_size: sent.mask.size,
    sent_equals_api_rle: sent.mask.counts === frame10.counts && sent.mask.size.join() === frame10.size.join(),
    record_mask: (await imported.json()).prompt.mask,
    keyframe_row: await page.locator(`[data-testid="keyframe-row"][data-frame="${IMPORT_FRAME}"] .hint`).first().textContent(),
    versus_imported: await overlayVersus(page, "frame 10"),
    alert: await page.locator('[role="alert"]').allTextContents(),
    screenshot: await screenshot(page, "imported"),
  });

  // Find all on frame 20: a text and an exemplar box drawn with Shift+drag; each instance the
  // detector finds becomes a new object, listed with its category; one click propagates them.
  await page.getByLabel("What to find").fill("disc");
  await page.getByLabel("Score threshold").fill("0");
  await page.getByLabel("Most objects").fill("2");
  const frameArea = await layer.boundingBox();
  await page.keyboard.down("Shift");
  await page.mouse.move(frameArea.x + frameArea.width * 0.1, frameArea.y + frameArea.height * 0.2);
  await page.mouse.down();
  await page.mouse.move(frameArea.x + frameArea.width * 0.35, frameArea.y + frameArea.height * 0.8, { steps: 5 });
  await page.mouse.up();
  await page.keyboard.up("Shift");
  const exemplars = await page.getByTestId("exemplar").count();
  const detected = (r) => r.request().method() === "POST" && r.url().includes("/detections");
  const [detection] = await Promise.all([
    page.waitForResponse(detected, { timeout: longWait }),
    page.getByRole("button", { name: "Find all" }).click(),
  ]);
  const foundRows = page.getByTestId("found-object");
  await foundRows.nth(1).waitFor({ timeout: longWait });
  const answer = await detection.json();
  const foundOverlay = await waitForOverlay(page, (s) => s.painted > 0, "found objects");
  const foundShot = await screenshot(page, "found");
  const propagated = (r) => r.request().method() === "POST" && r.url().includes("/propagations") && r.ok();
  const [tracking] = await Promise.all([
    page.waitForResponse(propagated, { timeout: longWait }),
    page.getByTestId("propagate-found").click(),
  ]);
  const trackingId = (await tracking.json()).job.id;
  await page.locator(`[data-testid="propagation-status"][data-job-id="${trackingId}"][data-status="succeeded"]`).waitFor({ timeout: longWait });
  const trackedMasks = await page.evaluate(async () => {
    const videoId = window.location.pathname.split("/").pop();
    const token = JSON.parse(localStorage.getItem("roto.tokens")).access_token;
    const response = await fetch(`/v1/videos/${videoId}/masks?object_ids=2,3`, { headers: { Authorization: `Bearer ${token}` } });
    return (await response.json()).frames.length;
  });
  step("found", {
    exemplars_drawn: exemplars,
    request: detection.request().postDataJSON(),
    status: detection.status(),
    answer_objects: answer.objects?.map((o) => [o.id, o.name, o.category]),
    rows: await foundRows.allTextContents(),
    summary: await page.getByTestId("found-summary").textContent(),
    exemplars_after: await page.getByTestId("exemplar").count(),
    painted: foundOverlay.painted,
    propagation_request: tracking.request().postDataJSON(),
    tracked_frames: trackedMasks,
    alert: await page.locator('[role="alert"]').allTextContents(),
    screenshot: foundShot,
  });
}

/** PNG bytes: the API's matte of a frame of object 1, or with null a 2×2 white square. */
async function pngOf(page, frame) {
  const base64 = await page.evaluate(async (frameIndex) => {
    let blob;
    if (frameIndex === null) {
      const canvas = new OffscreenCanvas(2, 2);
      const context = canvas.getContext("2d");
      context.fillStyle = "#fff";
      context.fillRect(0, 0, 2, 2);
      blob = await canvas.convertToBlob({ type: "image/png" });
    } else {
      const videoId = window.location.pathname.split("/").pop();
      const token = JSON.parse(localStorage.getItem("roto.tokens")).access_token;
      const response = await fetch(`/v1/videos/${videoId}/masks/${frameIndex}.png?object_id=1`, {
        headers: { Authorization: `Bearer ${token}` },
      });
      blob = await response.blob();
    }
    const bytes = new Uint8Array(await blob.arrayBuffer());
    return btoa(String.fromCharCode(...bytes));
  }, frame);
  return Buffer.from(base64, "base64");
}

const browser = await chromium.launch({ executablePath: args.chromium, headless: true, args: CHROMIUM_FLAGS });
const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 860 } });
const page = await context.newPage();
await page.addInitScript(installHelpers);
const consoleErrors = [];
page.on("console", (message) => message.type() === "error" && consoleErrors.push(message.text()));
page.on("pageerror", (error) => consoleErrors.push(String(error)));
let code = 0;
try {
  await run(page);
  step("done", { console_errors: consoleErrors });
} catch (error) {
  code = 1;
  let path = null;
  try { path = await screenshot(page, "failed"); } catch { /* the page may be gone */ }
  step("failed", { reason: String(error?.message ?? error), screenshot: path, console_errors: consoleErrors });
} finally {
  await browser.close();
}
process.exit(code);
