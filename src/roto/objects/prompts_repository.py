"""SQL for prompts (the inputs that make a frame a keyframe of an object) and keyframes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg
import msgspec

from roto.objects.schemas import PromptRecord
from roto.timefmt import rfc3339


class PromptRow(msgspec.Struct, frozen=True):
    id: uuid.UUID
    video_id: uuid.UUID
    object_id: int
    frame_index: int
    points: list[list[float]]
    labels: list[int]
    box: list[float] | None
    created_at: datetime
    # COCO RLE of an imported matte ({"size": [h, w], "counts": str}), or None.
    mask: dict[str, Any] | None = None
    version: datetime | None = None
    state_key: str | None = None

    def to_wire(self) -> PromptRecord:
        box = self.box
        return PromptRecord(
            id=str(self.id),
            object_id=self.object_id,
            frame_index=self.frame_index,
            points=[(x, y) for x, y in self.points],
            labels=list(self.labels),
            box=(box[0], box[1], box[2], box[3]) if box is not None else None,
            mask=self.mask is not None,
            created_at=rfc3339(self.created_at) or "",
        )


class KeyframeRow(msgspec.Struct, frozen=True):
    """What a keyframe's prompts are decoded against (see migration 0007)."""

    video_id: uuid.UUID
    object_id: int
    frame_index: int
    context_key: str | None
    reverse: bool


INSERT_PROMPT = """
INSERT INTO prompts (id, video_id, object_id, frame_index, points, labels, box, mask)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
RETURNING id, video_id, object_id, frame_index, points, labels, box, created_at, mask, version,
       state_key
"""
# The frame stops being a keyframe: its prompts and its context row go, in one round trip.
END_KEYFRAME = """
WITH context AS (
    DELETE FROM keyframes WHERE video_id = $1 AND object_id = $2 AND frame_index = $3
), gone AS (
    DELETE FROM prompts WHERE video_id = $1 AND object_id = $2 AND frame_index = $3
    RETURNING 1
)
SELECT count(*) FROM gone
"""
SELECT_KEYFRAME_PROMPTS = """
SELECT id, video_id, object_id, frame_index, points, labels, box, created_at, mask, version,
       state_key
FROM prompts
WHERE video_id = $1 AND object_id = $2 AND frame_index = $3
ORDER BY created_at, id
"""
SELECT_KEYFRAMES = """
SELECT DISTINCT frame_index FROM prompts WHERE video_id = $1 AND object_id = $2
ORDER BY frame_index
"""
# Oldest first; the cursor is the last (created_at, id) of the previous page.
LIST_PROMPTS = """
SELECT id, video_id, object_id, frame_index, points, labels, box, created_at, mask, version,
       state_key
FROM prompts
WHERE video_id = $1
  AND ($2::integer IS NULL OR object_id = $2)
  AND ($3::integer IS NULL OR frame_index = $3)
  AND ($4::timestamptz IS NULL OR (created_at, id) > ($4, $5::uuid))
ORDER BY created_at, id
LIMIT $6
"""
SELECT_PROMPT = """
SELECT id, video_id, object_id, frame_index, points, labels, box, created_at, mask, version,
       state_key
FROM prompts WHERE video_id = $1 AND id = $2
"""
DELETE_PROMPT = "DELETE FROM prompts WHERE id = $1"
COUNT_KEYFRAME_POINTS = """
SELECT coalesce(sum(jsonb_array_length(points)), 0)
FROM prompts WHERE video_id = $1 AND object_id = $2 AND frame_index = $3
"""
# The prompts after a deleted one get a new version, and their states are made again.
REVISE_LATER_PROMPTS = """
UPDATE prompts SET version = now(), state_key = NULL
WHERE video_id = $1 AND object_id = $2 AND frame_index = $3 AND (created_at, id) > ($4, $5)
"""
SET_STATE_KEY = "UPDATE prompts SET state_key = $2 WHERE id = $1 AND state_key IS NULL"
SELECT_KEYFRAME = """
SELECT video_id, object_id, frame_index, context_key, reverse
FROM keyframes WHERE video_id = $1 AND object_id = $2 AND frame_index = $3
"""
INSERT_KEYFRAME = """
INSERT INTO keyframes (video_id, object_id, frame_index, context_key, reverse)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (video_id, object_id, frame_index) DO NOTHING
"""
DELETE_KEYFRAME = """
DELETE FROM keyframes WHERE video_id = $1 AND object_id = $2 AND frame_index = $3
"""


