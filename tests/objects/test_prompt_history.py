"""The prompt history over HTTP: POST answers the stored prompt, GET lists them, DELETE undoes one
(recomputing the keyframe, or ending it), DELETE .../keyframes/{frame} ends a keyframe, and the
bad inputs of each answer their 4xx and change nothing.

The daemon step is played by ``tests.objects.fake_daemon`` (a stand-in, not SAM2): these tests
are about the API's rows and answers; the refinement itself is tested against SAM2 in tests/gpu.
"""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
from litestar.testing import AsyncTestClient

from roto.masks import repository as masks_repo
from roto.masks import rle
from roto.settings import Settings
from tests.objects.fake_daemon import fake_daemon
from tests.objects.helpers import (
    HEIGHT,
    WIDTH,
    click,
    count_rows,
    fetch_value,
    new_object,
    ready_video,
    video_with_object,
)
from tests.videos.helpers import connect


def matte(height: int = HEIGHT, width: int = WIDTH) -> dict[str, Any]:
    """A compressed COCO RLE of a rectangle, as a client would send an imported matte."""
    mask = np.zeros((height, width), dtype=bool)
    mask[10:40, 20:70] = True
    encoded = rle.encode(mask)
    return {"size": encoded.size, "counts": encoded.counts}


async def post_prompt(
    client: AsyncTestClient, headers: dict[str, str], video_id: str, body: dict[str, Any], **q: Any
) -> Any:
    return await client.post(
        f"/v1/videos/{video_id}/prompts", params={"wait": 0, **q}, json=body, headers=headers
    )


async def test_post_answers_the_stored_prompt_and_get_lists_the_history_oldest_first(
    client: AsyncTestClient, headers: dict[str, str], settings: Settings
) -> None:
    video_id = await video_with_object(client, headers, settings)
    await new_object(client, headers, video_id)
    first = await post_prompt(client, headers, video_id, click(1, 0, 5, 5))
    second = await post_prompt(
        client, headers, video_id, {**click(1, 0, 9, 9), "labels": [0], "box": [1, 2, 30, 40]}
    )
    other = await post_prompt(client, headers, video_id, click(2, 3, 7, 7))
    assert first.status_code == second.status_code == other.status_code == 202
    record = first.json()["prompt"]
    assert set(record) == {
        "id",
        "object_id",
        "frame_index",
        "points",
        "labels",
        "box",
        "mask",
        "created_at",
    }
    assert (record["object_id"], record["frame_index"], record["points"]) == (1, 0, [[5, 5]])
    assert record["mask"] is False and record["box"] is None
    assert second.json()["prompt"]["box"] == [1, 2, 30, 40]

    listed = await client.get(f"/v1/videos/{video_id}/prompts", headers=headers)
    assert listed.status_code == 200
    ids = [item["id"] for item in listed.json()["items"]]
    assert ids == [
        first.json()["prompt"]["id"],
        second.json()["prompt"]["id"],
        other.json()["prompt"]["id"],
    ]
    one = await client.get(
        f"/v1/videos/{video_id}/prompts",
        params={"object_id": 1, "frame_index": 0, "limit": 1},
        headers=headers,
    )
    assert [item["id"] for item in one.json()["items"]] == ids[:1]
    following = await client.get(
        f"/v1/videos/{video_id}/prompts",
        params={"object_id": 1, "limit": 1, "cursor": one.json()["next_cursor"]},
        headers=headers,
    )
    assert [item["id"] for item in following.json()["items"]] == ids[1:2]


async def test_an_imported_matte_is_a_prompt_and_its_record_says_so(
    client: AsyncTestClient, headers: dict[str, str], settings: Settings
) -> None:
    video_id = await video_with_object(client, headers, settings)
    response = await post_prompt(
        client, headers, video_id, {"object_id": 1, "frame_index": 2, "mask": matte()}
    )
    assert response.status_code == 202, response.text
    assert response.json()["prompt"]["mask"] is True
    stored = await fetch_value(
        settings, "SELECT mask FROM prompts WHERE video_id = $1", uuid.UUID(video_id)
    )
    assert stored == matte()


