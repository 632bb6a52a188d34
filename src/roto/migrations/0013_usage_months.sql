-- Each user's usage per calendar month (UTC), kept as its records arrive. A quota check (one on
-- every click) summed the user's usage_records of the month, so each click cost more the more
-- the user had clicked: at 50,000 records the sum took 4-8 ms and a cached click's p50 rose by
-- 11-16 ms (docs/performance.md, section 4). usage_records stays the ledger and is only
-- ever inserted into; this is its running sum of the rows that count toward the quota. A trigger
-- keeps it, so every writer does, an older release still running during a deploy among them.
CREATE TABLE usage_months (
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    month       timestamptz NOT NULL,  -- the month's first instant in UTC
    frames      bigint NOT NULL CHECK (frames >= 0),
    gpu_seconds double precision NOT NULL CHECK (gpu_seconds >= 0),
    PRIMARY KEY (user_id, month)
);

CREATE FUNCTION usage_months_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.counts_toward_quota THEN
        INSERT INTO usage_months AS total (user_id, month, frames, gpu_seconds)
        VALUES (NEW.user_id, date_trunc('month', NEW.recorded_at, 'UTC'), NEW.frames,
                NEW.gpu_seconds)
        ON CONFLICT (user_id, month) DO UPDATE
        SET frames = total.frames + EXCLUDED.frames,
            gpu_seconds = total.gpu_seconds + EXCLUDED.gpu_seconds;
    END IF;
    RETURN NULL;
END
$$;

-- The records so far, summed while no new one can land (writers wait for this migration's
-- commit, after which the trigger counts theirs).
LOCK TABLE usage_records IN SHARE ROW EXCLUSIVE MODE;
INSERT INTO usage_months (user_id, month, frames, gpu_seconds)
SELECT user_id, date_trunc('month', recorded_at, 'UTC'), sum(frames), sum(gpu_seconds)
FROM usage_records
WHERE counts_toward_quota
GROUP BY 1, 2;

CREATE TRIGGER usage_records_add_to_month AFTER INSERT ON usage_records
FOR EACH ROW EXECUTE FUNCTION usage_months_add();
