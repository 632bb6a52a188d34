// Mattes out of and into the editor: the PNG-sequence export downloaded, then a matte PNG imported
// (one of another size refused, the API's own matte of frame 10 taken onto frame 20).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { IMPORT_FRAME, longWait, out } from "./config.mjs";
import { frameNumber, overlayVersus, pngOf, prompted, saveMask, settled } from "./helpers.mjs";
import { screenshot, step } from "./report.mjs";

/** Exports a PNG sequence and downloads it: a zip. */
export async function exportSequence(page) {
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
}

/** Importing a matte PNG: one of another size is refused in words; the API's own matte of
 * frame 10, imported onto frame 20, goes out as exactly the RLE the API holds for frame 10. */
export async function importMatte(page) {
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
  await settled(page);
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
}
