-- Corrections that behave like SAM2's own: prompt history, keyframe states, imported mattes,
-- the propagated mask a keyframe covers, object categories.

-- Objects get the class that dataset exports use (many objects, one class).
ALTER TABLE objects ADD COLUMN category text NOT NULL DEFAULT 'object';

-- A prompt may import a matte (COCO RLE at the source resolution) instead of, or beside, clicks.
ALTER TABLE prompts ADD COLUMN mask jsonb;
-- When the keyframe's state after this prompt was last made: set at creation, and again when an
-- earlier prompt of the keyframe is deleted (its state is then recomputed). The keyframe's
-- version, which spans are checked against, is the newest of its prompts' versions.
ALTER TABLE prompts ADD COLUMN version timestamptz NOT NULL DEFAULT now();
-- The S3 object holding the keyframe's state after this prompt (low-resolution logits, object
-- pointer, object score), written by the segment job; NULL until then.
ALTER TABLE prompts ADD COLUMN state_key text;
UPDATE prompts SET version = created_at;

-- What a keyframe's prompts are decoded against, fixed when its first prompt is: no memory (a
-- frame never tracked), or the tracker's memory-conditioned features of the frame (context_key,
-- an S3 object) and the direction it was tracked in.
CREATE TABLE keyframes (
    video_id    uuid NOT NULL,
    object_id   integer NOT NULL,
    frame_index integer NOT NULL CHECK (frame_index >= 0),
    context_key text,
    reverse     boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (video_id, object_id, frame_index),
    FOREIGN KEY (video_id, object_id) REFERENCES objects (video_id, object_id) ON DELETE CASCADE
);

-- A keyframe's mask row keeps the propagated mask it covers, so ending the keyframe gives back
-- exactly the mask the frame had before it.
ALTER TABLE masks ADD COLUMN base_score real;
ALTER TABLE masks ADD COLUMN base_area bigint;
ALTER TABLE masks ADD COLUMN base_storage_key text;
ALTER TABLE masks ADD COLUMN base_job_id uuid;

-- Spans are trimmed, not dropped, when a later propagation recomputes part of them, so one
-- segment can hold several spans: they are told apart by their first frame.
ALTER TABLE propagated_spans DROP CONSTRAINT propagated_spans_pkey;
ALTER TABLE propagated_spans ADD PRIMARY KEY (video_id, object_id, frame_start);
