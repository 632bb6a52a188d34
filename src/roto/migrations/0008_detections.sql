-- Concept detection: a `detect` job finds every instance of a text or exemplar prompt on one frame
-- and makes each a new object whose keyframe holds the instance's mask as an imported matte.

ALTER TABLE jobs DROP CONSTRAINT jobs_type_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_type_check
    CHECK (type IN ('ingest', 'segment', 'propagate', 'detect', 'export'));

-- A detection counts one frame against the quota while it is queued or running, as a click does.
DROP INDEX jobs_unfinished_gpu_idx;
CREATE INDEX jobs_unfinished_gpu_idx ON jobs (user_id)
    WHERE status IN ('queued', 'running') AND type IN ('segment', 'detect', 'propagate');

-- The object ids a detect job set aside for the instances it found, by rank (highest score
-- first), before it computed their keyframes: the keyframes' states are stored under those ids,
-- and a redelivered job finds the same ids here instead of taking new ones. The objects are
-- created, and these rows deleted, in the transaction that finishes the job.
CREATE TABLE detection_object_ids (
    job_id    uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    rank      integer NOT NULL CHECK (rank >= 0),
    video_id  uuid NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    object_id integer NOT NULL CHECK (object_id > 0),
    PRIMARY KEY (job_id, rank)
);
