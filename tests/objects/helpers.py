"""Helpers for the objects, prompts and masks tests: ready videos, objects, looking underneath."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from roto.settings import Settings
from tests.videos.helpers import announce, connect

WIDTH, HEIGHT, FRAMES = 160, 96, 12


async def ready_video(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    settings: Settings,
    *,
    width: int = WIDTH,
    height: int = HEIGHT,
    frame_count: int = FRAMES,
) -> str:
    """A video of the caller, marked ready as ingest would leave it; returns its id."""
    video_id: str = (await announce(client, headers, 1000))["video"]["id"]
    conn = await connect(settings)
    try:
        await conn.execute(
            "UPDATE videos SET status = 'ready', width = $2::int, height = $3::int, fps = 24, "
            "frame_count = $4::int, duration_s = $4::int / 24.0, codec = 'h264' WHERE id = $1",
            uuid.UUID(video_id),
            width,
            height,
            frame_count,
        )
    finally:
        await conn.close()
    return video_id


async def new_object(
    client: httpx.AsyncClient, headers: dict[str, str], video_id: str, **body: Any
) -> dict[str, Any]:
    """POST an object; returns the 201 body."""
    response = await client.post(f"/v1/videos/{video_id}/objects", json=body, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def video_with_object(
    client: httpx.AsyncClient, headers: dict[str, str], settings: Settings
) -> str:
    """A ready video with one object (id 1); returns the video's id."""
    video_id = await ready_video(client, headers, settings)
    await new_object(client, headers, video_id)
    return video_id


def click(object_id: int, frame_index: int, x: float, y: float, **fields: Any) -> dict[str, Any]:
    """A prompt body with one positive click."""
    return {
        "object_id": object_id,
        "frame_index": frame_index,
        "points": [[x, y]],
        "labels": [1],
        **fields,
    }


async def fetch_value(settings: Settings, sql: str, *args: Any) -> Any:
    """One value from the test's database."""
    conn = await connect(settings)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


async def count_rows(settings: Settings, table: str, video_id: str, **where: int) -> int:
    """Rows of ``table`` (prompts, masks, objects, jobs) of a video, filtered by integer columns."""
    assert table in {"prompts", "masks", "objects", "jobs"}
    clauses = ["video_id = $1", *(f"{name} = ${i}" for i, name in enumerate(where, start=2))]
    sql = f"SELECT count(*) FROM {table} WHERE {' AND '.join(clauses)}"
    count: int = await fetch_value(settings, sql, uuid.UUID(video_id), *where.values())
    return count


def s3_keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    answer = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(item["Key"] for item in answer.get("Contents", []))
