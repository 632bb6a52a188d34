"""SQS side of the worker: receive job messages by queue priority, delete or release them."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog

log = structlog.get_logger(__name__)

SQS_MAX_MESSAGES = 10


@dataclass(frozen=True)
class Delivery:
    """One received message, with where it came from and how often SQS has handed it out."""

    queue: str
    queue_url: str
    message_id: str
    receipt: str
    body: str
    receives: int
    #: When SQS accepted the message (Unix seconds; its ``SentTimestamp``), None if not given.
    sent_at: float | None = None
    #: The message's string attributes (the trace context travels as ``traceparent``).
    attributes: Mapping[str, str] = field(default_factory=dict)
    #: "sqs", or "lane": a hint taken from the job's fast lane (``roto.jobs.lane``), with no
    #: SQS message in hand to settle (its ``queue_url`` and ``receipt`` are empty).
    via: str = "sqs"

    @property
    def from_lane(self) -> bool:
        return self.via == "lane"


def retry_backoff_s(receives: int, cap_s: int) -> int:
    """Seconds before a failed message is redelivered: 5, 10, 20... capped at ``cap_s``."""
    return max(0, min(cap_s, 5 * 2 ** max(0, receives - 1)))


class Receiver:
    """Receives from the role's queues (``(name, url)`` pairs, highest priority first)."""

    def __init__(self, sqs: Any, queues: list[tuple[str, str]], wait_time_s: int) -> None:
        self._sqs = sqs
        self._queues = queues
        self._wait_time_s = wait_time_s
        # Long polls still under way, by queue. A poll is never cancelled: SQS may already have
        # handed it messages, which would then stay hidden.
        self._polls: dict[str, asyncio.Task[list[Delivery]]] = {}

    async def receive(
        self, free: Mapping[str, int], wake: asyncio.Event | None = None
    ) -> list[Delivery]:
        """At most ``free[name]`` messages from each queue; waits up to the long-poll time when
        every queue with free slots is empty, or (with several queues) until ``wake`` is set,
        e.g. when a slot frees up."""
        if len(self._queues) == 1:
            name, url = self._queues[0]
            return await self._receive_from(name, url, free.get(name, 0), self._wait_time_s)
        finished = self._collect()
        if finished:
            return finished
        idle = [
            (name, url)
            for name, url in self._queues
            if name not in self._polls and free.get(name, 0) > 0
        ]
        # Work already waiting in a higher-priority queue goes first.
        for name, url in idle:
            got = await self._receive_from(name, url, free[name], 0)
            if got:
                return got
        # All empty: long-poll each. The first poll to answer is returned at once and the others
        # go on, to be collected by a later call: a message on one queue never waits for another
        # queue's long poll to run out.
        for name, url in idle:
            poll = self._receive_from(name, url, free[name], self._wait_time_s)
            self._polls[name] = asyncio.create_task(poll)
        await self._wait_for_poll(wake)
        return self._collect()

    async def _wait_for_poll(self, wake: asyncio.Event | None) -> None:
        waits: list[asyncio.Future[Any]] = list(self._polls.values())
        woken = asyncio.ensure_future(wake.wait()) if wake is not None else None
        if woken is not None:
            waits.append(woken)
        try:
            if waits:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if woken is not None:
                woken.cancel()

    async def close(self) -> list[Delivery]:
        """Let the long polls still under way finish; the messages they got, to hand back."""
        if self._polls:
            await asyncio.wait(list(self._polls.values()))
        try:
            return self._collect()
        except Exception as exc:  # nothing was received, so nothing is left to hand back
            log.warning("receive_failed", error=repr(exc))
            return []

    def _collect(self) -> list[Delivery]:
        """Messages of the finished long polls, highest-priority queue first."""
        deliveries: list[Delivery] = []
        error: BaseException | None = None
        for name, _ in self._queues:
            task = self._polls.get(name)
            if task is None or not task.done():
                continue
            del self._polls[name]
            if task.cancelled():
                continue
            if task.exception() is None:
                deliveries += task.result()
            else:
                error = task.exception()
        if error is not None:
            if not deliveries:
                raise error
            log.warning("receive_failed", error=repr(error))
        return deliveries

    async def _receive_from(self, name: str, url: str, count: int, wait_s: int) -> list[Delivery]:
        response = await self._sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=min(count, SQS_MAX_MESSAGES),
            WaitTimeSeconds=wait_s,
            MessageSystemAttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
            MessageAttributeNames=["All"],
        )
        return [
            Delivery(
                queue=name,
                queue_url=url,
                message_id=message["MessageId"],
                receipt=message["ReceiptHandle"],
                body=message["Body"],
                receives=int(message.get("Attributes", {}).get("ApproximateReceiveCount", 1)),
                sent_at=_sent_at(message),
                attributes=_string_attributes(message),
            )
            for message in response.get("Messages", [])
        ]

    async def delete(self, delivery: Delivery) -> None:
        await self._sqs.delete_message(QueueUrl=delivery.queue_url, ReceiptHandle=delivery.receipt)

    async def make_visible_in(self, delivery: Delivery, seconds: int) -> None:
        """Let SQS hand the message out again after ``seconds`` (0: at once)."""
        await self._sqs.change_message_visibility(
            QueueUrl=delivery.queue_url, ReceiptHandle=delivery.receipt, VisibilityTimeout=seconds
        )


def _sent_at(message: Mapping[str, Any]) -> float | None:
    raw = message.get("Attributes", {}).get("SentTimestamp")
    return int(raw) / 1000 if raw is not None else None


def _string_attributes(message: Mapping[str, Any]) -> dict[str, str]:
    return {
        name: value["StringValue"]
        for name, value in message.get("MessageAttributes", {}).items()
        if value.get("DataType") == "String" and "StringValue" in value
    }
