// Reading and driving the page: the overlay's pixels and the API's mattes compared with it
// (through in-page helpers installed on every load), the prompt marks, keyframes and stale spans,
// the waits for a frame or a state, the editor's keys, and PNG bytes of a matte for an import.
import { longWait } from "./config.mjs";

/** Painted overlay pixels (alpha > 0), their colours, and the canvas size (source resolution). */
export async function overlay(page) {
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

/** Reads `read()` every 100 ms until `accept` takes its value (returned); fails as soon as the
 * app shows an error, or after the long wait with `still(value)` saying what it last saw. */
async function untilAccepted(page, read, accept, what, still) {
  const began = Date.now();
  for (;;) {
    const value = await read();
    if (accept(value)) return value;
    const alert = await page.locator('[role="alert"]').allTextContents();
    if (alert.length) throw new Error(`${what}: the app shows an error: ${alert.join(" | ")}`);
    if (Date.now() - began > longWait) throw new Error(`${what}: ${still(value)}`);
    await page.waitForTimeout(100);
  }
}

export async function waitForOverlay(page, predicate, what) {
  return untilAccepted(page, () => overlay(page), predicate, what, (state) => `overlay still ${JSON.stringify(state)}`);
}

/** In-page helpers, installed on every load: the API's PNG matte of a frame as inside flags,
 * the overlay's painted flags, and a count of the pixels where two such arrays differ. */
export function installHelpers() {
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
export async function matteMismatch(page, frame, objectId) {
  return page.evaluate(async ([frameIndex, object]) => {
    const helpers = window.__e2e;
    return helpers.compare(await helpers.matte(frameIndex, object), helpers.overlay());
  }, [frame, objectId]);
}

/** Keeps the API's matte (or, with frame null, the overlay) under `name` for a later compare. */
export async function saveMask(page, name, frame, objectId) {
  await page.evaluate(async ([key, frameIndex, object]) => {
    const helpers = window.__e2e;
    helpers.saved[key] = frameIndex === null ? helpers.overlay() : await helpers.matte(frameIndex, object);
  }, [name, frame, objectId]);
}

/** Pixels where the overlay now differs from a saved mask. */
export async function overlayVersus(page, name) {
  return page.evaluate((key) => window.__e2e.compare(window.__e2e.saved[key], window.__e2e.overlay()), name);
}

/** A painted overlay pixel near the middle of the painted area, in source pixels. */
export async function paintedPoint(page) {
  return page.evaluate(() => {
    const { width, inside } = window.__e2e.overlay();
    const painted = [];
    for (let i = 0; i < inside.length; i += 1) if (inside[i]) painted.push(i);
    const i = painted[Math.floor(painted.length / 2)];
    return { x: i % width, y: Math.floor(i / width) };
  });
}

/** The stored clicks and boxes drawn on the frame, as text. */
export async function promptMarks(page) {
  return page.getByTestId("prompt-marks").evaluate((g) =>
    [...g.querySelectorAll("circle, rect")].map((el) =>
      el.tagName === "circle"
        ? `${el.getAttribute("class")} ${el.getAttribute("cx")},${el.getAttribute("cy")}`
        : `box ${["x", "y", "width", "height"].map((a) => el.getAttribute(a)).join(",")}`,
    ),
  );
}

export async function keyframeRows(page) {
  return page.getByTestId("keyframe-row").evaluateAll((rows) => rows.map((r) => Number(r.dataset.frame)));
}

/** Goes to a keyframe through the keyframe list and reads the clicks drawn there. */
export async function marksOnKeyframe(page, frame) {
  await page.locator(`[data-testid="keyframe-row"][data-frame="${frame}"] button`).first().click();
  await page.getByTestId("frame-number").filter({ hasText: `frame ${frame} /` }).waitFor();
  return promptMarks(page);
}

export async function staleSpans(page) {
  return page.getByTestId("stale-span").count();
}

/** Waits until the timeline shows a stale-span count that `predicate` accepts (spans are
 * reloaded after each change). */
export async function waitForStale(page, predicate, what) {
  return untilAccepted(page, () => staleSpans(page), predicate, what, (count) => `${count} stale spans`);
}

/** Waits until the plate drawn is the current frame's and the frame's masks have been read. */
export async function frameShown(page) {
  await page.waitForFunction(() => {
    const plate = document.querySelector('[data-testid="frame-image"]');
    const view = document.querySelector('[data-testid="frame-view"]');
    const frame = /frame (\d+)/.exec(document.querySelector('[data-testid="frame-number"]')?.textContent ?? "")?.[1];
    return plate && frame !== undefined && plate.dataset.frame === frame && view?.dataset.masksReady === "true";
  }, null, { timeout: longWait });
}

/** Waits until the overlay is painted in `mode`, then counts its pixels. */
export async function overlayIn(page, mode) {
  await page.locator(`[data-testid="overlay"][data-painted="${mode}"]`).waitFor({ timeout: longWait });
  return overlay(page);
}

/** Pixels where the overlay differs from the edge of a saved fill: the fill's pixels with a
 * pixel outside it in their 3x3 neighbourhood (outside the frame counts as inside), the
 * outline a 192x108 frame gets. */
export async function outlineVersusFill(page, name) {
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
export async function overlayMaxAlpha(page) {
  return page.$eval('[data-testid="overlay"]', (canvas) => {
    const { data } = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
    let max = 0;
    for (let i = 3; i < data.length; i += 4) max = Math.max(max, data[i]);
    return max;
  });
}

/** Polls `read` until `accept` takes its value. */
export async function waitFor(read, accept, what) {
  const began = Date.now();
  for (;;) {
    const value = await read();
    if (accept(value)) return value;
    if (Date.now() - began > longWait) throw new Error(`${what}: still ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function atFrame(page, frame) {
  await page.getByTestId("frame-number").filter({ hasText: `frame ${frame} /` }).waitFor({ timeout: longWait });
}

/** Presses keys with the focus off any input, so the editor gets them. */
export async function keys(page, ...presses) {
  await page.evaluate(() => document.activeElement?.blur());
  for (const press of presses) await page.keyboard.press(press);
}

export async function frameNumber(page) {
  const text = await page.getByTestId("frame-number").textContent();
  return Number(/frame (\d+)/.exec(text)[1]);
}

/** A prompt posted and answered. */
export function prompted(r) {
  return r.request().method() === "POST" && r.url().includes("/prompts") && r.ok();
}

/** Waits until no prompt is in flight. */
export function settled(page) {
  return page.getByTestId("prompting").waitFor({ state: "detached", timeout: longWait });
}

/** PNG bytes: the API's matte of a frame of object 1, or with null a 2×2 white square. */
export async function pngOf(page, frame) {
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

/** Clicks `button`, which starts a propagation, and waits until that job has succeeded; returns
 * the answer to its POST (the request holds what was asked). */
export async function propagateWith(page, button) {
  const started = (r) => r.request().method() === "POST" && r.url().includes("/propagations") && r.ok();
  const [answer] = await Promise.all([page.waitForResponse(started, { timeout: longWait }), button.click()]);
  const jobId = (await answer.json()).job.id;
  await page.locator(`[data-testid="propagation-status"][data-job-id="${jobId}"][data-status="succeeded"]`).waitFor({ timeout: longWait });
  return answer;
}
