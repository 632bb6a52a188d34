"""Helpers for the daemon tests: a ready video whose frames are JPEGs in S3 (as ingest leaves
them), objects and prompts made with the repository's own SQL, and segment jobs sent through
the outbox to the interactive queue."""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import AsyncIterator, Iterator, MutableMapping
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import msgspec
import numpy as np
import structlog
from PIL import Image

from roto.jobs import repository as jobs_repo
from roto.masks.schemas import FrameMask
from roto.media.frames import encode_jpeg
from roto.objects.prompts_repository import PromptRow, insert_prompt
from roto.resources import Resources, open_resources
from roto.settings import Settings
from roto.videos.storage import frame_key, source_key
from roto.worker.runtime import WorkerRuntime
from roto_gpu.daemon import GpuDaemon, gpu_role
from roto_gpu.jobs.frames import decode_frame
from tests.gpu.conftest import cpu_detector
from tests.worker.support import create_user, enqueue_job, running_worker, wait_for_status

TERMINAL = {"succeeded", "failed", "canceled"}
JPEG_QUALITY = 92


class Clip:
    """A ready video of the test's user; ``pixels`` are its frames as the daemon decodes them."""

    def __init__(self, user_id: uuid.UUID, video_id: uuid.UUID, pixels: list[np.ndarray]):
        self.user_id = user_id
        self.video_id = video_id
        self.pixels = pixels

    @property
    def height(self) -> int:
        return int(self.pixels[0].shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels[0].shape[1])


async def ready_clip(resources: Resources, frames: list[np.ndarray]) -> Clip:
    """A ``ready`` video with ``frames`` stored as JPEGs under their frame keys."""
    user_id = await create_user(resources)
    video_id = uuid.uuid4()
    height, width = frames[0].shape[:2]
    await resources.pool.execute(
        """INSERT INTO videos (id, user_id, filename, content_type, size_bytes, status, source_key,
                               width, height, fps, frame_count, duration_s, codec)
           VALUES ($1, $2, 'clip.mp4', 'video/mp4', 1000, 'ready', $3, $4, $5, 24, $6, $7,
                   'h264')""",
        video_id,
        user_id,
        source_key(video_id),
        width,
        height,
        len(frames),
        len(frames) / 24,
    )
    pixels = []
    for index, frame in enumerate(frames):
        data = encode_jpeg(Image.fromarray(frame), JPEG_QUALITY)
        await resources.s3.put_object(
            Bucket=resources.settings.s3_bucket, Key=frame_key(video_id, index), Body=data
        )
        pixels.append(decode_frame(data))
    return Clip(user_id, video_id, pixels)


async def add_object(resources: Resources, clip: Clip, object_id: int = 1) -> int:
    await resources.pool.execute(
        "INSERT INTO objects (video_id, object_id, name, color) VALUES ($1, $2, $3, '#ff0000')",
        clip.video_id,
        object_id,
        f"object {object_id}",
    )
    return object_id


async def add_prompt(
    resources: Resources,
    clip: Clip,
    *,
    object_id: int = 1,
    frame_index: int = 0,
    points: list[list[float]] | None = None,
    labels: list[int] | None = None,
    box: list[float] | None = None,
) -> PromptRow:
    async with resources.pool.acquire() as conn:
        return await insert_prompt(
            conn,
            video_id=clip.video_id,
            object_id=object_id,
            frame_index=frame_index,
            points=points or [],
            labels=labels or [],
            box=box,
        )


async def enqueue_segment(
    resources: Resources, clip: Clip, *, object_id: int = 1, frame_index: int = 0
) -> jobs_repo.JobRow:
    """A queued segment job, sent to the interactive queue as the API sends it."""
    payload = {"video_id": str(clip.video_id), "object_id": object_id, "frame_index": frame_index}
    return await enqueue_job(
        resources, clip.user_id, video_id=clip.video_id, job_type="segment", payload=payload
    )


def daemon_with(model: Any, detector: Any | None = None) -> GpuDaemon:
    """A daemon that serves the test session's model (and detector: by default the process's
    random-weight one) instead of loading them."""
    chosen = detector if detector is not None else cpu_detector()
    return GpuDaemon(
        model_factory=lambda settings: model, detector_factory=lambda settings, _: chosen
    )


@asynccontextmanager
async def running_daemon(resources: Resources, daemon: GpuDaemon) -> AsyncIterator[WorkerRuntime]:
    """The gpu role in this process, serving ``daemon`` until the block ends."""
    async with running_worker(resources, gpu_role(daemon)) as runtime:
        await wait_until_serving(daemon)
        yield runtime


@contextmanager
def daemon_thread(settings: Settings, daemon: GpuDaemon) -> Iterator[GpuDaemon]:
    """The gpu role serving ``daemon`` on its own thread and event loop, with its own clients:
    the litestar test client blocks the test's loop while a request is in flight, and a request
    that waits (``?wait=``) needs the daemon to run meanwhile."""
    started, stop = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    async def serve() -> None:
        async with open_resources(settings) as resources, running_daemon(resources, daemon):
            started.set()
            while not stop.is_set():
                await asyncio.sleep(0.05)

    def run() -> None:
        try:
            asyncio.run(serve())
        except BaseException as exc:
            failures.append(exc)
            started.set()

    thread = threading.Thread(target=run, name="gpu-daemon", daemon=True)
    thread.start()
    try:
        if not started.wait(120) or failures:
            raise AssertionError(f"the daemon did not start: {failures}")
        yield daemon
    finally:
        stop.set()
        thread.join(120)
    if failures:
        raise failures[0]


async def wait_until_serving(daemon: GpuDaemon, timeout_s: float = 60.0) -> None:
    for _ in range(int(timeout_s / 0.02)):
        try:
            daemon.engine  # noqa: B018
        except RuntimeError:
            await asyncio.sleep(0.02)
        else:
            return
    raise AssertionError("the daemon did not start serving")


async def segment(
    resources: Resources, clip: Clip, *, object_id: int = 1, frame_index: int = 0
) -> jobs_repo.JobRow:
    """Enqueue one segment job and wait for its end (a daemon must be running)."""
    job = await enqueue_segment(resources, clip, object_id=object_id, frame_index=frame_index)
    return await wait_for_status(resources, job.id, TERMINAL, timeout_s=120)


def result_mask(job: jobs_repo.JobRow) -> FrameMask:
    assert job.status == "succeeded", (job.error_code, job.error_message)
    assert job.result is not None
    return msgspec.convert(job.result["mask"], FrameMask)


def counter(daemon: GpuDaemon, kind: str, outcome: str = "ok") -> float:
    """How many ``kind`` requests the daemon's batcher answered with ``outcome``."""
    registry = daemon.engine.batcher.metrics.registry
    value = registry.get_sample_value(
        "roto_batch_requests_total", {"kind": kind, "outcome": outcome}
    )
    return value or 0.0


@contextmanager
def captured_logs() -> Iterator[list[MutableMapping[str, Any]]]:
    """structlog's ``capture_logs`` at every level: an app built earlier in the session
    configured a logger that drops lines under its settings' level (WARNING in tests)."""
    saved = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    try:
        with structlog.testing.capture_logs() as logs:
            yield logs
    finally:
        structlog.configure(**saved)
