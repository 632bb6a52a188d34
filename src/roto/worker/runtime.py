"""The worker runtime: receive job messages while a slot is free, run each job as a task, and
settle its message only after the job's outcome is stored. Shared by every worker role.

Each queue of the role has its own ``worker_concurrency`` slots, so long jobs of one queue (the
GPU daemon's propagations) can never hold the slots that another queue's jobs (clicks) need.

A queue with a fast lane (``roto.jobs.lane``) is also read there while it has a free slot: a
job taken from the lane runs at once, and when its SQS message arrives here meanwhile, that
message waits for the run (without a slot) and is settled with its outcome. (Both sources may
fill the same free slot at once: a queue then runs one job over its limit for a while.)
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import time
import uuid
from collections.abc import AsyncIterator, Mapping

import msgspec
import structlog

from roto import tracing
from roto.jobs import lane
from roto.jobs import repository as jobs_repo
from roto.jobs.contracts import JobMessage, decode_message
from roto.resources import Resources
from roto.waits import wait_for_event
from roto.worker.contract import JobHandler, Role
from roto.worker.deadletters import DeadLetters
from roto.worker.heartbeat import VisibilityHeartbeat
from roto.worker.jobrun import Defer, Disposition, lease_seconds, run_job
from roto.worker.liveness import Liveness
from roto.worker.receiver import Delivery, Receiver, retry_backoff_s

log = structlog.get_logger(__name__)

# After SQS itself failed, wait this long before polling again.
RECEIVE_ERROR_PAUSE_S = 1.0
# How long one wait on a fast lane blocks (below the Redis client's socket timeout), and the
# pause after Redis failed.
LANE_WAIT_S = 1.0
LANE_ERROR_PAUSE_S = 5.0


class WorkerRuntime:
    """Runs one role's jobs in this process until ``request_stop``; ``run`` drains before it
    returns, handing jobs still running after the drain timeout back to their queue."""

    def __init__(self, resources: Resources, role: Role) -> None:
        self._resources = resources
        self._settings = resources.settings
        self._role = role
        queues = [(name, resources.queue_urls[name]) for name in role.queues]
        self._receiver = Receiver(resources.sqs, queues, self._settings.worker_wait_time_s)
        self._tasks: dict[asyncio.Task[None], str] = {}  # running job -> its queue
        # Jobs taken from a fast lane, until their outcome (how their SQS messages settle), and
        # the tasks of those messages waiting for it (they hold no slot).
        self._lane_runs: dict[uuid.UUID, asyncio.Future[Disposition | Defer]] = {}
        self._waiting_messages: set[asyncio.Task[None]] = set()
        self._stop = asyncio.Event()
        self._slot_freed = asyncio.Event()
        self._lane_slot_freed = asyncio.Event()
        self._stop_requested_at: float | None = None
        self._handlers: Mapping[str, JobHandler] = {}

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    def free_slots(self) -> dict[str, int]:
        """Jobs each queue may still start."""
        running = collections.Counter(self._tasks.values())
        limit = self._settings.worker_concurrency
        return {name: max(limit - running[name], 0) for name in self._role.queues}

    def request_stop(self) -> None:
        """Stop receiving now; ``run`` returns once in-flight jobs finish or are handed back."""
        if self._stop_requested_at is None:
            self._stop_requested_at = time.monotonic()
            log.info("worker_stop_requested", role=self._role.name, in_flight=self.in_flight)
        self._stop.set()
        self._slot_freed.set()
        self._lane_slot_freed.set()

    def _lane_queues(self) -> list[str]:
        if not self._settings.job_lane:
            return []
        return [name for name in self._role.queues if name in lane.LANE_QUEUES]

    async def run(self) -> None:
        """Enter the role's ``serve``, receive and run jobs until ``request_stop``, then drain."""
        async with self._role.serve(self._resources) as handlers:
            self._handlers = handlers
            log.info(
                "worker_started",
                role=self._role.name,
                queues=list(self._role.queues),
                concurrency_per_queue=self._settings.worker_concurrency,
            )
            dead_letters = DeadLetters(self._resources, handlers, self._role.queues)
            reading = asyncio.create_task(dead_letters.run(self._stop), name="dead-letters")
            # Alive from the first receive until the drain ends, draining ones included.
            drained = asyncio.Event()
            beating = asyncio.create_task(self._liveness().run(drained), name="liveness")
            lanes = [
                asyncio.create_task(self._read_lane(name), name=f"lane-{name}")
                for name in self._lane_queues()
            ]
            try:
                await self._receive_loop()
            finally:
                for reader in lanes:  # a hint in hand is dropped: its SQS message has the job
                    reader.cancel()
                await asyncio.gather(*lanes, return_exceptions=True)
                await self._drain()
                self._stop.set()  # also when the loop ended on an error
                drained.set()
                await reading
                await beating
        log.info("worker_stopped", role=self._role.name)

    def _liveness(self) -> Liveness:
        return Liveness(
            self._settings.liveness_file,
            self._settings.worker_liveness_interval_s,
            state=lambda: "draining" if self._stop.is_set() else "ready",
            in_flight=lambda: self.in_flight,
            stalled=self._role.stalled,
        )

    async def _receive_loop(self) -> None:
        try:
            await self._receive_until_stopped()
        finally:
            leftover = await self._receiver.close()
            await asyncio.gather(*(self._hand_back(d) for d in leftover))

    async def _receive_until_stopped(self) -> None:
        while not self._stop.is_set():
            await self._wait_for_slot()
            if self._stop.is_set():
                break
            free = self.free_slots()
            # Set when a job ends: its queue, long-polled or not, has a free slot again.
            self._slot_freed.clear()
            try:
                deliveries = await self._receiver.receive(free, self._slot_freed)
            except Exception as exc:
                log.warning("receive_failed", error=repr(exc))
                await self._pause(RECEIVE_ERROR_PAUSE_S)
                continue
            if self._stop.is_set():
                # A long poll under way at the stop is let finish rather than cancelled: SQS may
                # already have handed its messages out, and they would stay hidden until their
                # visibility timeout. Never started, they go back at once.
                await asyncio.gather(*(self._hand_back(d) for d in deliveries))
                break
            for delivery in deliveries:
                self._start(delivery)

    async def _read_lane(self, queue: str) -> None:
        """Take jobs from ``queue``'s fast lane while it has a free slot, until the stop."""
        log.info("lane_reading", queue=queue)
        while not self._stop.is_set():
            while not self.free_slots().get(queue, 0) and not self._stop.is_set():
                self._lane_slot_freed.clear()
                await self._lane_slot_freed.wait()
            if self._stop.is_set():
                return
            try:
                name = self._settings.queue_names[queue]
                hint = await lane.take(self._resources.redis, name, LANE_WAIT_S)
            except Exception as exc:  # Redis away: SQS brings every job meanwhile
                log.warning("lane_read_failed", queue=queue, error=repr(exc))
                await self._pause(LANE_ERROR_PAUSE_S)
                continue
            if hint is None or self._stop.is_set():
                continue
            attributes = {tracing.TRACEPARENT: hint.traceparent} if hint.traceparent else {}
            self._start(
                Delivery(
                    queue=queue,
                    queue_url="",
                    message_id=f"lane-{hint.offered_at}",
                    receipt="",
                    body=hint.body,
                    receives=1,
                    sent_at=hint.offered_at,
                    attributes=attributes,
                    via="lane",
                )
            )

    async def _wait_for_slot(self) -> None:
        while not any(self.free_slots().values()) and not self._stop.is_set():
            self._slot_freed.clear()
            await self._slot_freed.wait()

    async def _pause(self, seconds: float) -> None:
        await wait_for_event(self._stop, seconds)

    def _start(self, delivery: Delivery) -> None:
        job_id = _job_id(delivery)
        if not delivery.from_lane and job_id in self._lane_runs:
            # The message of a job this process took from the lane: it waits for that run.
            waiting = asyncio.create_task(
                self._settle_with_lane_run(delivery, self._lane_runs[job_id]),
                name=f"message-{delivery.message_id}",
            )
            self._waiting_messages.add(waiting)
            waiting.add_done_callback(self._waiting_messages.discard)
            return
        # A redelivery's SentTimestamp is the first send's: only a first receive measures a wait.
        if delivery.sent_at is not None and delivery.receives == 1:
            waited_s = max(0.0, time.time() - delivery.sent_at)
            self._resources.metrics.put("JobQueueWait", waited_s, "Seconds", Queue=delivery.queue)
        if delivery.from_lane and job_id is not None and job_id not in self._lane_runs:
            self._lane_runs[job_id] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(self._serve(delivery), name=f"job-{delivery.message_id}")
        self._tasks[task] = delivery.queue
        task.add_done_callback(self._on_task_done)

    def _on_task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.pop(task, None)
        self._slot_freed.set()
        self._lane_slot_freed.set()

    async def _drain(self) -> None:
        if not self._tasks and not self._waiting_messages:
            return
        started = self._stop_requested_at or time.monotonic()
        remaining = started + self._settings.worker_drain_timeout_s - time.monotonic()
        log.info("worker_draining", in_flight=self.in_flight, timeout_s=max(0.0, remaining))
        everything = set(self._tasks) | self._waiting_messages
        _, pending = await asyncio.wait(everything, timeout=max(0.0, remaining))
        if pending:
            log.warning("drain_timed_out", handing_back=len(pending))
            for task in pending:
                task.cancel()
            await asyncio.wait(pending)

    async def _serve(self, delivery: Delivery) -> None:
        """One message from receipt to its settlement; runs as its own task."""
        try:
            message = decode_message(delivery.body)
            job_id = uuid.UUID(message.job_id)
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
            log.error(
                "undecodable_message",
                queue=delivery.queue,
                message_id=delivery.message_id,
                receives=delivery.receives,
                error=str(exc),
            )
            return
        # Tasks copy the context, so these bindings (and the job's span, a child of the request
        # that queued it) stay with this job's log lines and spans.
        with (
            structlog.contextvars.bound_contextvars(
                job_id=message.job_id, job_type=message.type, request_id=message.request_id
            ),
            tracing.consumer_span(
                f"job {message.type}",
                delivery.attributes,
                {
                    "roto.job.id": message.job_id,
                    "messaging.destination.name": delivery.queue,
                    "messaging.message.id": delivery.message_id,
                    "roto.job.receives": delivery.receives,
                },
            ) as span,
        ):
            log.info(
                "job_received", queue=delivery.queue, receives=delivery.receives, via=delivery.via
            )
            disposition: Disposition | Defer = Disposition.RETRY
            try:
                async with self._settling(delivery):
                    disposition = await self._run(job_id, message, delivery)
                    outcome = "defer" if isinstance(disposition, Defer) else disposition.value
                    span.set_attribute("roto.job.disposition", outcome)
                    await self._settle(delivery, disposition)
            finally:
                if delivery.from_lane:
                    self._end_lane_run(job_id, disposition)

    async def _run(
        self, job_id: uuid.UUID, message: JobMessage, delivery: Delivery
    ) -> Disposition | Defer:
        try:
            return await run_job(
                self._resources,
                self._role.name,
                self._handlers,
                job_id,
                message,
                delivery,
                keep_alive=functools.partial(self._heartbeat, delivery),
            )
        except Exception as exc:  # storing the outcome failed (database away): retry later
            log.error("job_outcome_not_stored", error=repr(exc), exc_info=exc)
            return Disposition.RETRY

    def _heartbeat(
        self, delivery: Delivery, job: jobs_repo.JobRow, max_run_s: float
    ) -> VisibilityHeartbeat:
        """Keeps ``job``'s message hidden and its lease held until its maximum run time."""
        lease_s = lease_seconds(self._settings)

        async def extend_lease() -> bool:
            async with self._resources.pool.acquire() as conn:
                return await jobs_repo.extend_lease(conn, job, lease_s)

        return VisibilityHeartbeat(
            self._resources.sqs,
            delivery.queue_url,
            None if delivery.from_lane else delivery.receipt,
            interval_s=self._settings.worker_heartbeat_interval_s,
            extend_s=self._settings.worker_visibility_timeout_s,
            lease=extend_lease,
            until=time.monotonic() + max_run_s,
        )

    def _end_lane_run(self, job_id: uuid.UUID, disposition: Disposition | Defer) -> None:
        """Hand a lane run's outcome to its message, if that is waiting (a run that did not end
        with one, cancelled at the drain, gives RETRY: the message goes back to the queue)."""
        done = self._lane_runs.pop(job_id, None)
        if done is not None and not done.done():
            done.set_result(disposition)

    async def _settle_with_lane_run(
        self, delivery: Delivery, run: asyncio.Future[Disposition | Defer]
    ) -> None:
        """Keep the message of a job running here from the lane hidden until the run ends, then
        settle it as the run's own message would be."""
        log.info("message_of_lane_run", message_id=delivery.message_id, receives=delivery.receives)
        hidden = VisibilityHeartbeat(
            self._resources.sqs,
            delivery.queue_url,
            delivery.receipt,
            interval_s=self._settings.worker_heartbeat_interval_s,
            extend_s=self._settings.worker_visibility_timeout_s,
        )
        async with self._settling(delivery):
            async with hidden:
                disposition = await asyncio.shield(run)
            await self._settle(delivery, disposition)

    @contextlib.asynccontextmanager
    async def _settling(self, delivery: Delivery) -> AsyncIterator[None]:
        """Around running and settling ``delivery``: cancelled (the drain timed out), it goes back
        to its queue at once; settling it failed, SQS delivers it again after its timeout."""
        try:
            yield
        except asyncio.CancelledError:
            await self._hand_back(delivery)
            raise
        except Exception as exc:
            log.error("message_settle_failed", error=repr(exc))

    async def _settle(self, delivery: Delivery, disposition: Disposition | Defer) -> None:
        if delivery.from_lane:
            return  # no message in hand: the job's SQS message is settled where it is received
        if isinstance(disposition, Defer):
            await self._receiver.make_visible_in(delivery, disposition.delay_s)
        elif disposition is Disposition.DELETE:
            await self._receiver.delete(delivery)
        elif disposition is Disposition.RETRY:
            delay = retry_backoff_s(delivery.receives, self._settings.worker_visibility_timeout_s)
            await self._receiver.make_visible_in(delivery, delay)
        elif disposition is Disposition.DEAD_LETTER:
            await self._receiver.make_visible_in(delivery, 0)

    async def _hand_back(self, delivery: Delivery) -> None:
        if delivery.from_lane:
            return
        try:
            await self._receiver.make_visible_in(delivery, 0)
            log.info("message_handed_back", message_id=delivery.message_id)
        except Exception as exc:  # it comes back anyway once its visibility runs out
            log.warning("hand_back_failed", message_id=delivery.message_id, error=repr(exc))


def _job_id(delivery: Delivery) -> uuid.UUID | None:
    """The job a message names; None when it names none (``_serve`` reports it)."""
    try:
        return uuid.UUID(decode_message(delivery.body).job_id)
    except (msgspec.DecodeError, msgspec.ValidationError, ValueError):
        return None
