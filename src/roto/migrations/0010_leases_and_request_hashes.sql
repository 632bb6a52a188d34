-- An Idempotency-Key remembers a hash of the request it came with: the same key with another
-- body is refused (422) instead of silently answering the first job. NULL for keys stored before.
ALTER TABLE idempotency_keys ADD COLUMN request_hash bytea;

-- A running job is held by one worker: its claim is a lease that the worker's heartbeat extends.
-- Another delivery of the job may claim it again only once the lease has run out (the worker
-- died or hung); until then it waits. NULL on rows claimed before leases existed.
ALTER TABLE jobs ADD COLUMN lease_expires_at timestamptz;
