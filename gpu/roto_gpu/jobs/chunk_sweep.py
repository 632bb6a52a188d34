"""Removing mask chunks that nothing points at any more.

A chunk becomes an orphan when every index row that pointed at it has moved on: a correction
recomputed its frames, or a redelivered job stored them again under its own attempt. An orphan is
deleted only when its writer can no longer index it: an earlier attempt of the sweeping job, or a
job that has finished. A chunk of a job still queued or running is left alone even if no row points
at it yet (it may be between its S3 write and its index rows).
"""

from __future__ import annotations

import uuid
from typing import NamedTuple

import structlog

from roto.masks.storage import chunk_writer_id, object_chunks_prefix
from roto.resources import Resources
from roto.storage import delete_keys, listed_objects
from roto_gpu.jobs import repository as gpu_repo
from roto_gpu.jobs.track_store import chunk_of_track_key

log = structlog.get_logger(__name__)


class Writer(NamedTuple):
    """Who wrote a chunk: a propagate job and its attempt."""

    job_id: uuid.UUID
    attempt: int

    @classmethod
    def parse(cls, writer_id: str) -> Writer | None:
        """``<job id>-<attempt>`` as a Writer; None for a name this code does not write."""
        job, _, attempt = writer_id.rpartition("-")
        try:
            return cls(uuid.UUID(job), int(attempt))
        except ValueError:
            return None


def is_sweepable(writer: Writer, sweeper: Writer, finished: set[uuid.UUID]) -> bool:
    """Whether a chunk by ``writer`` can never be indexed again, seen from job ``sweeper``."""
    if writer.job_id == sweeper.job_id:
        return writer.attempt < sweeper.attempt
    return writer.job_id in finished


async def sweep_orphan_chunks(
    resources: Resources, video_id: uuid.UUID, object_ids: list[int], sweeper: Writer
) -> int:
    """Delete the objects' orphan chunks that no live job can still index; returns how many."""
    s3, bucket = resources.s3, resources.settings.s3_bucket
    listed: dict[str, Writer] = {}
    prefixes = [object_chunks_prefix(video_id, object_id) for object_id in object_ids]
    async for item in listed_objects(s3, bucket, prefixes):
        writer = Writer.parse(chunk_writer_id(item["Key"]) or "")
        if writer is not None:
            listed[item["Key"]] = writer
    if not listed:
        return 0
    async with resources.pool.acquire() as conn:
        referenced = await gpu_repo.referenced_chunks(conn, video_id, object_ids)
        finished = await gpu_repo.finished_jobs(conn, {w.job_id for w in listed.values()})
    orphans = [
        key
        for key, writer in listed.items()
        # A chunk's track records go with it.
        if (chunk_of_track_key(key) or key) not in referenced
        and is_sweepable(writer, sweeper, finished)
    ]
    for error in await delete_keys(s3, bucket, orphans):
        log.warning("chunk_sweep_failed", key=error.get("Key"), error=error.get("Message"))
    if orphans:
        log.info("chunks_swept", video_id=str(video_id), deleted=len(orphans))
    return len(orphans)
