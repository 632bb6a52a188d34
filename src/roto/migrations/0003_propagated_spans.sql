-- What propagation has filled, per object: a span is the run of frames between two neighbouring
-- keyframes (or a keyframe and the video's edge) within a propagated range. It stays fresh while
-- both keyframes keep the prompts it was computed from, so a new prompt makes only the spans next
-- to its frame stale, and the next propagation recomputes those alone.
CREATE TABLE propagated_spans (
    video_id        uuid NOT NULL,
    object_id       integer NOT NULL,
    -- -1: the span starts at the video's first frame; the frame count: it runs to the last.
    keyframe_before integer NOT NULL,
    keyframe_after  integer NOT NULL,
    -- The newest prompt of each keyframe when the span was computed (NULL for a video edge).
    before_version  timestamptz,
    after_version   timestamptz,
    frame_start     integer NOT NULL,
    frame_end       integer NOT NULL,
    job_id          uuid NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (video_id, object_id, keyframe_before, keyframe_after),
    FOREIGN KEY (video_id, object_id) REFERENCES objects (video_id, object_id) ON DELETE CASCADE,
    CHECK (keyframe_before < frame_start AND frame_start <= frame_end AND frame_end < keyframe_after)
);
