-- Objects of a video, the prompts that make keyframes, and the index of stored masks.

-- Object ids are small integers per video and never reused, so an export or a client cache
-- can never confuse a deleted object with a new one.
ALTER TABLE videos ADD COLUMN next_object_id integer NOT NULL DEFAULT 1;

CREATE TABLE objects (
    video_id   uuid NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    object_id  integer NOT NULL CHECK (object_id > 0),
    name       text NOT NULL,
    color      text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (video_id, object_id)
);

-- One row per prompt request; all rows of (video, object, frame) together are that keyframe's input.
CREATE TABLE prompts (
    id          uuid PRIMARY KEY,
    video_id    uuid NOT NULL,
    object_id   integer NOT NULL,
    frame_index integer NOT NULL CHECK (frame_index >= 0),
    points      jsonb NOT NULL,
    labels      jsonb NOT NULL,
    box         jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (video_id, object_id) REFERENCES objects (video_id, object_id) ON DELETE CASCADE
);
CREATE INDEX prompts_keyframe_idx ON prompts (video_id, object_id, frame_index, created_at);

-- The mask of one object on one frame: its RLE lives in S3 at storage_key (a single keyframe
-- mask, or a chunk of propagated frames), its score and area here for listing and checks.
CREATE TABLE masks (
    video_id    uuid NOT NULL,
    object_id   integer NOT NULL,
    frame_index integer NOT NULL CHECK (frame_index >= 0),
    source      text NOT NULL CHECK (source IN ('prompt', 'propagation')),
    score       real NOT NULL,
    area        bigint NOT NULL,
    storage_key text NOT NULL,
    job_id      uuid,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (video_id, object_id, frame_index),
    FOREIGN KEY (video_id, object_id) REFERENCES objects (video_id, object_id) ON DELETE CASCADE
);
