"""SQS side of the worker: receive job messages by queue priority, delete or release them."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
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


def split_slots(free: int, queue_count: int) -> list[int]:
    """How many messages to ask each queue for when long-polling several at once.

    The total never exceeds ``free``; higher-priority queues get the larger shares, and a queue
    gets none when there are fewer slots than queues.
    """
    shares = [0] * queue_count
    for index in range(free):
        shares[index % queue_count] += 1
    return [min(share, SQS_MAX_MESSAGES) for share in shares]


def retry_backoff_s(receives: int, cap_s: int) -> int:
    """Seconds before a failed message is redelivered: 5, 10, 20... capped at ``cap_s``."""
    return max(0, min(cap_s, 5 * 2 ** max(0, receives - 1)))


class Receiver:
    """Receives from the role's queues (``(name, url)`` pairs, highest priority first)."""

    def __init__(self, sqs: Any, queues: list[tuple[str, str]], wait_time_s: int) -> None:
        self._sqs = sqs
        self._queues = queues
        self._wait_time_s = wait_time_s

    async def receive(self, free: int) -> list[Delivery]:
        """At most ``free`` messages; waits up to the long-poll time when every queue is empty."""
        if len(self._queues) == 1:
            name, url = self._queues[0]
            return await self._receive_from(name, url, free, self._wait_time_s)
        # Work already waiting in a higher-priority queue goes first.
        for name, url in self._queues:
            got = await self._receive_from(name, url, free, 0)
            if got:
                return got
        # All empty: long-poll those queues we have slots for, together, so none waits on another.
        polls = [
            self._receive_from(name, url, share, self._wait_time_s)
            for (name, url), share in zip(
                self._queues, split_slots(free, len(self._queues)), strict=True
            )
            if share > 0
        ]
        batches = await asyncio.gather(*polls)
        return [delivery for batch in batches for delivery in batch]

    async def _receive_from(self, name: str, url: str, count: int, wait_s: int) -> list[Delivery]:
        response = await self._sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=min(count, SQS_MAX_MESSAGES),
            WaitTimeSeconds=wait_s,
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
        )
        return [
            Delivery(
                queue=name,
                queue_url=url,
                message_id=message["MessageId"],
                receipt=message["ReceiptHandle"],
                body=message["Body"],
                receives=int(message.get("Attributes", {}).get("ApproximateReceiveCount", 1)),
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
