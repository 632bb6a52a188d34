// The end-to-end flow in headless Chromium (Debian's package, driven by playwright-core):
// sign up, upload a clip, click the object, propagate, refine a propagated frame with a negative
// click, undo and redo it, update the stale frames, reload (the stored keyframes and clicks come
// back), export a PNG sequence and download it, import a matte, and find all instances of a
// text and an exemplar box (each a new object) and propagate them.
//
//   node web/e2e/flow.mjs --url http://127.0.0.1:8000 --video clip.mp4 --hd hd.mov --out DIR
//
// Prints one JSON line per step; screenshots and the download go to DIR. Exits non-zero on the
// first step that does not do what it should.
//
// Then review (reviewFlow, screenshots in DIR/review): the overlay modes, opacity, solo and hide,
// the plate key, a feathered matte previewed and exported, and loop playback of the 1080p clip
// (--hd) on proxy frames with its dropped frames counted.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { chromium } from "playwright-core";

const { values: args } = parseArgs({
  options: {
    url: { type: "string" },
    video: { type: "string" },
    hd: { type: "string" },
    out: { type: "string" },
    chromium: { type: "string", default: process.env.CHROMIUM ?? "/usr/bin/chromium" },
    "timeout-s": { type: "string", default: "240" },
  },
});
if (!args.url || !args.video || !args.hd || !args.out) {
  console.error("usage: node flow.mjs --url URL --video FILE --hd FILE --out DIR");
  process.exit(2);
}
const out = resolve(args.out);
mkdirSync(join(out, "review"), { recursive: true });
const longWait = Number(args["timeout-s"]) * 1000;
// The propagated (not prompted) frame that the flow refines with a negative click.
const REFINE_FRAME = 15;
// The frame that the flow imports frame 10's matte onto.
const IMPORT_FRAME = 20;
// The 1080p clip's in and out points for loop playback, and how long it plays.
const HD_IN = 12;
const HD_OUT = 35;
const PLAY_MS = 4000;

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

/** Waits until the plate drawn is the current frame's and the frame's masks have been read. */
async function frameShown(page) {
  await page.waitForFunction(() => {
    const plate = document.querySelector('[data-testid="frame-image"]');
    const view = document.querySelector('[data-testid="frame-view"]');
    const frame = /frame (\d+)/.exec(document.querySelector('[data-testid="frame-number"]')?.textContent ?? "")?.[1];
    return plate && frame !== undefined && plate.dataset.frame === frame && view?.dataset.masksReady === "true";
  }, null, { timeout: longWait });
}

/** Waits until the overlay is painted in `mode`, then counts its pixels. */
async function overlayIn(page, mode) {
  await page.locator(`[data-testid="overlay"][data-painted="${mode}"]`).waitFor({ timeout: longWait });
  return overlay(page);
}

/** Pixels where the overlay differs from the edge of a saved fill: the fill's pixels with a
 * pixel outside it in their 3x3 neighbourhood (outside the frame counts as inside), the
 * outline a 192x108 frame gets. */
async function outlineVersusFill(page, name) {
  return page.evaluate((key) => {
    const { width, height, inside } = window.__e2e.saved[key];
    const edge = new Uint8Array(inside.length);
    for (let y = 0; y < height; y += 1) {
      for (let x = 0; x < width; x += 1) {
        if (!inside[y * width + x]) continue;
        let outside = false;
        for (let dy = -1; dy <= 1; dy += 1) {
          for (let dx = -1; dx <= 1; dx += 1) {
            const [nx, ny] = [x + dx, y + dy];
            if (nx >= 0 && ny >= 0 && nx < width && ny < height && !inside[ny * width + nx]) outside = true;
          }
        }
        edge[y * width + x] = outside ? 1 : 0;
      }
    }
    return window.__e2e.compare({ width, height, inside: edge }, window.__e2e.overlay());
  }, name);
}

