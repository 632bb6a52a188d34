"""The fast lane: a click's job handed to a waiting worker through Redis instead of SQS.

A job is still a row first and a message second (``roto.jobs.outbox``); the lane decides only
how the message travels when all goes well. A job of a lane queue is committed with its outbox
message held back for ``ROTO_JOB_LANE_HOLD_S``, and then offered on a Redis list of its queue: a
worker with a free slot on that queue blocks on the list, takes the hint and claims the job as
it would from SQS. The transaction that stores the job's outcome withdraws the message, which
was never sent: a click costs one Redis push and pop where it cost an SQS send, a long poll and
a delete (on a small machine that shares its cores, that work also slowed the model).

Nothing depends on the lane. When the offer fails (Redis away) the message goes at once; when
the hint is lost or nobody takes it in time (a worker died, every slot busy), the message goes
once its hold is over and the job runs from SQS as any other; a job still running then keeps
its message, which waits for the run where it is received (``roto.worker.runtime``). Hints
older than ``MAX_AGE_S`` are dropped unread, and a list nobody reads is bounded and expires.
"""

from __future__ import annotations

import contextlib
import time
import weakref
from collections.abc import Mapping

import msgspec
import redis.asyncio as aioredis
import structlog
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from redis.exceptions import RedisError

from roto import tracing
from roto.jobs import repository as repo
from roto.jobs.contracts import JOB_QUEUES, JobMessage, encode_message
from roto.jobs.repository import JobRow
from roto.resources import Resources
from roto.settings import Settings

log = structlog.get_logger(__name__)

#: The queues whose jobs are offered on the lane: the ones a person waits on.
LANE_QUEUES = frozenset({"interactive"})
#: A hint older than this is dropped: its job's SQS message is delivered well within it.
MAX_AGE_S = 5.0
#: The most hints a list keeps, and how long it lives after the last one (nobody reading).
MAX_LENGTH = 1000
TTL_S = 60
#: After an offer failed, the API offers nothing on that Redis client for this long: an
#: unanswering Redis costs one click a timeout, not every click.
OFFER_RETRY_S = 5.0

_offer_retry_at: weakref.WeakKeyDictionary[aioredis.Redis, float] = weakref.WeakKeyDictionary()


class Hint(msgspec.Struct, frozen=True):
    """What a worker needs to run the job: the SQS message body, the trace context it would
    carry, and when the API offered it (Unix seconds)."""

    body: str
    offered_at: float
    traceparent: str | None = None

    @property
    def age_s(self) -> float:
        return max(0.0, time.time() - self.offered_at)


def hold_s(settings: Settings, job_type: str) -> float:
    """How long a new ``job_type`` job's message is held back for its lane (0: no lane)."""
    if settings.job_lane and JOB_QUEUES.get(job_type) in LANE_QUEUES:
        return settings.job_lane_hold_s
    return 0.0


async def dispatch(resources: Resources, job: JobRow) -> None:
    """Once ``job`` has committed: offer it on its lane, or else wake the outbox relay to send
    its message. A job whose message was held for the lane and could not be offered has it sent
    at once instead. A message held for an offered job is not due yet: the relay's periodic
    pass sends it if the hold runs out, and a pass now would find nothing to send (on a click's
    path, a query and the CPU it takes while the daemon decodes)."""
    if hold_s(resources.settings, job.type) > 0:
        if await offer(resources.redis, resources.settings.queue_names, job):
            return
        async with resources.pool.acquire() as conn:
            await repo.send_outbox_now(conn, job.id)
    resources.outbox_wake.set()


def lane_key(queue_name: str) -> str:
    """The lane of the SQS queue named ``queue_name`` (a deployment's own, like its queues)."""
    return f"roto:lane:{queue_name}"


async def offer(redis: aioredis.Redis, queue_names: Mapping[str, str], job: JobRow) -> bool:
    """Offer a committed job on its queue's lane (only lane queues have one; ``queue_names``:
    the SQS queue names by queue); False when it was not offered. Redis being away is logged:
    the SQS message still delivers the job."""
    queue = JOB_QUEUES.get(job.type)
    if queue not in LANE_QUEUES or time.monotonic() < _offer_retry_at.get(redis, 0.0):
        return False
    message = JobMessage(job_id=str(job.id), type=job.type, request_id=job.request_id)
    key = lane_key(queue_names[queue])
    with _offer_span(queue, job) as span:
        # The job's span will be a child of the offer, as it is of the send through SQS.
        traceparent = tracing.traceparent_of(span) if span.is_recording() else None
        hint = Hint(encode_message(message), time.time(), traceparent)
        try:
            async with redis.pipeline(transaction=False) as pipe:
                pipe.lpush(key, msgspec.json.encode(hint))
                pipe.ltrim(key, 0, MAX_LENGTH - 1)
                pipe.expire(key, TTL_S)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            _offer_retry_at[redis] = time.monotonic() + OFFER_RETRY_S
            log.warning("lane_offer_failed", error=repr(exc), paused_for_s=OFFER_RETRY_S)
            span.set_status(Status(StatusCode.ERROR, repr(exc)))
            return False
    return True


def _offer_span(queue: str, job: JobRow) -> contextlib.AbstractContextManager[trace.Span]:
    if not tracing.is_enabled():
        return contextlib.nullcontext(trace.INVALID_SPAN)
    return tracing.tracer().start_as_current_span(
        f"lane {queue}",
        kind=SpanKind.PRODUCER,
        attributes={
            "messaging.system": "redis",
            "messaging.destination.name": queue,
            "roto.job.id": str(job.id),
        },
    )


async def take(redis: aioredis.Redis, queue_name: str, wait_s: float) -> Hint | None:
    """The oldest fresh hint on the lane of the SQS queue ``queue_name``, waiting up to
    ``wait_s`` (a whole second at least, Redis's unit) for one; None when none came. Raises
    Redis's errors."""
    deadline = time.monotonic() + wait_s
    while True:
        left = deadline - time.monotonic()
        popped = await redis.brpop([lane_key(queue_name)], timeout=max(1, int(left)))
        if popped is None:
            return None
        try:
            hint = msgspec.json.decode(popped[1], type=Hint)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            log.warning("lane_hint_undecodable", error=str(exc))
            continue
        if hint.age_s <= MAX_AGE_S:
            return hint
        log.info("lane_hint_stale", age_s=round(hint.age_s, 1))
        if time.monotonic() >= deadline:
            return None
