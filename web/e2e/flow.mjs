// The end-to-end flow in headless Chromium (Debian's package, driven by playwright-core):
// sign up, upload a clip, click the object, propagate, export a PNG sequence and download it.
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

/** Pixels where the overlay disagrees with the API's own PNG matte of the frame: the check that
 * the app decodes COCO RLE at the source resolution the way the server encoded it. */
async function matteMismatch(page, frame, objectId) {
  return page.evaluate(async ([frameIndex, object]) => {
    const videoId = window.location.pathname.split("/").pop();
    const token = JSON.parse(localStorage.getItem("roto.tokens")).access_token;
    const response = await fetch(`/v1/videos/${videoId}/masks/${frameIndex}.png?object_id=${object}`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    if (!response.ok) return { error: `matte: HTTP ${response.status}` };
    const bitmap = await createImageBitmap(await response.blob());
    const scratch = new OffscreenCanvas(bitmap.width, bitmap.height).getContext("2d");
    scratch.drawImage(bitmap, 0, 0);
    const matte = scratch.getImageData(0, 0, bitmap.width, bitmap.height).data;
    const canvas = document.querySelector('[data-testid="overlay"]');
    if (canvas.width !== bitmap.width || canvas.height !== bitmap.height) return { error: "size differs" };
    const shown = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    let mismatched = 0;
    let inside = 0;
    for (let i = 0; i < matte.length; i += 4) {
      const isInside = matte[i] > 127;
      inside += isInside ? 1 : 0;
      if (isInside !== shown[i + 3] > 0) mismatched += 1;
    }
    return { mismatched, inside };
  }, [frame, objectId]);
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
  await page.waitForFunction(() => {
    const img = document.querySelector('[data-testid="frame-image"]');
    return img && img.complete && img.naturalWidth > 0;
  }, null, { timeout: longWait });
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
}

const browser = await chromium.launch({ executablePath: args.chromium, headless: true, args: CHROMIUM_FLAGS });
const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 860 } });
const page = await context.newPage();
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
