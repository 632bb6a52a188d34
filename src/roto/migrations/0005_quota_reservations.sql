-- The quota check counts the frames that a user's unfinished GPU jobs may still use; this
-- keeps that lookup to the few unfinished jobs, however many a user has run.
CREATE INDEX jobs_unfinished_gpu_idx ON jobs (user_id)
    WHERE status IN ('queued', 'running') AND type IN ('segment', 'propagate');
