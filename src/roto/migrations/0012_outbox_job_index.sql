-- A job's unsent messages by job: every finished job withdraws the message its lane held back
-- (and a lane offer that failed sends it now), so without this each finish scanned the whole
-- outbox, which grows while SQS is away.
CREATE INDEX outbox_job_idx ON outbox (job_id);
