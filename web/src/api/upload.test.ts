import { afterEach, describe, expect, it, vi } from "vitest";
import { uploadMultipart, uploadSingle, UploadError } from "./upload";

interface Sent {
  url: string;
  headers: Record<string, string>;
  body: string;
}

/** Enough of XMLHttpRequest for the uploader: records each PUT and answers it at once. */
function fakeXhr(answer: (sent: Sent) => { status: number; etag?: string }) {
  const sent: Sent[] = [];
  class FakeXhr {
    upload: { onprogress: ((e: { loaded: number }) => void) | null } = { onprogress: null };
    onload: (() => void) | null = null;
    onerror: (() => void) | null = null;
    status = 0;
    responseText = "";
    private request: Sent = { url: "", headers: {}, body: "" };
    private etag: string | undefined;
    open(_method: string, url: string) {
      this.request.url = url;
    }
    setRequestHeader(name: string, value: string) {
      this.request.headers[name] = value;
    }
    getResponseHeader(name: string) {
      return name === "ETag" ? (this.etag ?? null) : null;
    }
    send(body: Blob) {
      void body.text().then((text) => {
        this.request.body = text;
        sent.push(this.request);
        this.upload.onprogress?.({ loaded: body.size / 2 });
        this.upload.onprogress?.({ loaded: body.size });
        const reply = answer(this.request);
        this.status = reply.status;
        this.etag = reply.etag;
        this.responseText = reply.status >= 300 ? "<Error>AccessDenied</Error>" : "";
        this.onload?.();
      });
    }
  }
  vi.stubGlobal("XMLHttpRequest", FakeXhr);
  return sent;
}

afterEach(() => vi.unstubAllGlobals());

describe("uploads to presigned URLs", () => {
  it("sends one PUT with the API's headers and reports progress to the end", async () => {
    const sent = fakeXhr(() => ({ status: 200 }));
    const progress: number[] = [];
    await uploadSingle(new Blob(["0123456789"]), { method: "PUT", url: "http://s3/put", headers: { "Content-Type": "video/mp4" }, expires_at: "" }, (s) => progress.push(s));
    expect(sent).toEqual([{ url: "http://s3/put", headers: { "Content-Type": "video/mp4" }, body: "0123456789" }]);
    expect(progress.at(-1)).toBe(10);
  });

  it("slices a multipart upload by part size and returns each part's ETag", async () => {
    const sent = fakeXhr((r) => ({ status: 200, etag: `"etag-${r.url.slice(-1)}"` }));
    const progress: number[] = [];
    const parts = await uploadMultipart(
      new Blob(["aaaabbbbcc"]),
      {
        method: "MULTIPART", upload_id: "u", part_size: 4, expires_at: "",
        parts: [3, 1, 2].map((n) => ({ part_number: n, url: `http://s3/part${n}` })),
      },
      (s) => progress.push(s),
    );
    expect(sent.map((s) => s.body)).toEqual(["aaaa", "bbbb", "cc"]);
    expect(parts).toEqual([1, 2, 3].map((n) => ({ part_number: n, etag: `"etag-${n}"` })));
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    expect(progress.at(-1)).toBe(10);
  });

  it("fails with storage's answer when a part is refused or has no ETag", async () => {
    fakeXhr(() => ({ status: 403 }));
    const upload = { method: "MULTIPART" as const, upload_id: "u", part_size: 4, expires_at: "", parts: [{ part_number: 1, url: "http://s3/p1" }] };
    await expect(uploadMultipart(new Blob(["ab"]), upload, () => {})).rejects.toThrow(/HTTP 403.*AccessDenied/);
    fakeXhr(() => ({ status: 200 }));
    await expect(uploadMultipart(new Blob(["ab"]), upload, () => {})).rejects.toThrow(UploadError);
  });
});
