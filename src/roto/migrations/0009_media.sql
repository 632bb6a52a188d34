-- Media fidelity and metering: what ingest learns beyond the picture size, and usage rows for the
-- media worker's jobs.

-- The exact frame rate ("24000/1001"), the source's start timecode (HH:MM:SS:FF) and whether
-- ingest wrote proxy frames (long side at most 960 px) for playback.
ALTER TABLE videos ADD COLUMN frame_rate text;
ALTER TABLE videos ADD COLUMN timecode text;
ALTER TABLE videos ADD COLUMN proxy_frames boolean NOT NULL DEFAULT false;

-- Ingest and export jobs are metered too: their frames and worker seconds are recorded, but only
-- GPU jobs count against the plan's frame quota and the month's GPU seconds.
ALTER TABLE usage_records ADD COLUMN worker_seconds double precision NOT NULL DEFAULT 0
    CHECK (worker_seconds >= 0);
ALTER TABLE usage_records ADD COLUMN counts_toward_quota boolean NOT NULL DEFAULT true;
