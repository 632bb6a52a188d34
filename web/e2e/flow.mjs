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
//
// The modules: config.mjs (the command line and constants), report.mjs (step lines and
// screenshots), helpers.mjs (reading and driving the page), edit*.mjs (the editing flow's
// phases, in edit.mjs's order), review*.mjs (the review tools). This file launches Chromium and
// runs the two flows.
import { chromium } from "playwright-core";
import { args, CHROMIUM_FLAGS } from "./config.mjs";
import { editFlow } from "./edit.mjs";
import { installHelpers } from "./helpers.mjs";
import { screenshot, step } from "./report.mjs";
import { reviewFlow } from "./review.mjs";

const browser = await chromium.launch({ executablePath: args.chromium, headless: true, args: CHROMIUM_FLAGS });
const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 860 } });
const page = await context.newPage();
await page.addInitScript(installHelpers);
const consoleErrors = [];
page.on("console", (message) => message.type() === "error" && consoleErrors.push(message.text()));
page.on("pageerror", (error) => consoleErrors.push(String(error)));
let code = 0;
try {
  await editFlow(page);
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
