"""GET /v1/videos/{id}/masks: frames with masks in a range, from Redis hot copies or S3."""

from __future__ import annotations

from typing import Any

import msgspec
import numpy as np
import pytest
import redis.asyncio as aioredis
from litestar.testing import AsyncTestClient

from roto.masks import rle, service, storage
from roto.masks.schemas import FrameMask
from roto.settings import Settings
from tests.masks.helpers import decoded, listed, propagated, store_chunk
from tests.objects.fake_daemon import disc, fake_daemon
from tests.objects.helpers import HEIGHT, WIDTH, click, new_object, ready_video
from tests.videos.helpers import announce


async def _prompted_video(
    client: AsyncTestClient,
    headers: dict[str, str],
    settings: Settings,
    sqs: Any,
    s3: Any,
    clicks: list[tuple[int, int]],
) -> str:
    """A ready video with objects 1 and 2 and a prompt mask for each (object, frame) of clicks."""
    video_id = await ready_video(client, headers, settings)
    await new_object(client, headers, video_id)
    await new_object(client, headers, video_id)
    async with fake_daemon(settings, sqs, s3):
        for object_id, frame in clicks:
            body = click(object_id, frame, 30 * object_id, 20 + frame)
            made = await client.post(f"/v1/videos/{video_id}/prompts", json=body, headers=headers)
            assert made.status_code == 200, made.text
    return video_id


async def test_masks_lists_frames_with_masks_in_frame_then_object_order(
    client: AsyncTestClient,
    headers: dict[str, str],
    settings: Settings,
    sqs_sync: Any,
    s3_sync: Any,
) -> None:
    clicks = [(2, 5), (1, 5), (1, 2)]
    video_id = await _prompted_video(client, headers, settings, sqs_sync, s3_sync, clicks)

    response = await client.get(f"/v1/videos/{video_id}/masks", headers=headers)

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["video_id"], body["width"], body["height"]) == (video_id, WIDTH, HEIGHT)
    assert body["next_frame_start"] is None
    assert listed(body) == [(2, 1), (5, 1), (5, 2)]
    first = body["frames"][0]["masks"][0]
    assert (first["frame_index"], first["source"], first["score"]) == (2, "prompt", 0.875)
    assert first["rle"]["size"] == [HEIGHT, WIDTH]
    assert np.array_equal(decoded(first["rle"]), disc(HEIGHT, WIDTH, 30, 22))


async def test_masks_range_and_object_filter(
    client: AsyncTestClient,
    headers: dict[str, str],
    settings: Settings,
    sqs_sync: Any,
    s3_sync: Any,
) -> None:
    clicks = [(1, 2), (1, 5), (2, 5), (2, 9)]
    video_id = await _prompted_video(client, headers, settings, sqs_sync, s3_sync, clicks)
    path = f"/v1/videos/{video_id}/masks"
    cases: list[tuple[dict[str, Any], list[tuple[int, int]]]] = [
        ({"frame_start": 3}, [(5, 1), (5, 2), (9, 2)]),
        ({"frame_end": 5}, [(2, 1), (5, 1), (5, 2)]),
        ({"frame_start": 5, "frame_end": 5}, [(5, 1), (5, 2)]),
        ({"frame_start": 6, "frame_end": 8}, []),
        ({"object_ids": "2"}, [(5, 2), (9, 2)]),
        ({"object_ids": "2, 1,2"}, [(2, 1), (5, 1), (5, 2), (9, 2)]),
        ({"object_ids": "99"}, []),
        ({"object_ids": "1", "frame_start": 3, "frame_end": 11}, [(5, 1)]),
    ]
    answers = {}
    for params, expected in cases:
        response = await client.get(path, params=params, headers=headers)
        got = listed(response.json()) if response.status_code == 200 else response.text
        if got != expected:
            answers[repr(params)] = got
    assert not answers, answers


async def test_bad_masks_parameters_are_400_naming_them(
    client: AsyncTestClient, headers: dict[str, str], settings: Settings
) -> None:
    video_id = await ready_video(client, headers, settings)
    failures = {}
    cases: list[tuple[dict[str, Any], str]] = [
        ({"frame_start": -1}, "frame_start"),
        ({"frame_start": 12}, "frame_start"),
        ({"frame_start": "x"}, "frame_start"),
        ({"frame_end": 12}, "frame_end"),
        ({"frame_end": -1}, "frame_end"),
        ({"frame_end": "1.5"}, "frame_end"),
        ({"frame_start": 6, "frame_end": 5}, "frame_start"),
        ({"object_ids": ""}, "object_ids"),
        ({"object_ids": "a"}, "object_ids"),
        ({"object_ids": "1,,2"}, "object_ids"),
        ({"object_ids": "0"}, "object_ids"),
        ({"object_ids": "-1"}, "object_ids"),
        ({"object_ids": "1;2"}, "object_ids"),
        ({"object_ids": str(2**40)}, "object_ids"),
        ({"object_ids": ",".join(str(n) for n in range(1, 200))}, "object_ids"),
    ]
    for params, field in cases:
        response = await client.get(f"/v1/videos/{video_id}/masks", params=params, headers=headers)
        is_problem = response.headers["content-type"].startswith("application/problem+json")
        if response.status_code != 400 or not is_problem or field not in response.text:
            failures[repr(params)[:60]] = f"{response.status_code} {response.text}"
    assert not failures, failures


