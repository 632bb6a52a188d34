"""The keyframe sweep (``roto_gpu.jobs.keyframe_sweep``) against real PostgreSQL and moto's S3:
the states of deleted prompts that no mask chunk in use was seeded from, and the contexts no
keyframe row points at, are deleted; nothing else under the object's keyframes folder is."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from roto.masks.repository import upsert_mask
from roto.masks.storage import chunk_key, keyframe_mask_key
from roto.objects import prompts_repository as prompts_repo
from roto.objects.prompts_repository import KeyframeRow, PromptRow
from roto.resources import Resources
from roto_gpu.jobs import track_store
from roto_gpu.jobs.keyframe_sweep import CONTEXT_GRACE, sweep_keyframe_leftovers
from roto_gpu.jobs.track_store import (
    TrackStore,
    context_key,
    encode_track_chunk,
    is_context_key,
    keyframes_from_tail,
    keyframes_prefix,
    state_key,
    state_prompt_id,
    track_key,
)
from roto_gpu.tracking.requests import TrackRecord
from tests.gpu.support import Clip, add_object, add_prompt, ready_clip
from tests.worker.support import enqueue_job

VIDEO = uuid.UUID("00000000-0000-0000-0000-0000000000aa")
SWEEPER = uuid.UUID("00000000-0000-0000-0000-00000000005e")


def track_chunk(frames: range, keyframes: dict[int, str]) -> bytes:
    """Track records as a propagation stores them (64x64 logits: SAM2's at 256 px)."""
    rng = np.random.default_rng(7)
    records = {
        f: TrackRecord(rng.normal(size=(64, 64)), rng.normal(size=64), 0.5, False) for f in frames
    }
    return encode_track_chunk(records, keyframes)


def test_a_state_key_names_its_prompt_and_a_context_key_is_told_apart() -> None:
    prompt_id = uuid.uuid4()
    state, context = state_key(VIDEO, 3, 12, prompt_id), context_key(VIDEO, 3, 12)
    assert state.startswith(keyframes_prefix(VIDEO, 3))
    assert context.startswith(keyframes_prefix(VIDEO, 3))
    assert state_prompt_id(state) == prompt_id and not is_context_key(state)
    assert is_context_key(context) and state_prompt_id(context) is None
    mask = keyframe_mask_key(VIDEO, 3, 12)  # the keyframe's mask, in the same folder
    assert state_prompt_id(mask) is None and not is_context_key(mask)
    assert state_prompt_id(f"{keyframes_prefix(VIDEO, 3)}000012/states/not-a-uuid.npz") is None


def test_the_keyframes_map_is_read_from_the_end_of_a_chunk_or_said_missing() -> None:
    seeded = {0: state_key(VIDEO, 1, 0, uuid.uuid4()), 40: state_key(VIDEO, 1, 40, uuid.uuid4())}
    data = track_chunk(range(1, 17), seeded)
    assert len(data) > 2 * track_store.TAIL_BYTES  # the tail is a small part of it
    assert keyframes_from_tail(data[-track_store.TAIL_BYTES :], len(data)) == seeded
    with pytest.raises(ValueError, match="not in the last 200 bytes"):
        keyframes_from_tail(data[-200:], len(data))


def listed(s3_sync: Any, bucket: str, video_id: uuid.UUID, object_id: int) -> set[str]:
    answer = s3_sync.list_objects_v2(Bucket=bucket, Prefix=keyframes_prefix(video_id, object_id))
    return {item["Key"] for item in answer.get("Contents", [])}


async def deleted_prompt(resources: Resources, clip: Clip, frame: int = 0) -> PromptRow:
    prompt = await add_prompt(
        resources, clip, object_id=1, frame_index=frame, points=[[9, 9]], labels=[0]
    )
    async with resources.pool.acquire() as conn:
        await prompts_repo.delete_prompt(conn, prompt)
    return prompt


async def propagated_chunk(
    resources: Resources,
    s3_sync: Any,
    clip: Clip,
    seeded_from: dict[int, str],
    frames: range = range(1, 2),
) -> str:
    """A chunk of object 1 in use (its mask row for frame 1 points at it), with the track
    records of ``frames`` from a run seeded from ``seeded_from``."""
    bucket = resources.settings.s3_bucket
    key = chunk_key(clip.video_id, 1, f"{uuid.uuid4()}-1", 1)
    s3_sync.put_object(Bucket=bucket, Key=key, Body=b"[]")
    s3_sync.put_object(
        Bucket=bucket, Key=track_key(key), Body=track_chunk(range(1, 2), seeded_from)
    )
    async with resources.pool.acquire() as conn:
        await upsert_mask(
            conn,
            video_id=clip.video_id,
            object_id=1,
            frame_index=1,
            source="propagation",
            score=0.9,
            area=1,
            storage_key=key,
            job_id=None,
        )
    return key


@pytest.fixture
async def clip(resources: Resources) -> Clip:
    made = await ready_clip(resources, [np.full((32, 48, 3), 90, dtype=np.uint8)] * 2)
    for object_id in (1, 2):
        await add_object(resources, made, object_id)
    return made


async def test_orphan_states_go_at_once_orphan_contexts_once_past_the_grace(
    resources: Resources, s3_sync: Any, clip: Clip
) -> None:
    bucket = resources.settings.s3_bucket
    kept = await add_prompt(resources, clip, object_id=1, points=[[4, 4]], labels=[1])
    undone, seeding = await deleted_prompt(resources, clip), await deleted_prompt(resources, clip)
    seeding_state = state_key(clip.video_id, 1, 0, seeding.id)
    await propagated_chunk(resources, s3_sync, clip, {0: seeding_state})
    in_use = context_key(clip.video_id, 1, 0)
    async with resources.pool.acquire() as conn:
        await prompts_repo.insert_keyframe(conn, KeyframeRow(clip.video_id, 1, 0, in_use, False))
    superseded = context_key(clip.video_id, 1, 0)
    other_object = state_key(clip.video_id, 2, 0, uuid.uuid4())  # not swept: not asked for
    stays = {
        state_key(clip.video_id, 1, 0, kept.id),
        seeding_state,  # its prompt is gone, but a run in use was seeded from it
        in_use,
        keyframe_mask_key(clip.video_id, 1, 0),
        f"{keyframes_prefix(clip.video_id, 1)}000000/states/not-a-uuid.npz",
    }
    undone_state = state_key(clip.video_id, 1, 0, undone.id)
    for key in (*stays, superseded, undone_state, other_object):
        s3_sync.put_object(Bucket=bucket, Key=key, Body=b"x")

    assert await sweep_keyframe_leftovers(resources, clip.video_id, [1], SWEEPER) == 1
    assert listed(s3_sync, bucket, clip.video_id, 1) == stays | {superseded}  # young: kept

    later = datetime.now(UTC) + CONTEXT_GRACE + timedelta(minutes=1)
    assert await sweep_keyframe_leftovers(resources, clip.video_id, [1], SWEEPER, now=later) == 1
    assert listed(s3_sync, bucket, clip.video_id, 1) == stays
    assert listed(s3_sync, bucket, clip.video_id, 2) == {other_object}
    assert await sweep_keyframe_leftovers(resources, clip.video_id, [1], SWEEPER, now=later) == 0


async def test_states_of_deleted_prompts_wait_while_another_job_on_the_video_is_unfinished(
    resources: Resources, s3_sync: Any, clip: Clip
) -> None:
    bucket = resources.settings.s3_bucket
    undone_state = state_key(clip.video_id, 1, 0, (await deleted_prompt(resources, clip)).id)
    s3_sync.put_object(Bucket=bucket, Key=undone_state, Body=b"x")
    other = await enqueue_job(
        resources,
        clip.user_id,
        video_id=clip.video_id,
        job_type="segment",
        payload={"video_id": str(clip.video_id), "object_id": 1, "frame_index": 0},
    )

    assert await sweep_keyframe_leftovers(resources, clip.video_id, [1], SWEEPER) == 0
    assert undone_state in listed(s3_sync, bucket, clip.video_id, 1)
    await resources.pool.execute("UPDATE jobs SET status = 'canceled' WHERE id = $1", other.id)
    assert await sweep_keyframe_leftovers(resources, clip.video_id, [1], SWEEPER) == 1
    assert undone_state not in listed(s3_sync, bucket, clip.video_id, 1)


async def test_a_chunks_keyframes_are_read_by_a_ranged_get_or_from_the_whole_chunk(
    resources: Resources, s3_sync: Any, clip: Clip, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeded = {0: state_key(clip.video_id, 1, 0, uuid.uuid4())}
    key = await propagated_chunk(resources, s3_sync, clip, seeded, frames=range(1, 17))
    whole_reads: list[str] = []
    read_whole = TrackStore.chunk

    async def counted(self: TrackStore, chunk_key: str) -> Any:
        whole_reads.append(chunk_key)
        return await read_whole(self, chunk_key)

    monkeypatch.setattr(TrackStore, "chunk", counted)
    store = TrackStore(resources.s3, resources.settings.s3_bucket)
    assert await store.chunk_keyframes(key) == seeded
    assert whole_reads == []  # the ranged read of the end held the map
    monkeypatch.setattr(track_store, "TAIL_BYTES", 64)  # too short: the whole chunk is read
    assert await store.chunk_keyframes(key) == seeded
    assert whole_reads == [key]
    missing = chunk_key(clip.video_id, 1, f"{uuid.uuid4()}-1", 1)
    assert await store.chunk_keyframes(missing) is None
