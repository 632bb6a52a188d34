"""A STAND-IN for the GPU daemon's segment step, so that the API side of prompt -> mask can be
tested without SAM2. It is not the daemon and proves nothing about it: the end-to-end tests with
the real daemon live in tests/gpu/.

It does what the segment job contract asks of the daemon, with a trivial "model": the mask is a
disc of ``RADIUS`` pixels around the first positive click of the keyframe's prompts (oldest
first), or around the centre of the first box. It stores the mask in S3 (keyframe_mask_key), in
the masks index (source 'prompt') and as the Redis hot copy, finishes the job with
``{"mask": FrameMask}`` and publishes the terminal status event.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections.abc import AsyncIterator
from typing import Any, Literal

import msgspec
import numpy as np
import redis.asyncio as aioredis

from roto.jobs import events
from roto.jobs import repository as jobs_repo
from roto.jobs.contracts import decode_message
from roto.masks import repository as masks_repo
from roto.masks import rle, storage
from roto.masks.schemas import FrameMask
from roto.objects import prompts_repository as prompts_repo
from roto.objects.prompts_repository import PromptRow
from roto.settings import Settings
from tests.videos.helpers import connect

RADIUS = 6
SCORE = 0.875


def disc(height: int, width: int, cx: float, cy: float, radius: float = RADIUS) -> np.ndarray:
    """The HxW boolean disc around (cx, cy)."""
    yy, xx = np.mgrid[0:height, 0:width]
    inside: np.ndarray = (xx - cx) ** 2 + (yy - cy) ** 2 <= radius**2
    return inside


def centre(prompts: list[PromptRow]) -> tuple[float, float]:
    """Where the stand-in puts its disc: the first positive click, else the first box's centre."""
    for prompt in prompts:
        for (x, y), label in zip(prompt.points, prompt.labels, strict=True):
            if label == 1:
                return x, y
    for prompt in prompts:
        if prompt.box is not None:
            x0, y0, x1, y1 = prompt.box
            return (x0 + x1) / 2, (y0 + y1) / 2
    raise AssertionError("a keyframe without a positive click or a box")


class FakeSegmenter:
    """Receives segment messages from the interactive queue and answers them as described above;
    ``outcome="fail"`` fails every job instead (as a daemon whose model refused the prompt)."""

    def __init__(
        self,
        settings: Settings,
        sqs: Any,
        s3: Any,
        *,
        redis_url: str | None = None,
        outcome: Literal["mask", "fail"] = "mask",
    ) -> None:
        self.settings, self.sqs, self.s3, self.outcome = settings, sqs, s3, outcome
        self.redis_url = redis_url or settings.redis_url
        self.redis: aioredis.Redis | None = None
        self.queue_url: str = sqs.get_queue_url(QueueName=settings.queue_interactive)["QueueUrl"]
        self.handled: list[str] = []
        self.stop = threading.Event()

    async def run(self) -> None:
        """Answer messages until ``stop`` is set."""
        self.redis = aioredis.from_url(self.redis_url)
        try:
            while not self.stop.is_set():
                answer = self.sqs.receive_message(
                    QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
                )
                for message in answer.get("Messages", []):
                    job_id = uuid.UUID(decode_message(message["Body"]).job_id)
                    await self.handle(job_id)
                    self.sqs.delete_message(
                        QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
                    )
                    self.handled.append(str(job_id))
                await asyncio.sleep(0.05)
        finally:
            await self.redis.aclose()

    async def handle(self, job_id: uuid.UUID) -> None:
        conn = await connect(self.settings)
        try:
            job = await jobs_repo.claim_job(conn, job_id)
            if job is None:
                return
            if self.outcome == "fail":
                finished = await jobs_repo.finish_job(
                    conn,
                    job_id,
                    "failed",
                    error_code="bad_prompt",
                    error_message="the stand-in refused it",
                )
            else:
                finished = await self._segment(conn, job)
        finally:
            await conn.close()
        assert finished is not None and self.redis is not None
        await events.publish_status(self.redis, finished.to_wire())

    async def _segment(self, conn: Any, job: jobs_repo.JobRow) -> jobs_repo.JobRow | None:
        video_id = uuid.UUID(job.payload["video_id"])
        object_id, frame = job.payload["object_id"], job.payload["frame_index"]
        height, width = await conn.fetchrow(
            "SELECT height, width FROM videos WHERE id = $1", video_id
        )
        prompts = await prompts_repo.keyframe_prompts(conn, video_id, object_id, frame)
        cx, cy = centre(prompts)
        mask = FrameMask(
            object_id=object_id,
            frame_index=frame,
            rle=rle.encode(disc(height, width, cx, cy)),
            score=SCORE,
            source="prompt",
        )
        key = storage.keyframe_mask_key(video_id, object_id, frame)
        self.s3.put_object(Bucket=self.settings.s3_bucket, Key=key, Body=storage.encode_mask(mask))
        async with conn.transaction():
            await masks_repo.upsert_mask(
                conn,
                video_id=video_id,
                object_id=object_id,
                frame_index=frame,
                source="prompt",
                score=SCORE,
                area=rle.area(mask.rle),
                storage_key=key,
                job_id=job.id,
            )
            finished = await jobs_repo.finish_job(
                conn, job.id, "succeeded", result={"mask": msgspec.to_builtins(mask)}
            )
        assert self.redis is not None
        await self.redis.set(
            storage.hot_mask_key(video_id, object_id, frame),
            storage.encode_mask(mask),
            ex=storage.HOT_MASK_TTL_S,
        )
        return finished

    async def wait_handled(self, count: int, timeout_s: float = 10.0) -> None:
        """Until ``count`` jobs have been answered."""
        async with asyncio.timeout(timeout_s):
            while len(self.handled) < count:
                await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def fake_daemon(
    settings: Settings, sqs: Any, s3: Any, **options: Any
) -> AsyncIterator[FakeSegmenter]:
    """A ``FakeSegmenter`` running for the duration of the block.

    It runs on its own thread and event loop: the litestar test client blocks the test's loop
    while a request is in flight, and the stand-in must answer during that request.
    """
    segmenter = FakeSegmenter(settings, sqs, s3, **options)
    failures: list[BaseException] = []

    def serve() -> None:
        try:
            asyncio.run(segmenter.run())
        except BaseException as exc:
            failures.append(exc)

    thread = threading.Thread(target=serve, name="fake-segment-daemon", daemon=True)
    thread.start()
    try:
        yield segmenter
    finally:
        segmenter.stop.set()
        thread.join(30)
    if failures:
        raise failures[0]
