"""SQL for objects and the allocation of their ids (prompts SQL is in ``prompts_repository``)."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg
import msgspec

from roto.objects.rules import DEFAULT_CATEGORY
from roto.objects.schemas import VideoObject
from roto.timefmt import rfc3339


class ObjectRow(msgspec.Struct, frozen=True):
    video_id: uuid.UUID
    object_id: int
    name: str
    color: str
    category: str
    created_at: datetime

    def to_wire(self) -> VideoObject:
        return VideoObject(
            id=self.object_id,
            name=self.name,
            color=self.color,
            category=self.category,
            created_at=rfc3339(self.created_at) or "",
        )


# The UPDATE locks the video row until the transaction ends, so two creations never share an id,
# and the counter only grows, so a deleted object's id is never handed out again.
ALLOCATE_OBJECT_ID = """
UPDATE videos SET next_object_id = next_object_id + 1
WHERE id = $1 AND user_id = $2 AND status = 'ready'
RETURNING next_object_id - 1 AS object_id
"""
COUNT_OBJECTS = "SELECT count(*) FROM objects WHERE video_id = $1"
INSERT_OBJECT = """
INSERT INTO objects (video_id, object_id, name, color, category)
VALUES ($1, $2, $3, $4, $5)
RETURNING video_id, object_id, name, color, category, created_at
"""
LIST_OBJECTS = """
SELECT video_id, object_id, name, color, category, created_at
FROM objects
WHERE video_id = $1 AND object_id > $2
ORDER BY object_id
LIMIT $3
"""
SELECT_OBJECTS = """
SELECT video_id, object_id, name, color, category, created_at
FROM objects
WHERE video_id = $1 AND object_id = ANY($2::int[])
ORDER BY object_id
"""
# FOR KEY SHARE: a prompt being written keeps the object from being deleted under it.
SELECT_OBJECT_FOR_PROMPT = """
SELECT video_id, object_id, name, color, category, created_at
FROM objects
WHERE video_id = $1 AND object_id = $2
FOR KEY SHARE
"""
SELECT_OBJECT = """
SELECT video_id, object_id, name, color, category, created_at
FROM objects
WHERE video_id = $1 AND object_id = $2
"""
UPDATE_OBJECT = """
UPDATE objects
SET name = coalesce($3, name), color = coalesce($4, color), category = coalesce($5, category)
WHERE video_id = $1 AND object_id = $2
RETURNING video_id, object_id, name, color, category, created_at
"""
DELETE_OBJECT = "DELETE FROM objects WHERE video_id = $1 AND object_id = $2"


def _object(record: asyncpg.Record | None) -> ObjectRow | None:
    return None if record is None else msgspec.convert(dict(record), ObjectRow)


async def allocate_object_id(
    conn: asyncpg.Connection, video_id: uuid.UUID, user_id: uuid.UUID
) -> int | None:
    """The next object id of a ready video of the user; None if there is no such video."""
    object_id: int | None = await conn.fetchval(ALLOCATE_OBJECT_ID, video_id, user_id)
    return object_id


async def count_objects(conn: asyncpg.Connection, video_id: uuid.UUID) -> int:
    count: int = await conn.fetchval(COUNT_OBJECTS, video_id)
    return count


async def insert_object(
    conn: asyncpg.Connection,
    video_id: uuid.UUID,
    object_id: int,
    name: str,
    color: str,
    category: str = DEFAULT_CATEGORY,
) -> ObjectRow:
    row = _object(await conn.fetchrow(INSERT_OBJECT, video_id, object_id, name, color, category))
    assert row is not None
    return row


async def list_objects(
    conn: asyncpg.Connection | asyncpg.Pool, video_id: uuid.UUID, *, after: int, limit: int
) -> list[ObjectRow]:
    """Objects of a video with an id above ``after``, in id order."""
    records = await conn.fetch(LIST_OBJECTS, video_id, after, limit)
    return [msgspec.convert(dict(r), ObjectRow) for r in records]


async def get_object(
    conn: asyncpg.Connection | asyncpg.Pool, video_id: uuid.UUID, object_id: int
) -> ObjectRow | None:
    return _object(await conn.fetchrow(SELECT_OBJECT, video_id, object_id))


async def get_objects(
    conn: asyncpg.Connection | asyncpg.Pool, video_id: uuid.UUID, object_ids: list[int]
) -> list[ObjectRow]:
    """Those of ``object_ids`` that are objects of the video, in id order."""
    records = await conn.fetch(SELECT_OBJECTS, video_id, object_ids)
    return [msgspec.convert(dict(r), ObjectRow) for r in records]


async def lock_object_for_prompt(
    conn: asyncpg.Connection, video_id: uuid.UUID, object_id: int
) -> ObjectRow | None:
    """The object, kept from deletion until the transaction ends; None if there is none."""
    return _object(await conn.fetchrow(SELECT_OBJECT_FOR_PROMPT, video_id, object_id))


async def update_object(
    conn: asyncpg.Connection | asyncpg.Pool,
    video_id: uuid.UUID,
    object_id: int,
    name: str | None,
    color: str | None,
    category: str | None = None,
) -> ObjectRow | None:
    """Set the fields that are not None; None if there is no such object."""
    return _object(await conn.fetchrow(UPDATE_OBJECT, video_id, object_id, name, color, category))


async def delete_object(conn: asyncpg.Connection, video_id: uuid.UUID, object_id: int) -> bool:
    """Delete the object (its prompts and mask rows go by cascade); False if there was none."""
    status: str = await conn.execute(DELETE_OBJECT, video_id, object_id)
    return status.endswith(" 1")
