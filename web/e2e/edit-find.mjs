// The editing flow's last phase: find all instances of a text and an exemplar box, each a new
// object, and propagate them over the clip.
import { longWait } from "./config.mjs";
import { propagateWith, waitForOverlay } from "./helpers.mjs";
import { screenshot, step } from "./report.mjs";

/** Find all on frame 20: a text and an exemplar box drawn with Shift+drag; each instance the
 * detector finds becomes a new object, listed with its category; one click propagates them. */
export async function findAll(page) {
  const layer = page.getByTestId("click-layer");
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
  const tracking = await propagateWith(page, page.getByTestId("propagate-found"));
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
