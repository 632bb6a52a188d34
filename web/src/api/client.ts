/** The v1 API client: one method per operation the app uses, typed by the OpenAPI schema. */
import { ApiError } from "./errors";
import { readEventStream, type ServerEvent } from "./sse";
import type {
  Detection,
  DetectionDone,
  ExportCreate,
  FrameMasks,
  Job,
  JobEnvelope,
  Me,
  ObjectCreate,
  ObjectUpdate,
  Page,
  Problem,
  PromptJob,
  PromptMask,
  PromptRecord,
  PromptRemoved,
  Prompt,
  PropagationCreate,
  Span,
  Tokens,
  Video,
  VideoCreated,
  VideoIngest,
  VideoMasks,
  VideoObject,
  CompletedPart,
} from "./types";

type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

export interface TokenStore {
  get(): Tokens | null;
  set(tokens: Tokens | null): void;
}

/** Tokens kept in localStorage so a reload keeps the artist signed in. */
export function browserTokenStore(key = "roto.tokens"): TokenStore {
  return {
    get: () => {
      const raw = localStorage.getItem(key);
      return raw ? (JSON.parse(raw) as Tokens) : null;
    },
    set: (tokens) =>
      tokens ? localStorage.setItem(key, JSON.stringify(tokens)) : localStorage.removeItem(key),
  };
}

async function problemOf(response: Response): Promise<Problem | null> {
  const type = response.headers.get("content-type") ?? "";
  if (!type.includes("json")) return null;
  try {
    return (await response.json()) as Problem;
  } catch {
    return null;
  }
}

export class ApiClient {
  private refreshing: Promise<boolean> | null = null;

  constructor(
    readonly tokens: TokenStore,
    readonly base = "",
    readonly onSignedOut: () => void = () => {},
  ) {}

  authHeaders(): Record<string, string> {
    const tokens = this.tokens.get();
    return tokens ? { Authorization: `Bearer ${tokens.access_token}` } : {};
  }

  /** One authorised call; on a 401 it refreshes the tokens once and tries again. */
  async fetch(path: string, init: RequestInit = {}, retry = true): Promise<Response> {
    const headers = { ...this.authHeaders(), ...(init.headers as Record<string, string>) };
    const response = await fetch(this.base + path, { ...init, headers });
    if (response.status === 401 && retry && this.tokens.get()) {
      if (await this.refresh()) return this.fetch(path, init, false);
      this.tokens.set(null);
      this.onSignedOut();
    }
    if (!response.ok) {
      throw new ApiError(response.status, await problemOf(response), `${init.method ?? "GET"} ${path} failed`);
    }
    return response;
  }

