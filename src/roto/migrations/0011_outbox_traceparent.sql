-- The trace context (W3C traceparent) of the request that queued a job, sent with its message as
-- an SQS attribute so that the worker's spans join the request's trace. NULL when tracing is off.
ALTER TABLE outbox ADD COLUMN traceparent text;
