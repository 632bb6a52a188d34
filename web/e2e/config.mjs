// The flow's settings, read once when first imported and shared by every module: the command
// line, the output folder, the long wait, the frames and ranges the steps use, Chromium's flags.
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";

export const { values: args } = parseArgs({
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
export const out = resolve(args.out);
mkdirSync(join(out, "review"), { recursive: true });
export const longWait = Number(args["timeout-s"]) * 1000;
// The propagated (not prompted) frame that the flow refines with a negative click.
export const REFINE_FRAME = 15;
// The frame that the flow imports frame 10's matte onto.
export const IMPORT_FRAME = 20;
// The 1080p clip's in and out points for loop playback, and how long it plays.
export const HD_IN = 12;
export const HD_OUT = 35;
export const PLAY_MS = 4000;

// The flags that keep Chromium off the network in this sandbox (see the machine notes).
export const CHROMIUM_FLAGS = [
  "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];
