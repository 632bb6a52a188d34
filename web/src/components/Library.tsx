/** The video library: upload straight to storage with progress, then watch ingest finish. */
import { useCallback, useEffect, useState, type ChangeEvent } from "react";
import type { ApiClient } from "../api/client";
import type { Video } from "../api/types";
import { uploadMultipart, uploadSingle } from "../api/upload";
import { navigate } from "../router";
import { ErrorBanner } from "./ErrorBanner";
import { formatRate } from "../viewer/timecode";

interface UploadState {
  filename: string;
  sent: number;
  total: number;
  phase: "uploading" | "finishing";
}

const POLL_MS = 1000;

function describe(video: Video): string {
  if (video.status !== "ready") return "";
  return `${video.width}×${video.height}, ${video.frame_count} frames at ${formatRate(video.fps ?? 0)} fps, ${video.codec}`;
}

function isBusy(video: Video): boolean {
  return video.status === "ingesting" || video.status === "awaiting_upload";
}

export function Library({ api }: { api: ApiClient }) {
  const [videos, setVideos] = useState<Video[] | null>(null);
  const [uploads, setUploads] = useState<UploadState[]>([]);
  const [error, setError] = useState<unknown>(null);

  const refresh = useCallback(async () => {
    try {
      setVideos((await api.listVideos()).items);
    } catch (err) {
      setError(err);
    }
  }, [api]);

  useEffect(() => {
    void refresh();
  }, [refresh]);

  // Poll while any video is ingesting; the list carries each video's status and error.
  const ingesting = videos?.some((v) => v.status === "ingesting") ?? false;
  useEffect(() => {
    if (!ingesting) return;
    const timer = window.setInterval(() => void refresh(), POLL_MS);
    return () => window.clearInterval(timer);
  }, [ingesting, refresh]);

  async function upload(file: File) {
    const entry: UploadState = { filename: file.name, sent: 0, total: file.size, phase: "uploading" };
    const update = (patch: Partial<UploadState>) =>
      setUploads((all) => all.map((u) => (u.filename === file.name ? { ...u, ...patch } : u)));
    setUploads((all) => [...all.filter((u) => u.filename !== file.name), entry]);
    try {
      const created = await api.createVideo(file);
      await refresh();
      const onProgress = (sent: number) => update({ sent });
      const parts =
        created.upload.method === "PUT"
          ? (await uploadSingle(file, created.upload, onProgress), undefined)
          : await uploadMultipart(file, created.upload, onProgress);
      update({ phase: "finishing" });
      await api.completeUpload(created.video.id, parts);
      await refresh();
    } catch (err) {
      setError(err);
    } finally {
      setUploads((all) => all.filter((u) => u.filename !== file.name));
    }
  }

  function onFiles(event: ChangeEvent<HTMLInputElement>) {
    for (const file of Array.from(event.target.files ?? [])) void upload(file);
    event.target.value = "";
  }

  async function remove(video: Video) {
    if (!window.confirm(`Delete ${video.filename} with its objects, masks and exports?`)) return;
    try {
      await api.deleteVideo(video.id);
      await refresh();
    } catch (err) {
      setError(err);
    }
  }

  return (
    <main className="library">
      <div className="row">
        <h2>Videos</h2>
        <span className="spacer" />
        <label className="button primary">
          Upload a video
          <input type="file" accept="video/*" onChange={onFiles} hidden data-testid="upload-input" multiple />
        </label>
      </div>
      <ErrorBanner error={error} onClose={() => setError(null)} />
      {uploads.map((u) => (
        <div className="upload" key={u.filename} data-testid="upload-progress">
          <span>{u.filename}</span>
          <progress max={u.total} value={u.sent} />
          <span>{u.phase === "finishing" ? "starting ingest…" : `${Math.floor((100 * u.sent) / Math.max(1, u.total))}%`}</span>
        </div>
      ))}
      {videos === null ? (
        <p>Loading…</p>
      ) : videos.length === 0 ? (
        <p className="hint">No videos yet: upload one to start.</p>
      ) : (
        <table className="videos">
          <thead>
            <tr><th>File</th><th>Status</th><th>Details</th><th /></tr>
          </thead>
          <tbody>
            {videos.map((video) => (
              <tr key={video.id} data-testid="video-row" data-status={video.status}>
                <td>
                  {video.status === "ready" ? (
                    <a href={`/videos/${video.id}`} onClick={(e) => { e.preventDefault(); navigate(`/videos/${video.id}`); }}>
                      {video.filename}
                    </a>
                  ) : (
                    video.filename
                  )}
                </td>
                <td className={`status ${video.status}`}>
                  {video.status.replace("_", " ")}
                  {isBusy(video) && video.status === "ingesting" && " …"}
                </td>
                <td>{video.error ? <span className="error-text">{video.error.message}</span> : describe(video)}</td>
                <td><button className="link" onClick={() => void remove(video)}>Delete</button></td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </main>
  );
}
