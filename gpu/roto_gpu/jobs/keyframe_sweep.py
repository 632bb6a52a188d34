"""Removing keyframe states and decoding contexts that nothing points at any more.

A prompt's state (``.../keyframes/<frame>/states/<prompt id>.npz``) is read for its prompt and,
through the track records beside each mask chunk, for the corrections on the frames of a run that
was seeded from it. It is an orphan once its prompt is deleted (undone, dropped by a ``replace``
prompt, or its keyframe ended; a prompt's id is never used again) and no chunk whose masks are
still in use was seeded from it. Those are only judged while no other job on the video is
unfinished: one could be seeding a run from a state whose prompt went since it read it.

A decoding context (``.../keyframes/<frame>/context-<uuid>.npz``) is an orphan when no keyframe
row points at it: its keyframe ended, or another job fixed the keyframe's context first. A
context is written before the row that points at it, so one younger than ``CONTEXT_GRACE`` is
left alone: it may be between the two.

S3 is listed before the database is read, so nothing written after the listing is judged. The
keyframe masks in the same folder (``.../keyframes/<frame>.json``) are not touched.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import structlog

from roto.resources import Resources
from roto.storage import delete_keys, listed_objects
from roto_gpu.jobs import repository as gpu_repo
from roto_gpu.jobs.track_store import (
    TrackStore,
    is_context_key,
    keyframes_prefix,
    state_prompt_id,
)

log = structlog.get_logger(__name__)

#: How long a context may wait between its S3 write and its keyframe row (a job's few seconds,
#: with room for a slow one).
CONTEXT_GRACE = timedelta(minutes=30)
#: Track chunks whose keyframes map is read at once.
READS_AT_ONCE = 16


async def sweep_keyframe_leftovers(
    resources: Resources,
    video_id: uuid.UUID,
    object_ids: list[int],
    sweeper: uuid.UUID,
    *,
    now: datetime | None = None,
) -> int:
    """Delete the objects' orphan states and contexts, seen from job ``sweeper``; returns how
    many. ``now`` (default: the clock) is what a context's age is measured against."""
    s3, bucket = resources.s3, resources.settings.s3_bucket
    states: dict[str, uuid.UUID] = {}
    contexts: dict[str, datetime] = {}
    prefixes = [keyframes_prefix(video_id, object_id) for object_id in object_ids]
    async for item in listed_objects(s3, bucket, prefixes):
        key = item["Key"]
        prompt_id = state_prompt_id(key)
        if prompt_id is not None:
            states[key] = prompt_id
        elif is_context_key(key):
            contexts[key] = item["LastModified"]
    if not states and not contexts:
        return 0
    async with resources.pool.acquire() as conn:
        live = await gpu_repo.existing_prompts(conn, set(states.values()))
        referenced = await gpu_repo.referenced_contexts(conn, video_id, object_ids)
        unprompted = [key for key, prompt_id in states.items() if prompt_id not in live]
        busy = bool(unprompted) and await gpu_repo.others_unfinished(conn, video_id, sweeper)
        chunks = (
            await gpu_repo.referenced_chunks(conn, video_id, object_ids) if unprompted else set()
        )
    dead_states = [] if busy else await _unseeded(TrackStore(s3, bucket), unprompted, chunks)
    written_before = (now or datetime.now(UTC)) - CONTEXT_GRACE
    dead_contexts = [
        key for key, at in contexts.items() if key not in referenced and at < written_before
    ]
    orphans = dead_states + dead_contexts
    for error in await delete_keys(s3, bucket, orphans):
        log.warning("keyframe_sweep_failed", key=error.get("Key"), error=error.get("Message"))
    if orphans or busy:
        log.info(
            "keyframe_leftovers_swept",
            video_id=str(video_id),
            states=len(dead_states),
            contexts=len(dead_contexts),
            states_kept_for_other_jobs=len(unprompted) if busy else 0,
        )
    return len(orphans)


async def _unseeded(store: TrackStore, states: list[str], chunks: set[str]) -> list[str]:
    """Those of ``states`` that no run of the ``chunks`` (the mask chunks in use) was seeded
    from."""
    if not states:
        return []
    limit = asyncio.Semaphore(READS_AT_ONCE)

    async def seeds(chunk_key: str) -> set[str]:
        async with limit:
            keyframes = await store.chunk_keyframes(chunk_key)
        return set(keyframes.values()) if keyframes else set()

    seeded = set().union(*await asyncio.gather(*(seeds(key) for key in chunks)))
    return [key for key in states if key not in seeded]