async def test_masks_of_a_video_that_is_not_ready_is_409(
    client: AsyncTestClient, headers: dict[str, str]
) -> None:
    video_id = (await announce(client, headers, 100))["video"]["id"]
    response = await client.get(f"/v1/videos/{video_id}/masks", headers=headers)
    assert response.status_code == 409


async def test_masks_are_read_from_s3_without_a_hot_copy_and_a_stale_copy_is_ignored(
    client: AsyncTestClient,
    headers: dict[str, str],
    settings: Settings,
    sqs_sync: Any,
    s3_sync: Any,
) -> None:
    video_id = await _prompted_video(client, headers, settings, sqs_sync, s3_sync, [(1, 3)])
    path, hot_key = f"/v1/videos/{video_id}/masks", storage.hot_mask_key(video_id, 1, 3)
    stored = (await client.get(path, headers=headers)).json()["frames"][0]["masks"][0]
    everything = rle.encode(np.ones((HEIGHT, WIDTH), dtype=bool))
    redis = aioredis.from_url(settings.redis_url)
    try:
        await redis.delete(hot_key)
        from_s3 = (await client.get(path, headers=headers)).json()["frames"][0]["masks"][0]
        # A copy from another run (here: another source) must not be served.
        stale = FrameMask(1, 3, everything, 0.875, "propagation")
        await redis.set(hot_key, storage.encode_mask(stale))
        not_stale = (await client.get(path, headers=headers)).json()["frames"][0]["masks"][0]
        # A current copy is what the answer is made from.
        current = FrameMask(1, 3, everything, 0.875, "prompt")
        await redis.set(hot_key, storage.encode_mask(current))
        from_redis = (await client.get(path, headers=headers)).json()["frames"][0]["masks"][0]
    finally:
        await redis.aclose()

    assert from_s3 == stored
    assert not_stale == stored
    assert from_redis["rle"] == msgspec.to_builtins(everything)


async def test_propagated_masks_are_picked_out_of_their_chunk(
    client: AsyncTestClient, headers: dict[str, str], settings: Settings, s3_sync: Any
) -> None:
    video_id = await ready_video(client, headers, settings)
    await new_object(client, headers, video_id)
    chunk = [propagated(1, frame, HEIGHT, WIDTH, 10 * frame, 40) for frame in range(6, 10)]
    # Frame 11 is indexed but missing from the chunk: it is left out, not a 500.
    await store_chunk(settings, s3_sync, video_id, chunk, indexed_frames=[6, 7, 9, 11])

    response = await client.get(
        f"/v1/videos/{video_id}/masks", params={"frame_start": 7}, headers=headers
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert listed(body) == [(7, 1), (9, 1)]
    for frame in body["frames"]:
        mask = frame["masks"][0]
        assert mask["source"] == "propagation"
        expected = disc(HEIGHT, WIDTH, 10 * frame["frame_index"], 40)
        assert np.array_equal(decoded(mask["rle"]), expected)


async def test_a_long_range_is_answered_in_capped_windows(
    client: AsyncTestClient, headers: dict[str, str], settings: Settings, s3_sync: Any
) -> None:
    video_id = await ready_video(client, headers, settings, frame_count=1200)
    await new_object(client, headers, video_id)
    frames = [0, service.MAX_FRAMES - 1, service.MAX_FRAMES, 1100]
    chunk = [propagated(1, frame, HEIGHT, WIDTH, 5, 5) for frame in frames]
    await store_chunk(settings, s3_sync, video_id, chunk)
    path = f"/v1/videos/{video_id}/masks"

    answers = [(await client.get(path, headers=headers)).json()]
    while answers[-1]["next_frame_start"] is not None and len(answers) < 5:
        params = {"frame_start": answers[-1]["next_frame_start"]}
        answers.append((await client.get(path, params=params, headers=headers)).json())

    window = service.MAX_FRAMES
    assert [listed(answer) for answer in answers] == [
        [(0, 1), (window - 1, 1)],
        [(window, 1)],
        [(1100, 1)],
    ]
    assert [answer["next_frame_start"] for answer in answers] == [window, 2 * window, None]


async def test_an_answer_with_too_many_masks_stops_at_a_whole_frame(
    client: AsyncTestClient,
    headers: dict[str, str],
    settings: Settings,
    s3_sync: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(service, "MAX_MASKS", 3)
    video_id = await ready_video(client, headers, settings)
    for object_id in (1, 2):
        await new_object(client, headers, video_id)
        masks = [propagated(object_id, frame, HEIGHT, WIDTH, 5, 5) for frame in (0, 1)]
        await store_chunk(settings, s3_sync, video_id, masks)

    body = (await client.get(f"/v1/videos/{video_id}/masks", headers=headers)).json()

    assert listed(body) == [(0, 1), (0, 2)]
    assert body["next_frame_start"] == 1