/** The largest alpha on the overlay. */
async function overlayMaxAlpha(page) {
  return page.$eval('[data-testid="overlay"]', (canvas) => {
    const { data } = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
    let max = 0;
    for (let i = 3; i < data.length; i += 4) max = Math.max(max, data[i]);
    return max;
  });
}

/** Polls `read` until `accept` takes its value. */
async function waitFor(read, accept, what) {
  const began = Date.now();
  for (;;) {
    const value = await read();
    if (accept(value)) return value;
    if (Date.now() - began > longWait) throw new Error(`${what}: still ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function atFrame(page, frame) {
  await page.getByTestId("frame-number").filter({ hasText: `frame ${frame} /` }).waitFor({ timeout: longWait });
}

/** Presses keys with the focus off any input, so the editor gets them. */
async function keys(page, ...presses) {
  await page.evaluate(() => document.activeElement?.blur());
  for (const press of presses) await page.keyboard.press(press);
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

/** The review tools, after the editing flow: on the first clip, then on a 1080p one. */
async function reviewFlow(page) {
  await review(page);
  await matteExport(page);
  await playback(page);
}

let reviewShots = 0;
/** Review screenshots go to DIR/review, numbered apart from the editing flow's. */
async function reviewScreenshot(page, name) {
  reviewShots += 1;
  const path = join(out, "review", `${reviewShots}-${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
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

/** A feathered matte previewed on frame 10 (the endpoint with the panel's settings), then
 * exported with the same settings from the dialog, which starts from the panel's. */
async function matteExport(page) {
  await keys(page, "Home", "Shift+ArrowRight");
  await atFrame(page, 10);
  await frameShown(page);
  const panel = page.getByRole("region", { name: "Matte" });
  const previewRequest = page.waitForRequest((r) => /\/masks\/10\.png\?.*feather_px=4/.test(r.url()), { timeout: longWait });
  await panel.getByLabel("Feather (px)").fill("4");
  const requested = new URL((await previewRequest).url());
  await page.locator('[data-testid="matte-preview-status"][data-status="ready"]').waitFor({ timeout: longWait });
  const preview = await page.getByTestId("matte-preview").evaluate(async (img) => {
    const bytes = new Uint8Array(await (await fetch(img.src)).arrayBuffer());
    const bitmap = await createImageBitmap(new Blob([bytes]));
    const context = new OffscreenCanvas(bitmap.width, bitmap.height).getContext("2d");
    context.drawImage(bitmap, 0, 0);
    const { data } = context.getImageData(0, 0, bitmap.width, bitmap.height);
    let fractional = 0;
    for (let i = 0; i < data.length; i += 4) if (data[i] !== 0 && data[i] !== 255) fractional += 1;
    let binary = "";
    for (const b of bytes) binary += String.fromCharCode(b);
    return { base64: btoa(binary), fractional, width: bitmap.width, height: bitmap.height };
  });
  const previewFile = join(out, "review", "preview-frame10.png");
  writeFileSync(previewFile, Buffer.from(preview.base64, "base64"));
  const previewShot = await reviewScreenshot(page, "matte-preview");
  const overlayWhilePreview = (await overlayIn(page, "off")).painted;

  await page.getByRole("button", { name: "Export…" }).click();
  const dialog = page.getByRole("dialog");
  await dialog.getByTestId("export-format").selectOption("png_sequence");
  const dialogFeather = await dialog.getByLabel("Feather (px)").inputValue();
  const posted = (r) => r.request().method() === "POST" && r.url().includes("/exports") && r.ok();
  const [started] = await Promise.all([page.waitForResponse(posted, { timeout: longWait }), dialog.getByRole("button", { name: "Export" }).click()]);
  const link = page.getByTestId("export-download");
  await link.waitFor({ timeout: longWait });
  const [download] = await Promise.all([page.waitForEvent("download", { timeout: longWait }), link.click()]);
  const saved = join(out, `feathered-${download.suggestedFilename()}`);
  await download.saveAs(saved);
  step("matte_exported", {
    preview_query: Object.fromEntries(requested.searchParams),
    preview_file: previewFile,
    preview_fractional: preview.fractional,
    preview_size: [preview.width, preview.height],
    overlay_while_preview: overlayWhilePreview,
    dialog_feather: dialogFeather,
    body: started.request().postDataJSON(),
    file: saved,
    screenshot: previewShot,
  });
  await dialog.getByRole("button", { name: "Close" }).click();
  await panel.getByLabel("preview on the frame").uncheck();
}

/** A 1080p clip uploaded, a disc clicked and propagated over its in/out range, then played at
 * 1x looping over that range on proxy frames; the plate drawn is sampled on every animation
 * frame to count the frames shown and skipped. */
async function playback(page) {
  await page.goto(args.url);
  const began = Date.now();
  await page.getByTestId("upload-input").setInputFiles(args.hd);
  const row = page.getByTestId("video-row").filter({ hasText: "hd.mov" });
  await row.and(page.locator('[data-status="ready"]')).waitFor({ timeout: longWait });
  const ingestSeconds = (Date.now() - began) / 1000;
  const details = await row.locator("td").nth(2).textContent();
  await row.getByRole("link").click();
  await frameShown(page);
  const timecodes = { 0: await page.getByTestId("timecode").textContent() };
  await keys(page, "Shift+ArrowRight");
  await atFrame(page, 10);
  timecodes[10] = await page.getByTestId("timecode").textContent();
  await keys(page, "ArrowRight", "ArrowRight", "i");
  await atFrame(page, HD_IN);
  timecodes[HD_IN] = await page.getByTestId("timecode").textContent();
  await keys(page, "Shift+ArrowRight", "Shift+ArrowRight", "ArrowRight", "ArrowRight", "ArrowRight", "o");
  await atFrame(page, HD_OUT);
  timecodes[HD_OUT] = await page.getByTestId("timecode").textContent();
  const range = await page.getByTestId("range").locator("span").first().textContent();
  await keys(page, "Shift+ArrowLeft", "Shift+ArrowLeft", "ArrowLeft", "ArrowLeft", "ArrowLeft");
  await atFrame(page, HD_IN);
  await frameShown(page);

  await page.getByLabel("New object name").fill("disc");
  await page.getByRole("button", { name: "Add object" }).click();
  await page.getByTestId("object-row").filter({ hasText: "disc" }).waitFor();
  const layer = page.getByTestId("click-layer");
  const box = await layer.boundingBox();
  const discX = 0.2 + (0.6 * HD_IN) / 50; // where tests/media.py draws the disc on that frame
  await layer.click({ position: { x: box.width * discX, y: box.height / 2 } });
  await waitForOverlay(page, (s) => s.painted > 0, "click on the 1080p clip");
  const propagatedAt = Date.now();
  const [started] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === "POST" && r.url().includes("/propagations") && r.ok(), { timeout: longWait }),
    page.getByRole("button", { name: "Propagate" }).click(),
  ]);
  const jobId = (await started.json()).job.id;
  await page.locator(`[data-testid="propagation-status"][data-job-id="${jobId}"][data-status="succeeded"]`).waitFor({ timeout: longWait });
  const propagateSeconds = (Date.now() - propagatedAt) / 1000;

  await page.getByLabel("loop in/out").check();
  await page.getByLabel("Playback speed").selectOption("1");
  const fps = 30000 / 1001;
  const { samples, requests, stats } = await playFor(page, PLAY_MS);
  step("played", {
    ...loopFigures(samples, HD_IN, HD_OUT, fps),
    app: stats,
    requests,
    ingest_seconds: ingestSeconds,
    propagate_seconds: propagateSeconds,
    details,
    timecodes,
    range,
  });

  // Paused, the full frame replaces the proxy; the masks of the loop are there.
  await page.waitForFunction(() => document.querySelector('[data-testid="frame-image"]').dataset.size === "full", null, { timeout: longWait });
  await frameShown(page);
  const paused = await page.getByTestId("frame-image").evaluate((c) => ({ frame: Number(c.dataset.frame), width: c.width, height: c.height }));
  step("paused", {
    ...paused,
    painted: (await waitForOverlay(page, (s) => s.painted > 0, "paused in the loop")).painted,
    screenshot: await reviewScreenshot(page, "played"),
  });

  // Zoomed 2x, the view scrolls over a frame twice its size, and playback uses full frames
  // (fewer ahead: the cache holds six 1080p frames).
  await page.getByLabel("Zoom").selectOption("2");
  const view = await page.getByTestId("frame-view").evaluate((v) => ({ scroll: v.scrollWidth, client: v.clientWidth }));
  const zoomed = await playFor(page, PLAY_MS / 2);
  step("zoomed", { view, ...loopFigures(zoomed.samples, HD_IN, HD_OUT, fps), app: zoomed.stats, requests: zoomed.requests });
  await page.getByLabel("Zoom").selectOption("1");
}

/** Plays for `ms` from the first new frame drawn (after pre-roll), sampling the plate on every
 * animation frame; the frame requests made meanwhile, by size, and the app's own figures. */
async function playFor(page, ms) {
  const requests = { proxy: 0, full: 0 };
  const count = (request) => {
    if (!/\/v1\/videos\/[^/]+\/frames\/\d+/.test(request.url())) return; // the API's, not storage's
    requests[request.url().includes("size=proxy") ? "proxy" : "full"] += 1;
  };
  page.on("request", count);
  await page.evaluate(() => {
    const plate = document.querySelector('[data-testid="frame-image"]');
    window.__samples = [];
    window.__sampling = true;
    const sample = (t) => {
      window.__samples.push([t, Number(plate.dataset.frame), plate.dataset.size, plate.width]);
      if (window.__sampling) requestAnimationFrame(sample);
    };
    requestAnimationFrame(sample);
  });
  const first = await page.getByTestId("frame-image").evaluate((c) => Number(c.dataset.frame));
  await keys(page, " ");
  await page.waitForFunction((start) => window.__samples.some(([, f]) => f !== start), first, { timeout: longWait, polling: 50 });
  await page.waitForTimeout(ms);
  await keys(page, " ");
  const samples = await page.evaluate(() => ((window.__sampling = false), window.__samples));
  page.off("request", count);
  const stats = await page.getByTestId("playback-stats").evaluate((el) => ({ shown: Number(el.dataset.shown), dropped: Number(el.dataset.dropped), text: el.textContent }));
  return { samples, requests, stats };
}

/** What the sampled plates say about loop playback: frames shown, skipped between them (in
 * loop order), frames outside the loop, wraps, and how many frames the clock made due. */
function loopFigures(samples, first, last, fps) {
  const length = last - first + 1;
  const start = samples.findIndex(([, f]) => f !== samples[0][1]);
  const played = samples.slice(start - 1);
  let shown = 0;
  let skipped = 0;
  let wraps = 0;
  let outside = 0;
  const changes = []; // times a new frame was drawn
  const sizes = new Set();
  for (let i = 1; i < played.length; i += 1) {
    const [time, frame, size, width] = played[i];
    const previous = played[i - 1][1];
    sizes.add(`${size} ${width}`);
    if (frame < first || frame > last) outside += 1;
    if (frame === previous) continue;
    shown += 1;
    changes.push(time);
    const distance = (frame - previous + length) % length;
    skipped += distance - 1;
    if (frame < previous) wraps += 1;
  }
  // From the first new frame to the last, the clock made this many frames due after the first.
  const seconds = (changes.at(-1) - changes[0]) / 1000;
  return {
    seconds,
    shown,
    dropped: skipped,
    advanced: shown + skipped,
    due: 1 + Math.round(seconds * fps),
    wraps,
    outside,
    plate_sizes: [...sizes],
    animation_frames: played.length,
  };
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
  await reviewFlow(page);
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
