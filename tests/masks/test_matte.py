"""GET /v1/videos/{id}/masks/{frame_index}.png: an 8-bit matte at the source resolution."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from litestar.testing import AsyncTestClient
from PIL import Image

from roto.settings import Settings
from tests.masks.helpers import decoded
from tests.objects.fake_daemon import disc, fake_daemon
from tests.objects.helpers import HEIGHT, WIDTH, click, new_object, ready_video
from tests.videos.helpers import announce


def _pixels(content: bytes) -> tuple[str, tuple[int, int], np.ndarray]:
    image = Image.open(io.BytesIO(content))
    assert image.format == "PNG"
    return image.mode, image.size, np.asarray(image)


async def _two_objects_on_frame_4(
    client: AsyncTestClient, headers: dict[str, str], settings: Settings, sqs: Any, s3: Any
) -> tuple[str, dict[int, dict[str, Any]]]:
    """A video whose objects 1 and 2 have masks on frame 4 (object 3 has none)."""
    video_id = await ready_video(client, headers, settings)
    masks = {}
    for _ in range(3):
        await new_object(client, headers, video_id)
    async with fake_daemon(settings, sqs, s3):
        for object_id, (x, y) in {1: (20, 20), 2: (120, 70)}.items():
            made = await client.post(
                f"/v1/videos/{video_id}/prompts", json=click(object_id, 4, x, y), headers=headers
            )
            assert made.status_code == 200, made.text
            masks[object_id] = made.json()["mask"]
    return video_id, masks


async def test_one_objects_matte_is_its_mask_as_0_and_255(
    client: AsyncTestClient,
    headers: dict[str, str],
    settings: Settings,
    sqs_sync: Any,
    s3_sync: Any,
) -> None:
    video_id, masks = await _two_objects_on_frame_4(client, headers, settings, sqs_sync, s3_sync)

    response = await client.get(
        f"/v1/videos/{video_id}/masks/4.png", params={"object_id": 2}, headers=headers
    )

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    mode, size, pixels = _pixels(response.content)
    assert (mode, size, pixels.dtype.name) == ("L", (WIDTH, HEIGHT), "uint8")
    assert set(np.unique(pixels)) == {0, 255}
    assert np.array_equal(pixels == 255, decoded(masks[2]["rle"]))
    assert np.array_equal(pixels == 255, disc(HEIGHT, WIDTH, 120, 70))


async def test_without_object_id_the_matte_is_the_union_of_every_object(
    client: AsyncTestClient,
    headers: dict[str, str],
    settings: Settings,
    sqs_sync: Any,
    s3_sync: Any,
) -> None:
    video_id, masks = await _two_objects_on_frame_4(client, headers, settings, sqs_sync, s3_sync)

    response = await client.get(f"/v1/videos/{video_id}/masks/4.png", headers=headers)

    assert response.status_code == 200, response.text
    mode, size, pixels = _pixels(response.content)
    assert (mode, size) == ("L", (WIDTH, HEIGHT))
    union = decoded(masks[1]["rle"]) | decoded(masks[2]["rle"])
    assert np.array_equal(pixels == 255, union)
    assert np.array_equal(pixels == 0, ~union)


async def test_missing_mattes_are_404_with_a_clear_detail(
    client: AsyncTestClient,
    headers: dict[str, str],
    settings: Settings,
    sqs_sync: Any,
    s3_sync: Any,
) -> None:
    video_id, _ = await _two_objects_on_frame_4(client, headers, settings, sqs_sync, s3_sync)
    base = f"/v1/videos/{video_id}/masks"
    cases = [
        ("3.png", None, "no masks on frame 3"),
        ("4.png", 3, "no mask of object 3 on frame 4"),
        ("4.png", 9, "object 9 not found"),
        ("4.png", 0, "object 0 not found"),
        ("12.png", None, "frame 12 not found"),
        ("99999999999.png", 1, "no matte"),
        ("4.jpg", None, "no matte"),
        ("4", None, "no matte"),
        ("four.png", None, "no matte"),
        ("-1.png", None, "no matte"),
        (".png", None, "no matte"),
    ]
    failures = {}
    for name, object_id, detail in cases:
        params = {} if object_id is None else {"object_id": object_id}
        response = await client.get(f"{base}/{name}", params=params, headers=headers)
        if response.status_code != 404 or detail not in response.json()["detail"]:
            failures[f"{name} {params}"] = f"{response.status_code} {response.text}"
    assert not failures, failures


async def test_a_non_integer_object_id_is_400(
    client: AsyncTestClient, headers: dict[str, str], settings: Settings
) -> None:
    video_id = await ready_video(client, headers, settings)
    response = await client.get(
        f"/v1/videos/{video_id}/masks/0.png", params={"object_id": "one"}, headers=headers
    )
    assert response.status_code == 400
    assert "object_id" in response.json()["detail"]


async def test_matte_of_a_video_that_is_not_ready_is_409(
    client: AsyncTestClient, headers: dict[str, str]
) -> None:
    video_id = (await announce(client, headers, 100))["video"]["id"]
    response = await client.get(f"/v1/videos/{video_id}/masks/0.png", headers=headers)
    assert response.status_code == 409
