// Review: loop playback of the 1080p clip (--hd) on proxy frames, then zoomed on full frames,
// the plate sampled on every animation frame to count the frames shown and dropped.
import { args, HD_IN, HD_OUT, longWait, PLAY_MS } from "./config.mjs";
import { atFrame, frameShown, keys, propagateWith, waitForOverlay } from "./helpers.mjs";
import { reviewScreenshot, step } from "./report.mjs";

/** A 1080p clip uploaded, a disc clicked and propagated over its in/out range, then played at
 * 1x looping over that range on proxy frames; the plate drawn is sampled on every animation
 * frame to count the frames shown and skipped. */
export async function playback(page) {
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
  await propagateWith(page, page.getByRole("button", { name: "Propagate" }));
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