async def test_a_matte_of_another_size_or_not_an_rle_is_422_and_stores_nothing(
    client: AsyncTestClient, headers: dict[str, str], settings: Settings
) -> None:
    video_id = await video_with_object(client, headers, settings)
    wrong_size = {"object_id": 1, "frame_index": 0, "mask": matte(HEIGHT + 1, WIDTH)}
    garbage = {"object_id": 1, "frame_index": 0, "mask": {"size": [HEIGHT, WIDTH], "counts": "zz~"}}
    short = {"object_id": 1, "frame_index": 0, "mask": {"size": [HEIGHT, WIDTH], "counts": "05"}}
    for body in (wrong_size, garbage, short):
        response = await post_prompt(client, headers, video_id, body)
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["key"] == "mask"
    assert await count_rows(settings, "prompts", video_id) == 0
    assert await count_rows(settings, "jobs", video_id) == 0


async def test_a_65th_point_on_a_keyframe_is_422_naming_points_and_changes_nothing(
    client: AsyncTestClient, headers: dict[str, str], settings: Settings
) -> None:
    video_id = await video_with_object(client, headers, settings)
    forty = {
        "object_id": 1,
        "frame_index": 0,
        "points": [[1 + i, 1] for i in range(40)],
        "labels": [1] * 40,
    }
    twenty_four = {**forty, "points": [[1 + i, 2] for i in range(24)], "labels": [0] * 24}
    assert (await post_prompt(client, headers, video_id, forty)).status_code == 202
    assert (await post_prompt(client, headers, video_id, twenty_four)).status_code == 202
    response = await post_prompt(client, headers, video_id, click(1, 0, 50, 50))
    assert response.status_code == 422
    assert response.json()["errors"][0]["key"] == "points"
    assert "64" in response.json()["detail"]
    assert await count_rows(settings, "prompts", video_id) == 2
    assert await count_rows(settings, "jobs", video_id) == 2
    # Another frame has its own 64; `replace` starts the frame over.
    assert (await post_prompt(client, headers, video_id, click(1, 1, 50, 50))).status_code == 202
    replace = {**click(1, 0, 50, 50), "mode": "replace"}
    assert (await post_prompt(client, headers, video_id, replace)).status_code == 202


