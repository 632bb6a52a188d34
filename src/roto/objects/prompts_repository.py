"""SQL for prompts, the inputs that make a frame a keyframe of an object."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg
import msgspec


class PromptRow(msgspec.Struct, frozen=True):
    id: uuid.UUID
    video_id: uuid.UUID
    object_id: int
    frame_index: int
    points: list[list[float]]
    labels: list[int]
    box: list[float] | None
    created_at: datetime


INSERT_PROMPT = """
INSERT INTO prompts (id, video_id, object_id, frame_index, points, labels, box)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING id, video_id, object_id, frame_index, points, labels, box, created_at
"""
DELETE_FRAME_PROMPTS = """
DELETE FROM prompts WHERE video_id = $1 AND object_id = $2 AND frame_index = $3
"""
SELECT_KEYFRAME_PROMPTS = """
SELECT id, video_id, object_id, frame_index, points, labels, box, created_at
FROM prompts
WHERE video_id = $1 AND object_id = $2 AND frame_index = $3
ORDER BY created_at, id
"""
SELECT_KEYFRAMES = """
SELECT DISTINCT frame_index FROM prompts WHERE video_id = $1 AND object_id = $2
ORDER BY frame_index
"""


async def insert_prompt(
    conn: asyncpg.Connection,
    *,
    video_id: uuid.UUID,
    object_id: int,
    frame_index: int,
    points: list[list[float]],
    labels: list[int],
    box: list[float] | None,
) -> PromptRow:
    record = await conn.fetchrow(
        INSERT_PROMPT, uuid.uuid4(), video_id, object_id, frame_index, points, labels, box
    )
    return msgspec.convert(dict(record), PromptRow)


async def delete_frame_prompts(
    conn: asyncpg.Connection, video_id: uuid.UUID, object_id: int, frame_index: int
) -> int:
    """Drop an object's prompts on one frame (``mode: replace``); returns how many went."""
    status: str = await conn.execute(DELETE_FRAME_PROMPTS, video_id, object_id, frame_index)
    return int(status.split()[-1])


async def keyframe_prompts(
    conn: asyncpg.Connection, video_id: uuid.UUID, object_id: int, frame_index: int
) -> list[PromptRow]:
    """Every prompt of an object on a frame, oldest first: together, the keyframe's input."""
    records = await conn.fetch(SELECT_KEYFRAME_PROMPTS, video_id, object_id, frame_index)
    return [msgspec.convert(dict(r), PromptRow) for r in records]


async def keyframes(conn: asyncpg.Connection, video_id: uuid.UUID, object_id: int) -> list[int]:
    """The frames on which an object has prompts, in order."""
    return [r["frame_index"] for r in await conn.fetch(SELECT_KEYFRAMES, video_id, object_id)]
