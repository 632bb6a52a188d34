"""Helpers for worker and ingest tests: rows made with SQL, jobs sent through the outbox,
in-process runtimes and worker subprocesses with the test's settings."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import msgspec

from roto.devstack.services import LOCAL_AWS_ENV
from roto.jobs import events, outbox
from roto.jobs import repository as jobs_repo
from roto.resources import Resources
from roto.settings import ENV_PREFIX, Settings
from roto.videos.storage import source_key
from roto.worker.contract import JobContext, JobHandler, Role, static_role
from roto.worker.runtime import WorkerRuntime

REPO_ROOT = Path(__file__).resolve().parents[2]


async def create_user(resources: Resources) -> uuid.UUID:
    user_id = uuid.uuid4()
    await resources.pool.execute(
        "INSERT INTO users (id, email, password_hash) VALUES ($1, $2, $3)",
        user_id,
        f"{user_id.hex[:10]}@example.com",
        "not-a-real-hash",
    )
    return user_id


async def create_video(resources: Resources, user_id: uuid.UUID, data: bytes) -> uuid.UUID:
    """An ``ingesting`` video whose source ``data`` is in storage."""
    video_id = uuid.uuid4()
    await resources.pool.execute(
        """INSERT INTO videos (id, user_id, filename, content_type, size_bytes, status, source_key)
           VALUES ($1, $2, 'clip', 'video/mp4', $3, 'ingesting', $4)""",
        video_id,
        user_id,
        max(1, len(data)),
        source_key(video_id),
    )
    await resources.s3.put_object(
        Bucket=resources.settings.s3_bucket, Key=source_key(video_id), Body=data
    )
    return video_id


async def enqueue_job(
    resources: Resources,
    user_id: uuid.UUID,
    *,
    video_id: uuid.UUID | None = None,
    job_type: str = "ingest",
    payload: dict[str, Any] | None = None,
    request_id: str | None = None,
) -> jobs_repo.JobRow:
    """A queued job, sent to its queue the way the API does it (outbox, then relay)."""
    async with resources.pool.acquire() as conn, conn.transaction():
        job = await outbox.create_job(
            conn,
            user_id=user_id,
            video_id=video_id,
            job_type=job_type,
            payload=payload,
            request_id=request_id or uuid.uuid4().hex,
        )
    assert await outbox.relay(resources.pool, resources.sqs, resources.queue_urls) == 1
    return job


async def get_job(resources: Resources, job_id: uuid.UUID) -> jobs_repo.JobRow:
    async with resources.pool.acquire() as conn:
        job = await jobs_repo.get_job(conn, job_id)
    assert job is not None
    return job


async def wait_for(
    check: Callable[[], Awaitable[bool]], timeout_s: float = 30.0, what: str = "condition"
) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        await asyncio.sleep(0.05)


async def wait_for_status(
    resources: Resources, job_id: uuid.UUID, statuses: set[str], timeout_s: float = 30.0
) -> jobs_repo.JobRow:
    async def reached() -> bool:
        return (await get_job(resources, job_id)).status in statuses

    await wait_for(reached, timeout_s, f"job {job_id} to reach {sorted(statuses)}")
    return await get_job(resources, job_id)


@asynccontextmanager
async def running_worker(resources: Resources, role: Role) -> AsyncIterator[WorkerRuntime]:
    """An in-process runtime, stopped (and drained) on exit."""
    runtime = WorkerRuntime(resources, role)
    task = asyncio.create_task(runtime.run())
    try:
        yield runtime
    finally:
        runtime.request_stop()
        await asyncio.wait_for(task, timeout=60)


def make_role(handlers: dict[str, JobHandler], queues: tuple[str, ...] = ("media",)) -> Role:
    """A role that runs the test's own handlers."""
    return static_role("test", queues, handlers)


class EventLog:
    """Collects a job's Redis events from before the job starts."""

    def __init__(self) -> None:
        self.events: list[events.JobEvent] = []

    def of_kind(self, kind: str) -> list[Any]:
        return [event.data for event in self.events if event.event == kind]


@asynccontextmanager
async def job_events(resources: Resources, job_id: uuid.UUID) -> AsyncIterator[EventLog]:
    log = EventLog()
    pubsub = resources.redis.pubsub()
    await pubsub.subscribe(events.channel(str(job_id)))

    async def pump() -> None:
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message is not None:
                log.events.append(events.decode_event(message["data"]))

    task = asyncio.create_task(pump())
    try:
        yield log
    finally:
        await asyncio.sleep(0.2)  # let the last published events arrive
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await pubsub.aclose()


async def queue_counts(resources: Resources, queue: str = "media") -> tuple[int, int]:
    """(visible, in flight) messages of a queue."""
    answer = await resources.sqs.get_queue_attributes(
        QueueUrl=resources.queue_urls[queue],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )
    attrs = answer["Attributes"]
    return (
        int(attrs["ApproximateNumberOfMessages"]),
        int(attrs["ApproximateNumberOfMessagesNotVisible"]),
    )


async def dlq_url(resources: Resources, queue: str = "media") -> str:
    name = resources.settings.queue_names[queue] + "-dlq"
    url: str = (await resources.sqs.get_queue_url(QueueName=name))["QueueUrl"]
    return url


def settings_env(settings: Settings) -> dict[str, str]:
    """``settings`` as the ROTO_* variables a worker process reads."""
    env: dict[str, str] = {}
    for name, value in msgspec.structs.asdict(settings).items():
        if value is None:
            text = ""
        elif isinstance(value, bool):
            text = "true" if value else "false"
        else:
            text = str(value)
        env[ENV_PREFIX + name.upper()] = text
    return env


def start_worker_process(settings: Settings, log_path: Path) -> subprocess.Popen[bytes]:
    """``python -m roto.worker --role media`` with the test's settings, logging JSON to a file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    env.update(LOCAL_AWS_ENV)
    env.update(settings_env(settings))
    env.update({"ROTO_LOG_JSON": "true", "ROTO_LOG_LEVEL": "INFO"})
    with log_path.open("ab") as log_file:
        return subprocess.Popen(
            [sys.executable, "-m", "roto.worker", "--role", "media"],
            cwd=REPO_ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )


def log_lines(log_path: Path) -> list[dict[str, Any]]:
    """The JSON log lines a worker process wrote (other lines skipped)."""
    lines = []
    for raw in log_path.read_text().splitlines():
        try:
            value = msgspec.json.decode(raw)
        except msgspec.DecodeError:
            continue
        if isinstance(value, dict):
            lines.append(value)
    return lines


class Recorder:
    """A handler that records each run and then does what the test says."""

    def __init__(self, behave: Any = None) -> None:
        self.runs: list[uuid.UUID] = []
        self.running = 0
        self.most_running = 0
        self._behave = behave

    async def __call__(self, ctx: JobContext) -> dict[str, Any]:
        self.runs.append(ctx.job.id)
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            if self._behave is not None:
                await self._behave(ctx, len(self.runs))
            return {"runs": len(self.runs)}
        finally:
            self.running -= 1


async def queue_empty(resources: Resources) -> bool:
    return await queue_counts(resources) == (0, 0)


async def has_at_least(values: list[Any], count: int) -> bool:
    return len(values) >= count
