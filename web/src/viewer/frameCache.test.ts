import { describe, expect, it } from "vitest";
import { around, BUDGET_BYTES, cacheCapacity, FrameCache, frameKey, nextFetches, proxySize } from "./frameCache";

describe("frame cache sizing", () => {
  it("proxies keep the aspect with the long side at most 960, and small videos their size", () => {
    expect(proxySize(1920, 1080)).toEqual([960, 540]);
    expect(proxySize(1080, 1920)).toEqual([540, 960]);
    expect(proxySize(3840, 1608)).toEqual([960, 402]);
    expect(proxySize(192, 108)).toEqual([192, 108]);
  });

  it("holds more frames the smaller they are, within bounds", () => {
    const proxy1080 = cacheCapacity(...proxySize(1920, 1080), BUDGET_BYTES.proxy);
    expect(proxy1080).toBe(48); // two seconds at 24 fps
    expect(cacheCapacity(1920, 1080, BUDGET_BYTES.full)).toBe(6);
    expect(cacheCapacity(3840, 2160, BUDGET_BYTES.full)).toBe(4); // never fewer than 4
    expect(cacheCapacity(192, 108, BUDGET_BYTES.proxy)).toBe(240); // never more than 240
  });
});

describe("FrameCache", () => {
  it("lets the least recently used go past capacity and releases it", () => {
    const released: string[] = [];
    const cache = new FrameCache<string>(3, (v) => released.push(v));
    for (const i of [1, 2, 3]) cache.set(frameKey("proxy", i), `bitmap ${i}`);
    cache.get(frameKey("proxy", 1)); // 1 is now the most recently used
    cache.set(frameKey("proxy", 4), "bitmap 4");
    expect(released).toEqual(["bitmap 2"]);
    expect(cache.has("proxy:1") && cache.has("proxy:3") && cache.has("proxy:4")).toBe(true);
    expect(cache.size).toBe(3);
  });

  it("replacing a value releases the old one; clear releases all", () => {
    const released: string[] = [];
    const cache = new FrameCache<string>(3, (v) => released.push(v));
    cache.set("full:1", "a");
    cache.set("full:1", "b");
    expect(released).toEqual(["a"]);
    cache.clear();
    expect(released).toEqual(["a", "b"]);
    expect(cache.size).toBe(0);
  });
});

describe("what to fetch", () => {
  it("takes wanted keys that are neither held nor in flight, in order, up to the free slots", () => {
    const held = new Set(["proxy:1"]);
    const wanted = ["proxy:1", "proxy:2", "proxy:3", "proxy:4", "proxy:5"];
    expect(nextFetches(wanted, (k) => held.has(k), new Set(["proxy:2"]), 2)).toEqual(["proxy:3", "proxy:4"]);
    expect(nextFetches(wanted, (k) => held.has(k), new Set(), 0)).toEqual([]);
  });

  it("wants the paused frame first, then its neighbours nearest first, inside the video", () => {
    expect(around(5, 48, 2)).toEqual([5, 6, 4, 7, 3]);
    expect(around(0, 3, 3)).toEqual([0, 1, 2]);
  });
});