def _prompt(record: asyncpg.Record | None) -> PromptRow | None:
    return None if record is None else msgspec.convert(dict(record), PromptRow)


async def insert_prompt(
    conn: asyncpg.Connection,
    *,
    video_id: uuid.UUID,
    object_id: int,
    frame_index: int,
    points: list[list[float]],
    labels: list[int],
    box: list[float] | None,
    mask: dict[str, Any] | None = None,
    prompt_id: uuid.UUID | None = None,
) -> PromptRow:
    """A new prompt (a fresh id unless ``prompt_id`` names it)."""
    record = await conn.fetchrow(
        INSERT_PROMPT,
        prompt_id or uuid.uuid4(),
        video_id,
        object_id,
        frame_index,
        points,
        labels,
        box,
        mask,
    )
    row = _prompt(record)
    assert row is not None
    return row


async def end_keyframe(
    conn: asyncpg.Connection, video_id: uuid.UUID, object_id: int, frame_index: int
) -> int:
    """Drop an object's prompts on one frame and the frame's keyframe row; returns how many
    prompts went."""
    deleted: int = await conn.fetchval(END_KEYFRAME, video_id, object_id, frame_index)
    return deleted


async def keyframe_prompts(
    conn: asyncpg.Connection, video_id: uuid.UUID, object_id: int, frame_index: int
) -> list[PromptRow]:
    """Every prompt of an object on a frame, oldest first: together, the keyframe's input."""
    records = await conn.fetch(SELECT_KEYFRAME_PROMPTS, video_id, object_id, frame_index)
    return [msgspec.convert(dict(r), PromptRow) for r in records]


async def keyframes(conn: asyncpg.Connection, video_id: uuid.UUID, object_id: int) -> list[int]:
    """The frames on which an object has prompts, in order."""
    return [r["frame_index"] for r in await conn.fetch(SELECT_KEYFRAMES, video_id, object_id)]


async def list_prompts(
    conn: asyncpg.Connection,
    video_id: uuid.UUID,
    *,
    object_id: int | None,
    frame_index: int | None,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[PromptRow]:
    """The video's prompts, oldest first, optionally of one object and/or frame."""
    after_at, after_id = after if after is not None else (None, None)
    records = await conn.fetch(
        LIST_PROMPTS, video_id, object_id, frame_index, after_at, after_id, limit
    )
    return [msgspec.convert(dict(r), PromptRow) for r in records]


async def get_prompt(
    conn: asyncpg.Connection, video_id: uuid.UUID, prompt_id: uuid.UUID
) -> PromptRow | None:
    return _prompt(await conn.fetchrow(SELECT_PROMPT, video_id, prompt_id))


async def delete_prompt(conn: asyncpg.Connection, prompt: PromptRow) -> None:
    """Delete one prompt; the later prompts of its keyframe are marked to be made again."""
    await conn.execute(DELETE_PROMPT, prompt.id)
    await conn.execute(
        REVISE_LATER_PROMPTS,
        prompt.video_id,
        prompt.object_id,
        prompt.frame_index,
        prompt.created_at,
        prompt.id,
    )


async def keyframe_points(
    conn: asyncpg.Connection, video_id: uuid.UUID, object_id: int, frame_index: int
) -> int:
    """How many points the object's prompts on the frame hold in all."""
    count: int = await conn.fetchval(COUNT_KEYFRAME_POINTS, video_id, object_id, frame_index)
    return count


async def set_state_key(conn: asyncpg.Connection, prompt_id: uuid.UUID, key: str) -> None:
    """Record where a prompt's keyframe state is stored (once: states are deterministic)."""
    await conn.execute(SET_STATE_KEY, prompt_id, key)


async def get_keyframe(
    conn: asyncpg.Connection, video_id: uuid.UUID, object_id: int, frame_index: int
) -> KeyframeRow | None:
    record = await conn.fetchrow(SELECT_KEYFRAME, video_id, object_id, frame_index)
    return None if record is None else msgspec.convert(dict(record), KeyframeRow)


async def insert_keyframe(conn: asyncpg.Connection, row: KeyframeRow) -> None:
    """Fix a keyframe's decoding context; one already there is kept."""
    await conn.execute(
        INSERT_KEYFRAME,
        row.video_id,
        row.object_id,
        row.frame_index,
        row.context_key,
        row.reverse,
    )


async def delete_keyframe(
    conn: asyncpg.Connection, video_id: uuid.UUID, object_id: int, frame_index: int
) -> None:
    await conn.execute(DELETE_KEYFRAME, video_id, object_id, frame_index)
