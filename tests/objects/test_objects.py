"""Objects of a video: creation with ids that are never reused, listing, bad input, deletion."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from litestar.testing import AsyncTestClient

from roto.objects.rules import MAX_OBJECTS, PALETTE
from roto.settings import Settings
from tests.factories import signup
from tests.objects.helpers import fetch_value, new_object, ready_video
from tests.videos.helpers import announce, connect


def _names_field(response: Any, status: int, field: str) -> str | None:
    """What is wrong with ``response`` as a problem+json of ``status`` naming ``field``, if any."""
    is_problem = response.headers["content-type"].startswith("application/problem+json")
    if response.status_code != status or not is_problem or field not in response.json()["detail"]:
        return f"{response.status_code} {response.text}"
    return None


async def test_new_objects_get_ids_default_names_and_palette_colours(
    client: AsyncTestClient, headers: dict[str, str], settings: Settings
) -> None:
    video_id = await ready_video(client, headers, settings)
    first = await new_object(client, headers, video_id)
    second = await new_object(client, headers, video_id)

    assert (first["id"], first["name"], first["color"]) == (1, "Object 1", PALETTE[0])
    assert (second["id"], second["name"], second["color"]) == (2, "Object 2", PALETTE[1])
    assert first["created_at"].endswith("Z")
    assert set(first) == {"id", "name", "color", "category", "created_at"}


async def test_name_and_colour_are_kept_trimmed_and_lowercased(
    client: AsyncTestClient, headers: dict[str, str], settings: Settings
) -> None:
    video_id = await ready_video(client, headers, settings)
    created = await new_object(client, headers, video_id, name="  Hero car ", color="#A0B1C2")

    assert (created["name"], created["color"]) == ("Hero car", "#a0b1c2")


async def test_object_ids_are_never_reused_after_a_delete(
    client: AsyncTestClient, headers: dict[str, str], settings: Settings
) -> None:
    video_id = await ready_video(client, headers, settings)
    for _ in range(3):
        await new_object(client, headers, video_id)
    gone = await client.delete(f"/v1/videos/{video_id}/objects/3", headers=headers)
    assert gone.status_code == 204
    assert (await client.delete(f"/v1/videos/{video_id}/objects/2", headers=headers)).is_success

    fourth = await new_object(client, headers, video_id)
    listed = await client.get(f"/v1/videos/{video_id}/objects", headers=headers)

    assert fourth["id"] == 4
    assert [item["id"] for item in listed.json()["items"]] == [1, 4]


async def test_concurrent_creations_get_distinct_ids(
    live: httpx.AsyncClient, settings: Settings
) -> None:
    headers = await signup(live)  # type: ignore[arg-type]  # any httpx client will do
    video_id = await ready_video(live, headers, settings)
    answers = await asyncio.gather(
        *(live.post(f"/v1/videos/{video_id}/objects", json={}, headers=headers) for _ in range(8))
    )

    assert [a.status_code for a in answers] == [201] * 8
    assert sorted(a.json()["id"] for a in answers) == list(range(1, 9))


async def test_objects_list_pages_in_id_order(
    client: AsyncTestClient, headers: dict[str, str], settings: Settings
) -> None:
    video_id = await ready_video(client, headers, settings)
    for name in ("a", "b", "c"):
        await new_object(client, headers, video_id, name=name)
    path = f"/v1/videos/{video_id}/objects"

    first = (await client.get(path, params={"limit": 2}, headers=headers)).json()
    cursor = first["next_cursor"]
    second = (await client.get(path, params={"limit": 2, "cursor": cursor}, headers=headers)).json()

    assert [item["name"] for item in first["items"]] == ["a", "b"]
    assert [item["name"] for item in second["items"]] == ["c"]
    assert second["next_cursor"] is None


async def test_bad_list_parameters_are_400_naming_them(
    client: AsyncTestClient, headers: dict[str, str], settings: Settings
) -> None:
    video_id = await ready_video(client, headers, settings)
    path = f"/v1/videos/{video_id}/objects"
    failures = {}
    cases: list[tuple[dict[str, Any], str]] = [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": "x"}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": "b2JqZWN0Oi0x"}, "cursor"),  # "object:-1"
    ]
    for params, field in cases:
        response = await client.get(path, params=params, headers=headers)
        if problem := _names_field(response, 400, field):
            failures[repr(params)] = problem
    assert not failures, failures


OBJECT_CASES: list[tuple[Any, int, str]] = [
    ({"color": "red"}, 400, "color"),
    ({"color": "#12345g"}, 400, "color"),
    ({"color": "#1234567"}, 400, "color"),
    ({"color": 0xFFFFFF}, 400, "color"),
    ({"name": ""}, 400, "name"),
    ({"name": "n" * 101}, 400, "name"),
    ({"name": 7}, 400, "name"),
    ({"name": "   "}, 422, "name"),
    ({"name": "a\nb"}, 422, "name"),
    ({"shape": "round"}, 400, "shape"),
    ([], 400, "object"),
]


async def test_bad_object_bodies_are_4xx_naming_the_field(
    client: AsyncTestClient, headers: dict[str, str], settings: Settings
) -> None:
    video_id = await ready_video(client, headers, settings)
    failures = {}
    for body, status, field in OBJECT_CASES:
        response = await client.post(f"/v1/videos/{video_id}/objects", json=body, headers=headers)
        if problem := _names_field(response, status, field):
            failures[repr(body)[:60]] = problem
    assert not failures, failures
    listed = await client.get(f"/v1/videos/{video_id}/objects", headers=headers)
    assert listed.json()["items"] == []


async def test_objects_need_a_ready_video(
    client: AsyncTestClient, headers: dict[str, str], settings: Settings
) -> None:
    video_id = (await announce(client, headers, 100))["video"]["id"]
    response = await client.post(f"/v1/videos/{video_id}/objects", json={}, headers=headers)

    assert response.status_code == 409
    assert "awaiting_upload" in response.json()["detail"]
    next_id = await fetch_value(
        settings, "SELECT next_object_id FROM videos WHERE id = $1", uuid.UUID(video_id)
    )
    assert next_id == 1


async def test_a_video_holds_a_bounded_number_of_objects(
    client: AsyncTestClient, headers: dict[str, str], settings: Settings
) -> None:
    video_id = await ready_video(client, headers, settings)
    conn = await connect(settings)
    try:
        await conn.executemany(
            "INSERT INTO objects (video_id, object_id, name, color) "
            "VALUES ($1, $2, 'x', '#000000')",
            [(uuid.UUID(video_id), n) for n in range(1000, 1000 + MAX_OBJECTS)],
        )
    finally:
        await conn.close()

    response = await client.post(f"/v1/videos/{video_id}/objects", json={}, headers=headers)

    assert response.status_code == 409
    assert str(MAX_OBJECTS) in response.json()["detail"]


async def test_deleting_a_missing_object_is_404(
    client: AsyncTestClient, headers: dict[str, str], settings: Settings
) -> None:
    video_id = await ready_video(client, headers, settings)
    await new_object(client, headers, video_id)
    answers = {}
    for object_id in ("2", "0", "-1", str(2**40)):
        response = await client.delete(
            f"/v1/videos/{video_id}/objects/{object_id}", headers=headers
        )
        answers[object_id] = response.status_code
    assert set(answers.values()) == {404}, answers
    listed = await client.get(f"/v1/videos/{video_id}/objects", headers=headers)
    assert [item["id"] for item in listed.json()["items"]] == [1]


async def test_patch_renames_and_recolours_keeping_what_is_left_out(
    client: AsyncTestClient, headers: dict[str, str], settings: Settings
) -> None:
    video_id = await ready_video(client, headers, settings)
    created = await new_object(client, headers, video_id, name="Car", color="#112233")
    url = f"/v1/videos/{video_id}/objects/{created['id']}"

    renamed = await client.patch(url, json={"name": "  Hero car "}, headers=headers)
    recoloured = await client.patch(url, json={"color": "#A0B1C2"}, headers=headers)
    unchanged = await client.patch(url, json={}, headers=headers)

    assert renamed.status_code == 200, renamed.text
    assert (renamed.json()["name"], renamed.json()["color"]) == ("Hero car", "#112233")
    assert (recoloured.json()["name"], recoloured.json()["color"]) == ("Hero car", "#a0b1c2")
    assert unchanged.json() == recoloured.json()
    listed = await client.get(f"/v1/videos/{video_id}/objects", headers=headers)
    assert listed.json()["items"] == [recoloured.json()]


async def test_bad_patches_are_4xx_naming_the_field_and_change_nothing(
    client: AsyncTestClient, headers: dict[str, str], settings: Settings
) -> None:
    video_id = await ready_video(client, headers, settings)
    created = await new_object(client, headers, video_id, name="Car")
    url = f"/v1/videos/{video_id}/objects/{created['id']}"
    failures = {}
    for body, status, field in OBJECT_CASES:
        response = await client.patch(url, json=body, headers=headers)
        if problem := _names_field(response, status, field):
            failures[repr(body)[:60]] = problem
    assert not failures, failures
    for object_id in ("2", "0", str(2**40)):
        missing = await client.patch(
            f"/v1/videos/{video_id}/objects/{object_id}", json={"name": "x"}, headers=headers
        )
        assert missing.status_code == 404, (object_id, missing.text)
    listed = await client.get(f"/v1/videos/{video_id}/objects", headers=headers)
    assert listed.json()["items"] == [created]


async def test_another_users_object_cannot_be_patched(
    client: AsyncTestClient, headers: dict[str, str], settings: Settings
) -> None:
    video_id = await ready_video(client, headers, settings)
    created = await new_object(client, headers, video_id, name="Car")
    stranger = await signup(client)
    response = await client.patch(
        f"/v1/videos/{video_id}/objects/{created['id']}", json={"name": "Mine"}, headers=stranger
    )
    assert response.status_code == 404
    listed = await client.get(f"/v1/videos/{video_id}/objects", headers=headers)
    assert listed.json()["items"] == [created]


async def test_an_object_has_a_category_that_defaults_to_object_and_can_change(
    client: AsyncTestClient, headers: dict[str, str], settings: Settings
) -> None:
    video_id = await ready_video(client, headers, settings)
    plain = await new_object(client, headers, video_id)
    person = await new_object(client, headers, video_id, category="person")
    assert (plain["category"], person["category"]) == ("object", "person")
    url = f"/v1/videos/{video_id}/objects/{plain['id']}"
    changed = await client.patch(url, json={"category": " person "}, headers=headers)
    assert changed.status_code == 200 and changed.json()["category"] == "person"
    assert changed.json()["name"] == plain["name"]
    blank = await client.patch(url, json={"category": "  "}, headers=headers)
    assert blank.status_code == 422 and blank.json()["errors"][0]["key"] == "category"
    listed = await client.get(f"/v1/videos/{video_id}/objects", headers=headers)
    assert [o["category"] for o in listed.json()["items"]] == ["person", "person"]
