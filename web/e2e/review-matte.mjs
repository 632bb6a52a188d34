// Review: a feathered matte previewed on the frame and exported with the same settings.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { longWait, out } from "./config.mjs";
import { atFrame, frameShown, keys, overlayIn } from "./helpers.mjs";
import { reviewScreenshot, step } from "./report.mjs";

/** A feathered matte previewed on frame 10 (the endpoint with the panel's settings), then
 * exported with the same settings from the dialog, which starts from the panel's. */
export async function matteExport(page) {
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