async def test_deleting_a_prompt_recomputes_its_keyframe_from_the_prompts_left(
    client: AsyncTestClient,
    headers: dict[str, str],
    settings: Settings,
    sqs_sync: Any,
    s3_sync: Any,
) -> None:
    video_id = await video_with_object(client, headers, settings)
    async with fake_daemon(settings, sqs_sync, s3_sync):
        kept = await post_prompt(client, headers, video_id, click(1, 0, 20, 20), wait=10)
        undone = await post_prompt(client, headers, video_id, click(1, 0, 60, 60), wait=10)
        assert kept.status_code == undone.status_code == 200
        response = await client.delete(
            f"/v1/videos/{video_id}/prompts/{undone.json()['prompt']['id']}",
            params={"wait": 10},
            headers=headers,
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["prompt"] == undone.json()["prompt"]
    assert body["job"]["type"] == "segment" and body["job"]["status"] == "succeeded"
    assert body["mask"]["frame_index"] == 0 and body["mask"]["object_id"] == 1
    listed = await client.get(f"/v1/videos/{video_id}/prompts", headers=headers)
    assert [p["id"] for p in listed.json()["items"]] == [kept.json()["prompt"]["id"]]


async def test_deleting_the_last_prompt_ends_the_keyframe_and_its_mask(
    client: AsyncTestClient,
    headers: dict[str, str],
    settings: Settings,
    sqs_sync: Any,
    s3_sync: Any,
) -> None:
    video_id = await video_with_object(client, headers, settings)
    async with fake_daemon(settings, sqs_sync, s3_sync):
        only = await post_prompt(client, headers, video_id, click(1, 4, 20, 20), wait=10)
    assert only.status_code == 200
    assert await count_rows(settings, "masks", video_id) == 1
    response = await client.delete(
        f"/v1/videos/{video_id}/prompts/{only.json()['prompt']['id']}", headers=headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["job"] is None and response.json()["mask"] is None
    assert await count_rows(settings, "masks", video_id) == 0
    assert await count_rows(settings, "prompts", video_id) == 0
    masks = await client.get(f"/v1/videos/{video_id}/masks", headers=headers)
    assert masks.json()["frames"] == []


async def test_ending_a_keyframe_deletes_its_prompts_and_gives_back_the_propagated_mask(
    client: AsyncTestClient, headers: dict[str, str], settings: Settings
) -> None:
    video_id = await video_with_object(client, headers, settings)
    vid = uuid.UUID(video_id)
    conn_sql = (
        "INSERT INTO masks (video_id, object_id, frame_index, source, score, area, storage_key)"
        " VALUES ($1, 1, 5, 'propagation', 0.5, 12, 'videos/x/masks/1/chunks/j-1/000000.json')"
    )
    await fetch_value(settings, conn_sql, vid)
    for x in (10, 30):
        assert (await post_prompt(client, headers, video_id, click(1, 5, x, 20))).status_code == 202
    # What the segment job stores over the propagated mask keeps that one as its base.
    conn = await connect(settings)
    try:
        await masks_repo.upsert_mask(
            conn,
            video_id=vid,
            object_id=1,
            frame_index=5,
            source="prompt",
            score=0.9,
            area=40,
            storage_key="k",
            job_id=None,
        )
    finally:
        await conn.close()
    response = await client.delete(f"/v1/videos/{video_id}/objects/1/keyframes/5", headers=headers)
    assert response.status_code == 204, response.text
    assert await count_rows(settings, "prompts", video_id) == 0
    row = await fetch_value(
        settings, "SELECT row(source, score, area, storage_key) FROM masks WHERE video_id = $1", vid
    )
    assert tuple(row) == ("propagation", 0.5, 12, "videos/x/masks/1/chunks/j-1/000000.json")
    missing = await client.delete(f"/v1/videos/{video_id}/objects/1/keyframes/5", headers=headers)
    assert missing.status_code == 404


async def test_another_users_prompt_or_another_videos_prompt_is_404_and_stays(
    client: AsyncTestClient,
    headers: dict[str, str],
    other_headers: dict[str, str],
    settings: Settings,
) -> None:
    video_id = await video_with_object(client, headers, settings)
    other_video = await video_with_object(client, headers, settings)
    theirs = await video_with_object(client, other_headers, settings)
    prompt_id = (await post_prompt(client, headers, video_id, click(1, 0, 5, 5))).json()["prompt"][
        "id"
    ]
    their_prompt = (await post_prompt(client, other_headers, theirs, click(1, 0, 5, 5))).json()[
        "prompt"
    ]["id"]
    attempts = [
        (video_id, their_prompt, headers),  # another user's prompt, through my video
        (theirs, their_prompt, headers),  # another user's video
        (other_video, prompt_id, headers),  # my prompt, through another video of mine
        (video_id, prompt_id, other_headers),  # my prompt, as another user
        (video_id, str(uuid.uuid4()), headers),
        (video_id, "not-a-uuid", headers),
    ]
    for video, prompt, who in attempts:
        response = await client.delete(f"/v1/videos/{video}/prompts/{prompt}", headers=who)
        assert response.status_code == 404, (video, prompt, response.text)
    assert await count_rows(settings, "prompts", video_id) == 1
    assert await count_rows(settings, "prompts", theirs) == 1
    listed = await client.get(f"/v1/videos/{theirs}/prompts", headers=headers)
    assert listed.status_code == 404


async def test_prompts_of_a_video_that_is_not_ready_cannot_be_listed_as_anything_but_empty(
    client: AsyncTestClient, headers: dict[str, str], settings: Settings
) -> None:
    video_id = await ready_video(client, headers, settings)
    listed = await client.get(f"/v1/videos/{video_id}/prompts", headers=headers)
    assert listed.status_code == 200 and listed.json() == {"items": [], "next_cursor": None}


async def test_prompt_filters_past_the_integer_range_are_400_naming_them(
    client: AsyncTestClient, headers: dict[str, str], settings: Settings
) -> None:
    # Found by the API fuzz test: these reached PostgreSQL's integer columns (a 500).
    video_id = await video_with_object(client, headers, settings)
    url = f"/v1/videos/{video_id}/prompts"
    for name, value in [("object_id", 2**31), ("frame_index", 2**40), ("object_id", 0)]:
        answer = await client.get(url, params={name: value}, headers=headers)
        assert answer.status_code == 400, (name, answer.text)
        assert name in answer.json()["detail"]