  async call<T>(method: Method, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
    const init: RequestInit = { method, headers: { ...headers } };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      (init.headers as Record<string, string>)["Content-Type"] = "application/json";
    }
    const response = await this.fetch(path, init);
    if (response.status === 204) return undefined as T;
    return (await response.json()) as T;
  }

  private refresh(): Promise<boolean> {
    this.refreshing ??= (async () => {
      const current = this.tokens.get();
      if (!current) return false;
      const response = await fetch(`${this.base}/v1/auth/refresh`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ refresh_token: current.refresh_token }),
      });
      if (!response.ok) return false;
      this.tokens.set((await response.json()) as Tokens);
      return true;
    })().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  async register(email: string, password: string): Promise<Tokens> {
    const tokens = await this.call<Tokens>("POST", "/v1/auth/register", { email, password });
    this.tokens.set(tokens);
    return tokens;
  }

  async login(email: string, password: string): Promise<Tokens> {
    const tokens = await this.call<Tokens>("POST", "/v1/auth/login", { email, password });
    this.tokens.set(tokens);
    return tokens;
  }

  signOut(): void {
    this.tokens.set(null);
  }

  me = () => this.call<Me>("GET", "/v1/me");
  listVideos = (cursor?: string) =>
    this.call<Page<Video>>("GET", `/v1/videos?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
  getVideo = (id: string) => this.call<Video>("GET", `/v1/videos/${id}`);
  deleteVideo = (id: string) => this.call<void>("DELETE", `/v1/videos/${id}`);
  createVideo = (file: { name: string; type: string; size: number }) =>
    this.call<VideoCreated>("POST", "/v1/videos", {
      filename: file.name,
      content_type: file.type || "application/octet-stream",
      size_bytes: file.size,
    });
  completeUpload = (id: string, parts?: CompletedPart[]) =>
    this.call<VideoIngest>("POST", `/v1/videos/${id}/upload-complete`, parts ? { parts } : {});

  /** A frame as a blob; the API redirects to storage, which fetch follows. `proxy` is the
   * frame at most 960 px on its long side, for scrubbing and playback. */
  async frame(videoId: string, index: number, size: "full" | "proxy" = "full", signal?: AbortSignal): Promise<Blob> {
    const query = size === "proxy" ? "?size=proxy" : "";
    return (await this.fetch(`/v1/videos/${videoId}/frames/${index}${query}`, { signal })).blob();
  }

  /** A frame's 8-bit matte PNG, shaped by `query` (object_id and the Matte fields). */
  async matte(videoId: string, index: number, query: string, signal?: AbortSignal): Promise<Blob> {
    return (await this.fetch(`/v1/videos/${videoId}/masks/${index}.png?${query}`, { signal })).blob();
  }

  listObjects = (videoId: string) =>
    this.call<Page<VideoObject>>("GET", `/v1/videos/${videoId}/objects?limit=100`);
  createObject = (videoId: string, body: ObjectCreate) =>
    this.call<VideoObject>("POST", `/v1/videos/${videoId}/objects`, body);
  updateObject = (videoId: string, objectId: number, body: ObjectUpdate) =>
    this.call<VideoObject>("PATCH", `/v1/videos/${videoId}/objects/${objectId}`, body);
  deleteObject = (videoId: string, objectId: number) =>
    this.call<void>("DELETE", `/v1/videos/${videoId}/objects/${objectId}`);

  prompt = (videoId: string, prompt: Prompt, waitS = 10) =>
    this.call<PromptMask | PromptJob>("POST", `/v1/videos/${videoId}/prompts?wait=${waitS}`, prompt);
  /** Undoes one prompt; the answer carries it back, to post again for a redo. */
  deletePrompt = (videoId: string, promptId: string, waitS = 10) =>
    this.call<PromptRemoved>("DELETE", `/v1/videos/${videoId}/prompts/${promptId}?wait=${waitS}`);
  deleteKeyframe = (videoId: string, objectId: number, frameIndex: number) =>
    this.call<void>("DELETE", `/v1/videos/${videoId}/objects/${objectId}/keyframes/${frameIndex}`);

  /** The stored prompts, oldest first, following the API's pages. */
  async listPrompts(videoId: string, filter: { objectId?: number; frameIndex?: number } = {}): Promise<PromptRecord[]> {
    const records: PromptRecord[] = [];
    let cursor: string | null = null;
    do {
      const query = new URLSearchParams({ limit: "100" });
      if (filter.objectId !== undefined) query.set("object_id", String(filter.objectId));
      if (filter.frameIndex !== undefined) query.set("frame_index", String(filter.frameIndex));
      if (cursor) query.set("cursor", cursor);
      const page: Page<PromptRecord> = await this.call<Page<PromptRecord>>("GET", `/v1/videos/${videoId}/prompts?${query}`);
      records.push(...page.items);
      cursor = page.next_cursor;
    } while (cursor);
    return records;
  }

  /** Runs of frames per object: fresh, stale (a correction changed a keyframe) or missing. */
  async spans(videoId: string, objectId?: number): Promise<Span[]> {
    const query = objectId === undefined ? "" : `?object_id=${objectId}`;
    return (await this.call<{ items: Span[] }>("GET", `/v1/videos/${videoId}/spans${query}`)).items;
  }

  /** Every mask of the range, following the API's pages. */
  async masks(videoId: string, frameStart = 0, frameEnd?: number, objectIds?: number[]): Promise<FrameMasks[]> {
    const frames: FrameMasks[] = [];
    let start: number | null | undefined = frameStart;
    while (start !== null && start !== undefined) {
      const query = new URLSearchParams({ frame_start: String(start) });
      if (frameEnd !== undefined) query.set("frame_end", String(frameEnd));
      if (objectIds?.length) query.set("object_ids", objectIds.join(","));
      const page: VideoMasks = await this.call<VideoMasks>("GET", `/v1/videos/${videoId}/masks?${query}`);
      frames.push(...page.frames);
      start = page.next_frame_start;
    }
    return frames;
  }

  /** Text and exemplar prompts: every instance on the frame becomes a new object. */
  detect = (videoId: string, body: Detection, waitS = 30) =>
    this.call<DetectionDone | JobEnvelope>("POST", `/v1/videos/${videoId}/detections?wait=${waitS}`, body, idempotent());
  propagate = (videoId: string, body: PropagationCreate) =>
    this.call<JobEnvelope>("POST", `/v1/videos/${videoId}/propagations`, body, idempotent());
  exportVideo = (videoId: string, body: ExportCreate) =>
    this.call<JobEnvelope>("POST", `/v1/videos/${videoId}/exports`, body, idempotent());
  getJob = (id: string) => this.call<Job>("GET", `/v1/jobs/${id}`);
  listJobs = (videoId: string, status?: Job["status"]) =>
    this.call<Page<Job>>("GET", `/v1/jobs?video_id=${videoId}&limit=100${status ? `&status=${status}` : ""}`);
  cancelJob = (id: string) => this.call<Job>("POST", `/v1/jobs/${id}/cancel`);

  /** The job's events until its terminal status. EventSource cannot send an Authorization
   * header, so this reads the stream with fetch. */
  async *jobEvents(jobId: string, signal?: AbortSignal): AsyncGenerator<ServerEvent> {
    const response = await this.fetch(`/v1/jobs/${jobId}/events`, {
      headers: { Accept: "text/event-stream" },
      signal,
    });
    if (!response.body) throw new Error("the event stream has no body");
    yield* readEventStream(response.body);
  }
}

/** A fresh Idempotency-Key, so a retried click cannot start a second job. */
function idempotent(): Record<string, string> {
  return { "Idempotency-Key": crypto.randomUUID() };
}
