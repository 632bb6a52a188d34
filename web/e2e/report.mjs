// What the flow reports: one JSON line per step on stdout, and numbered screenshots (the editing
// flow's in DIR, the review's in DIR/review), each numbering kept here.
import { join } from "node:path";
import { out } from "./config.mjs";

export function step(name, facts = {}) {
  console.log(JSON.stringify({ step: name, ...facts }));
}

let shot = 0;
export async function screenshot(page, name) {
  shot += 1;
  const path = join(out, `${String(shot).padStart(2, "0")}-${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

let reviewShots = 0;
/** Review screenshots go to DIR/review, numbered apart from the editing flow's. */
export async function reviewScreenshot(page, name) {
  reviewShots += 1;
  const path = join(out, "review", `${reviewShots}-${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}
