"""Helpers for videos and jobs tests: drive an upload as a client would, and look underneath."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import asyncpg
import httpx

from roto.jobs.contracts import JobMessage, decode_message
from roto.settings import Settings

VIDEO_TYPE = "video/mp4"


async def announce(
    client: httpx.AsyncClient, headers: dict[str, str], size: int, **fields: Any
) -> dict[str, Any]:
    """POST /v1/videos; returns the 201 body."""
    body = {"filename": "clip.mp4", "content_type": VIDEO_TYPE, "size_bytes": size, **fields}
    response = await client.post("/v1/videos", json=body, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def put_file(upload: dict[str, Any], data: bytes) -> None:
    """Send ``data`` to a single-PUT upload, over real HTTP to the storage endpoint."""
    assert upload["method"] == "PUT"
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.put(upload["url"], content=data, headers=upload["headers"])
    assert response.status_code == 200, response.text


async def put_parts(upload: dict[str, Any], data: bytes) -> list[dict[str, Any]]:
    """Send ``data`` part by part to a multipart upload; returns the parts with their ETags."""
    assert upload["method"] == "MULTIPART"
    size = upload["part_size"]
    parts = []
    async with httpx.AsyncClient(timeout=60) as http:
        for part in upload["parts"]:
            number = part["part_number"]
            chunk = data[(number - 1) * size : number * size]
            response = await http.put(part["url"], content=chunk)
            assert response.status_code == 200, response.text
            parts.append({"part_number": number, "etag": response.headers["ETag"]})
    return parts


async def uploaded_video(
    client: httpx.AsyncClient, headers: dict[str, str], data: bytes = b"not really a video"
) -> dict[str, Any]:
    """A video whose file is in storage, still awaiting upload-complete."""
    created = await announce(client, headers, len(data))
    await put_file(created["upload"], data)
    video: dict[str, Any] = created["video"]
    return video


async def ingesting_video(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(video, ingest job) after a completed upload."""
    video = await uploaded_video(client, headers)
    response = await client.post(
        f"/v1/videos/{video['id']}/upload-complete", json={}, headers=headers
    )
    assert response.status_code == 202, response.text
    body = response.json()
    return body["video"], body["job"]


async def receive_job_messages(
    sqs: Any, queue_name: str, *, expect: int, timeout_s: float = 10.0
) -> list[JobMessage]:
    """Poll the queue (without blocking the event loop the app runs on) for ``expect`` messages,
    then once more to catch extras."""
    url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
    messages: list[JobMessage] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        messages.extend(decode_message(m["Body"]) for m in answer.get("Messages", []))
        if len(messages) >= expect:
            await asyncio.sleep(0.5)
            answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            messages.extend(decode_message(m["Body"]) for m in answer.get("Messages", []))
            break
        await asyncio.sleep(0.1)
    return messages


async def connect(settings: Settings) -> asyncpg.Connection:
    """A direct connection to the test's database, decoding jsonb like the app does."""
    conn: asyncpg.Connection = await asyncpg.connect(settings.database_url)
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    return conn


async def owner_of(settings: Settings, video_id: str) -> uuid.UUID:
    conn = await connect(settings)
    try:
        user_id: uuid.UUID = await conn.fetchval(
            "SELECT user_id FROM videos WHERE id = $1", uuid.UUID(video_id)
        )
    finally:
        await conn.close()
    return user_id


async def make_ready(settings: Settings, video_id: str, frame_count: int) -> None:
    """Do what ingest would: record the probe results and mark the video ready."""
    conn = await connect(settings)
    try:
        await conn.execute(
            "UPDATE videos SET status = 'ready', width = 160, height = 96, fps = 24, "
            "frame_count = $2::int, duration_s = $2::int / 24.0, codec = 'h264' WHERE id = $1",
            uuid.UUID(video_id),
            frame_count,
        )
    finally:
        await conn.close()
