"""Videos with keyframes for propagation tests, stored as the prompts endpoint stores them."""

from __future__ import annotations

import uuid

import httpx

from roto.objects.prompts_repository import insert_prompt
from roto.settings import Settings
from tests.objects.helpers import new_object, ready_video
from tests.videos.helpers import connect


async def keyframes(settings: Settings, video_id: str, object_id: int, *frames: int) -> None:
    """Prompts on ``frames`` (as the prompts endpoint stores them, without its segment job)."""
    conn = await connect(settings)
    try:
        for frame in frames:
            await insert_prompt(
                conn,
                video_id=uuid.UUID(video_id),
                object_id=object_id,
                frame_index=frame,
                points=[[5.0, 5.0]],
                labels=[1],
                box=None,
            )
    finally:
        await conn.close()


async def prompted_video(
    client: httpx.AsyncClient, headers: dict[str, str], settings: Settings
) -> str:
    """A ready 12-frame video: object 1 with keyframes 3 and 7, object 2 with 5, object 3 none."""
    video_id = await ready_video(client, headers, settings)
    for _ in range(3):
        await new_object(client, headers, video_id)
    await keyframes(settings, video_id, 1, 3, 7)
    await keyframes(settings, video_id, 2, 5)
    return video_id
