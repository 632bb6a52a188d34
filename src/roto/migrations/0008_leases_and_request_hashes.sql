-- An Idempotency-Key remembers a hash of the request it came with: the same key with another
-- body is refused (422) instead of silently answering the first job. NULL for keys stored before.
ALTER TABLE idempotency_keys ADD COLUMN request_hash bytea;
