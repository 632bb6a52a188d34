/** Uploads straight to storage with the presigned URLs the API hands out, reporting progress.
 * XMLHttpRequest, not fetch: only XHR reports upload progress in every browser. */
import type { CompletedPart, MultipartUpload, PutUpload } from "./types";

export type OnProgress = (sentBytes: number, totalBytes: number) => void;

export class UploadError extends Error {}

function put(
  url: string,
  body: Blob,
  headers: Record<string, string>,
  onProgress: (sent: number) => void,
): Promise<XMLHttpRequest> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", url);
    for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (event) => onProgress(event.loaded);
    xhr.onload = () =>
      xhr.status >= 200 && xhr.status < 300
        ? resolve(xhr)
        : reject(new UploadError(`storage refused the upload (HTTP ${xhr.status}): ${xhr.responseText.slice(0, 200)}`));
    xhr.onerror = () => reject(new UploadError("the upload to storage failed (network error or CORS)"));
    xhr.send(body);
  });
}

/** One PUT of the whole file. */
export async function uploadSingle(file: Blob, upload: PutUpload, onProgress: OnProgress): Promise<void> {
  await put(upload.url, file, upload.headers, (sent) => onProgress(sent, file.size));
  onProgress(file.size, file.size);
}

/** Every part in turn (sequential keeps memory and bandwidth use predictable); returns the parts
 * with their ETags for upload-complete. */
export async function uploadMultipart(
  file: Blob,
  upload: MultipartUpload,
  onProgress: OnProgress,
): Promise<CompletedPart[]> {
  const done: CompletedPart[] = [];
  let finished = 0;
  for (const part of [...upload.parts].sort((a, b) => a.part_number - b.part_number)) {
    const start = (part.part_number - 1) * upload.part_size;
    const chunk = file.slice(start, Math.min(start + upload.part_size, file.size));
    const xhr = await put(part.url, chunk, {}, (sent) => onProgress(finished + sent, file.size));
    const etag = xhr.getResponseHeader("ETag");
    if (!etag) throw new UploadError(`storage sent no ETag for part ${part.part_number} (CORS must expose it)`);
    done.push({ part_number: part.part_number, etag });
    finished += chunk.size;
    onProgress(finished, file.size);
  }
  return done;
}
