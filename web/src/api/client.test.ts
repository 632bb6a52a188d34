import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiClient, type TokenStore } from "./client";
import { ApiError, describeProblem, errorText } from "./errors";
import type { Tokens } from "./types";

function tokens(access: string, refresh: string): Tokens {
  return {
    access_token: access,
    refresh_token: refresh,
    token_type: "bearer",
    expires_in: 900,
    user: { id: "u1", email: "artist@example.com" },
  };
}

function memoryStore(initial: Tokens | null): TokenStore & { value: Tokens | null } {
  const store = {
    value: initial,
    get: () => store.value,
    set: (t: Tokens | null) => {
      store.value = t;
    },
  };
  return store;
}

function json(status: number, body: unknown, type = "application/json"): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": type } });
}

const unauthorized = { type: "urn:roto:error:unauthorized", title: "Unauthorized", status: 401, detail: "token expired" };

afterEach(() => vi.unstubAllGlobals());

describe("ApiClient", () => {
  it("sends the bearer token and parses JSON", async () => {
    const fetch = vi.fn(async () => json(200, { items: [], next_cursor: null }));
    vi.stubGlobal("fetch", fetch);
    const api = new ApiClient(memoryStore(tokens("a1", "r1")));
    expect(await api.listVideos()).toEqual({ items: [], next_cursor: null });
    const [url, init] = fetch.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe("/v1/videos?limit=100");
    expect((init.headers as Record<string, string>).Authorization).toBe("Bearer a1");
  });

  it("refreshes an expired token once and retries with the new one", async () => {
    const seen: string[] = [];
    vi.stubGlobal("fetch", vi.fn(async (url: string, init: RequestInit) => {
      seen.push(`${url} ${(init.headers as Record<string, string>).Authorization ?? ""}`.trim());
      if (url === "/v1/auth/refresh") return json(200, tokens("a2", "r2"));
      const auth = (init.headers as Record<string, string>).Authorization;
      return auth === "Bearer a2" ? json(200, { id: "v1" }) : json(401, unauthorized, "application/problem+json");
    }));
    const store = memoryStore(tokens("a1", "r1"));
    const api = new ApiClient(store);
    expect(await api.getVideo("v1")).toEqual({ id: "v1" });
    expect(seen).toEqual(["/v1/videos/v1 Bearer a1", "/v1/auth/refresh", "/v1/videos/v1 Bearer a2"]);
    expect(store.value?.refresh_token).toBe("r2");
  });

  it("signs out when the refresh token is refused too", async () => {
    vi.stubGlobal("fetch", vi.fn(async () => json(401, unauthorized, "application/problem+json")));
    const store = memoryStore(tokens("a1", "r1"));
    const signedOut = vi.fn();
    const api = new ApiClient(store, "", signedOut);
    await expect(api.getVideo("v1")).rejects.toThrow("Unauthorized: token expired");
    expect(store.value).toBeNull();
    expect(signedOut).toHaveBeenCalledOnce();
  });

  it("turns a problem+json answer into an ApiError in words", async () => {
    const problem = {
      type: "urn:roto:error:invalid",
      title: "Invalid request",
      status: 400,
      detail: "points: points and labels differ in length",
      errors: [{ key: "points", message: "points and labels differ in length" }],
    };
    vi.stubGlobal("fetch", vi.fn(async () => json(400, problem, "application/problem+json")));
    const api = new ApiClient(memoryStore(tokens("a1", "r1")));
    const error = await api.prompt("v1", { object_id: 1, frame_index: 0, points: [[1, 2]], labels: [], mode: "add" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).status).toBe(400);
    expect(errorText(error)).toBe("Invalid request: points: points and labels differ in length");
  });

  it("sends a fresh Idempotency-Key with each job it starts", async () => {
    const fetch = vi.fn(async () => json(202, { job: { id: "j1" } }));
    vi.stubGlobal("fetch", fetch);
    const api = new ApiClient(memoryStore(tokens("a1", "r1")));
    await api.propagate("v1", { object_ids: null, direction: "both" });
    await api.propagate("v1", { object_ids: null, direction: "both" });
    const keys = fetch.mock.calls.map((call) => ((call as unknown as [string, RequestInit])[1].headers as Record<string, string>)["Idempotency-Key"]);
    expect(keys[0]).toMatch(/^[0-9a-f-]{36}$/);
    expect(keys[1]).not.toBe(keys[0]);
  });

  it("posts a detection with its wait and an Idempotency-Key", async () => {
    const fetch = vi.fn(async () => json(202, { job: { id: "j1" } }));
    vi.stubGlobal("fetch", fetch);
    const api = new ApiClient(memoryStore(tokens("a1", "r1")));
    const body = { text: "person", exemplar_boxes: null, frame_index: 3, threshold: 0.5, max_objects: 20, propagate: false };
    expect(await api.detect("v1", body)).toEqual({ job: { id: "j1" } });
    const [url, init] = fetch.mock.calls[0] as unknown as [string, RequestInit];
    expect([url, init.method]).toEqual(["/v1/videos/v1/detections?wait=30", "POST"]);
    expect(JSON.parse(init.body as string)).toEqual(body);
    expect((init.headers as Record<string, string>)["Idempotency-Key"]).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("follows the prompt history's pages with the filters kept", async () => {
    const record = (id: string) => ({ id, object_id: 1, frame_index: 4, points: [], labels: [], box: null, mask: false, created_at: "t" });
    const fetch = vi.fn(async (url: string) =>
      json(200, url.includes("cursor=") ? { items: [record("p2")], next_cursor: null } : { items: [record("p1")], next_cursor: "c 1" }),
    );
    vi.stubGlobal("fetch", fetch);
    const api = new ApiClient(memoryStore(tokens("a1", "r1")));
    expect((await api.listPrompts("v1", { objectId: 1, frameIndex: 4 })).map((r) => r.id)).toEqual(["p1", "p2"]);
    expect(fetch.mock.calls.map((call) => (call as unknown as [string])[0])).toEqual([
      "/v1/videos/v1/prompts?limit=100&object_id=1&frame_index=4",
      "/v1/videos/v1/prompts?limit=100&object_id=1&frame_index=4&cursor=c+1",
    ]);
  });
});

describe("describeProblem", () => {
  it("adds field errors that the detail leaves out", () => {
    const text = describeProblem(422, {
      type: "t", title: "Unprocessable input", status: 422, detail: "the prompt is outside the frame",
      errors: [{ field: "points[0]", message: "x=500 is past the width 192" }],
    }, "POST failed");
    expect(text).toBe("Unprocessable input: the prompt is outside the frame — points[0]: x=500 is past the width 192");
  });

  it("falls back to the request and status without a body", () => {
    expect(describeProblem(502, null, "GET /v1/videos failed")).toBe("GET /v1/videos failed (HTTP 502)");
  });

  it("says when the server cannot be reached", () => {
    expect(errorText(new TypeError("Failed to fetch"))).toBe("Cannot reach the server (Failed to fetch)");
  });
});
