import { describe, expect, it } from "vitest";
import { formatRate, formatTimecode, framesToTimecode, frameTimecode, isDropFrameRate, parseTimecode, timecodeToFrames } from "./timecode";

const NTSC = 30000 / 1001;
const NTSC60 = 60000 / 1001;

describe("timecode", () => {
  it("counts non-drop timecode at whole rates from the source's start", () => {
    expect(frameTimecode(null, 24, 0)).toBe("00:00:00:00");
    expect(frameTimecode(null, 24, 23)).toBe("00:00:00:23");
    expect(frameTimecode(null, 24, 24)).toBe("00:00:01:00");
    expect(frameTimecode("01:00:00:00", 25, 25 * 3600 + 13)).toBe("02:00:00:13");
    expect(frameTimecode("10:59:59:23", 24, 1)).toBe("11:00:00:00");
  });

  it("23.976 counts 24 frames a second without dropping", () => {
    expect(isDropFrameRate(24000 / 1001)).toBe(false);
    expect(frameTimecode(null, 24000 / 1001, 24 * 60)).toBe("00:01:00:00");
  });

  it("drop-frame at 29.97 skips frames 0 and 1 each minute except every tenth", () => {
    expect(isDropFrameRate(NTSC)).toBe(true);
    expect(frameTimecode(null, NTSC, 1799)).toBe("00:00:59;29");
    expect(frameTimecode(null, NTSC, 1800)).toBe("00:01:00;02");
    expect(frameTimecode(null, NTSC, 17981)).toBe("00:09:59;29");
    expect(frameTimecode(null, NTSC, 17982)).toBe("00:10:00;00");
    expect(frameTimecode(null, NTSC, 17982 * 6)).toBe("01:00:00;00");
  });

  it("drop-frame at 59.94 skips four frame numbers a minute", () => {
    expect(frameTimecode(null, NTSC60, 3599)).toBe("00:00:59;59");
    expect(frameTimecode(null, NTSC60, 3600)).toBe("00:01:00;04");
    expect(frameTimecode(null, NTSC60, 35964)).toBe("00:10:00;00");
  });

  it("a drop-frame source start is counted on in drop-frame", () => {
    expect(frameTimecode("00:00:59;29", NTSC, 1)).toBe("00:01:00;02");
    expect(frameTimecode("01:00:00;00", NTSC, 0)).toBe("01:00:00;00");
    // Some tools write the drop-frame separator as a dot.
    expect(frameTimecode("00:00:59.29", NTSC, 1)).toBe("00:01:00;02");
  });

  it("a non-drop source at 29.97 stays non-drop", () => {
    expect(frameTimecode("00:00:59:29", NTSC, 1)).toBe("00:01:00:00");
  });

  it("drop-frame notation at a rate it does not apply to is read as non-drop", () => {
    expect(frameTimecode("00:00:59;24", 25, 1)).toBe("00:01:00:00");
  });

  it("round-trips every frame of twenty minutes at 29.97 and never shows a dropped number", () => {
    for (let n = 0; n < 17982 * 2; n += 1) {
      const code = framesToTimecode(n, NTSC, true);
      expect(timecodeToFrames(code, NTSC)).toBe(n);
      if (code.seconds === 0 && code.minutes % 10 !== 0) expect(code.frames).toBeGreaterThanOrEqual(2);
    }
  });

  it("writes frame rates as people do", () => {
    expect([24, 25, 24000 / 1001, NTSC, NTSC60].map(formatRate)).toEqual(["24", "25", "23.976", "29.97", "59.94"]);
  });

  it("wraps at 24 hours", () => {
    expect(frameTimecode("23:59:59:23", 24, 1)).toBe("00:00:00:00");
  });

  it("ignores text that is not a timecode", () => {
    expect(parseTimecode("1:00:00:00")).toBeNull();
    expect(parseTimecode("garbage")).toBeNull();
    expect(frameTimecode("garbage", 24, 24)).toBe("00:00:01:00");
    expect(formatTimecode({ hours: 1, minutes: 2, seconds: 3, frames: 4, dropFrame: false })).toBe("01:02:03:04");
  });
});
