"""GET /v1/videos/{id}/spans: which frames a correction has made stale, from the stored spans and
the keyframes' versions as they are now."""

from __future__ import annotations

import uuid

from litestar.testing import AsyncTestClient

from roto.settings import Settings
from tests.objects.helpers import FRAMES, click, fetch_value, new_object, video_with_object

RECORD_SPAN = """
INSERT INTO propagated_spans (video_id, object_id, keyframe_before, keyframe_after,
                              before_version, after_version, frame_start, frame_end, job_id)
SELECT $1, 1, 0, $2, max(version), NULL, 1, $2 - 1, $3
FROM prompts WHERE video_id = $1 AND object_id = 1 AND frame_index = 0
"""


async def test_a_correction_makes_the_spans_next_to_it_stale(
    client: AsyncTestClient, headers: dict[str, str], settings: Settings
) -> None:
    video_id = await video_with_object(client, headers, settings)
    await new_object(client, headers, video_id)
    prompts = f"/v1/videos/{video_id}/prompts"
    assert (
        await client.post(prompts, params={"wait": 0}, json=click(1, 0, 5, 5), headers=headers)
    ).status_code == 202
    # As the propagate job records it: frames 1..11 from keyframe 0 as it is now.
    await fetch_value(settings, RECORD_SPAN, uuid.UUID(video_id), FRAMES, uuid.uuid4())
    spans = await client.get(f"/v1/videos/{video_id}/spans", headers=headers)
    assert spans.status_code == 200
    assert spans.json()["items"] == [
        {"object_id": 1, "frame_start": 1, "frame_end": 11, "state": "fresh"},
        {"object_id": 2, "frame_start": 0, "frame_end": 11, "state": "missing"},
    ]

    correction = {**click(1, 6, 9, 9), "labels": [0]}
    assert (
        await client.post(prompts, params={"wait": 0}, json=correction, headers=headers)
    ).status_code == 202
    one = await client.get(f"/v1/videos/{video_id}/spans", params={"object_id": 1}, headers=headers)
    assert one.json()["items"] == [
        {"object_id": 1, "frame_start": 1, "frame_end": 5, "state": "stale"},
        {"object_id": 1, "frame_start": 7, "frame_end": 11, "state": "stale"},
    ]


async def test_spans_of_an_unknown_object_or_another_users_video_are_404(
    client: AsyncTestClient,
    headers: dict[str, str],
    other_headers: dict[str, str],
    settings: Settings,
) -> None:
    video_id = await video_with_object(client, headers, settings)
    missing = await client.get(
        f"/v1/videos/{video_id}/spans", params={"object_id": 9}, headers=headers
    )
    assert missing.status_code == 404
    theirs = await client.get(f"/v1/videos/{video_id}/spans", headers=other_headers)
    assert theirs.status_code == 404
