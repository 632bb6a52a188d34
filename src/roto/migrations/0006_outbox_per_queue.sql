-- The relay takes each queue's oldest due rows separately, so that a burst on one queue does not
-- hold back another's: this index serves that per-queue, oldest-first lookup.
CREATE INDEX outbox_queue_idx ON outbox (queue, id);
