-- Billing: what each finished GPU job used, a user's Stripe customer, and the Stripe events seen.

-- One row per finished segment or propagate job. No foreign key to jobs: deleting a video
-- deletes its jobs, and the month's usage must not shrink with it.
CREATE TABLE usage_records (
    job_id      uuid PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    job_type    text NOT NULL,
    frames      integer NOT NULL CHECK (frames >= 0),
    gpu_seconds double precision NOT NULL CHECK (gpu_seconds >= 0),
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX usage_records_user_idx ON usage_records (user_id, recorded_at);

ALTER TABLE users ADD COLUMN stripe_customer_id text;
CREATE UNIQUE INDEX users_stripe_customer_key ON users (stripe_customer_id);

-- Stripe delivers an event at least once; its id makes the second delivery a no-op.
CREATE TABLE stripe_events (
    id          text PRIMARY KEY,
    type        text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
