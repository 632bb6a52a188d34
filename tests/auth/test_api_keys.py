"""API keys: created once, listed without the secret, usable as X-API-Key, revocable."""

from __future__ import annotations

import hashlib
import uuid

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from roto.errors import PROBLEM_JSON
from tests.factories import signup

#: An id no key has (fixed, so that every test runner collects the same test ids).
UNKNOWN_KEY_ID = uuid.UUID("0b9a1c2e-4d5f-4a6b-8c7d-9e0f1a2b3c4d")


async def _create_key(client: AsyncTestClient, headers: dict[str, str], name: str) -> dict:
    response = await client.post("/v1/api-keys", json={"name": name}, headers=headers)
    assert response.status_code == 201, response.text
    body: dict = response.json()
    return body


async def test_created_key_is_shown_once_and_listed_without_it(client: AsyncTestClient) -> None:
    headers = await signup(client)
    created = await _create_key(client, headers, " render farm ")
    assert set(created) == {"id", "name", "key", "created_at"}
    assert created["name"] == "render farm"
    assert created["key"].startswith("rk_")
    assert len(created["key"]) >= len("rk_") + 43

    listed = await client.get("/v1/api-keys", headers=headers)
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert body["next_cursor"] is None
    assert [item["id"] for item in body["items"]] == [created["id"]]
    assert "key" not in body["items"][0]
    assert created["key"] not in listed.text


async def test_keys_are_stored_as_sha256_only(
    client: AsyncTestClient, db: asyncpg.Connection
) -> None:
    headers = await signup(client)
    created = await _create_key(client, headers, "ci")
    stored = await db.fetchval(
        "SELECT key_hash FROM api_keys WHERE id = $1", uuid.UUID(created["id"])
    )
    assert bytes(stored) == hashlib.sha256(created["key"].encode()).digest()


async def test_api_key_authenticates_and_records_its_use(client: AsyncTestClient) -> None:
    headers = await signup(client, f"key-{uuid.uuid4().hex[:8]}@example.com")
    created = await _create_key(client, headers, "ci")
    me_by_token = (await client.get("/v1/me", headers=headers)).json()

    by_key = await client.get("/v1/me", headers={"X-API-Key": created["key"]})
    assert by_key.status_code == 200, by_key.text
    assert by_key.json() == me_by_token

    listed = (await client.get("/v1/api-keys", headers=headers)).json()
    assert listed["items"][0]["last_used_at"] is not None


async def test_deleted_api_key_stops_working(client: AsyncTestClient) -> None:
    headers = await signup(client)
    created = await _create_key(client, headers, "temporary")
    response = await client.delete(f"/v1/api-keys/{created['id']}", headers=headers)
    assert response.status_code == 204
    after = await client.get("/v1/me", headers={"X-API-Key": created["key"]})
    assert after.status_code == 401
    assert after.headers["content-type"].startswith(PROBLEM_JSON)
    listed = (await client.get("/v1/api-keys", headers=headers)).json()
    assert listed["items"] == []


async def test_deleting_another_users_key_is_404_and_leaves_it_working(
    client: AsyncTestClient,
) -> None:
    owner = await signup(client)
    stranger = await signup(client)
    created = await _create_key(client, owner, "owner's")
    response = await client.delete(f"/v1/api-keys/{created['id']}", headers=stranger)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert (await client.get("/v1/me", headers={"X-API-Key": created["key"]})).status_code == 200
    assert (await client.get("/v1/api-keys", headers=stranger)).json()["items"] == []


@pytest.mark.parametrize("key_id", ["not-a-uuid", str(UNKNOWN_KEY_ID)])
async def test_deleting_an_unknown_key_is_404(client: AsyncTestClient, key_id: str) -> None:
    headers = await signup(client)
    response = await client.delete(f"/v1/api-keys/{key_id}", headers=headers)
    assert response.status_code == 404


@pytest.mark.parametrize("key", ["rk_" + "A" * 43, "not-even-prefixed", ""])
async def test_unknown_api_key_is_401(client: AsyncTestClient, key: str) -> None:
    response = await client.get("/v1/me", headers={"X-API-Key": key})
    assert response.status_code == 401
    assert response.headers["content-type"].startswith(PROBLEM_JSON)


async def test_api_keys_page_through_with_a_cursor(client: AsyncTestClient) -> None:
    headers = await signup(client)
    created = [(await _create_key(client, headers, f"key {i}"))["id"] for i in range(3)]

    first = (await client.get("/v1/api-keys?limit=2", headers=headers)).json()
    assert len(first["items"]) == 2
    assert first["next_cursor"]
    second = await client.get(
        "/v1/api-keys", params={"limit": 2, "cursor": first["next_cursor"]}, headers=headers
    )
    assert second.status_code == 200, second.text
    rest = second.json()
    assert rest["next_cursor"] is None
    seen = [item["id"] for item in first["items"] + rest["items"]]
    assert seen == list(reversed(created))


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=lots", "limit"),
        ("cursor=%%%", "cursor"),
    ],
)
async def test_bad_list_parameters_are_400_naming_them(
    client: AsyncTestClient, query: str, field: str
) -> None:
    headers = await signup(client)
    response = await client.get(f"/v1/api-keys?{query}", headers=headers)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert field in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": 7}, "name"),
        ({"name": "n" * 101}, "name"),
        ({"name": "ok", "scopes": ["all"]}, "scopes"),
    ],
)
async def test_bad_api_key_input_is_400_naming_the_field(
    client: AsyncTestClient, body: dict, field: str
) -> None:
    headers = await signup(client)
    response = await client.post("/v1/api-keys", json=body, headers=headers)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert field in response.json()["detail"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/api-keys"),
        ("GET", "/v1/api-keys"),
        ("DELETE", f"/v1/api-keys/{UNKNOWN_KEY_ID}"),
    ],
)
async def test_api_key_endpoints_require_auth(
    client: AsyncTestClient, method: str, path: str
) -> None:
    response = await client.request(method, path, json={"name": "x"} if method == "POST" else None)
    assert response.status_code == 401


async def test_an_api_key_cannot_create_list_or_delete_api_keys(client: AsyncTestClient) -> None:
    headers = await signup(client)
    created = await _create_key(client, headers, "ci")
    by_key = {"X-API-Key": created["key"]}

    answers = [
        await client.post("/v1/api-keys", json={"name": "minted by a key"}, headers=by_key),
        await client.get("/v1/api-keys", headers=by_key),
        await client.delete(f"/v1/api-keys/{created['id']}", headers=by_key),
    ]

    assert [a.status_code for a in answers] == [403, 403, 403]
    for answer in answers:
        assert answer.headers["content-type"].startswith(PROBLEM_JSON)
        assert answer.json()["errors"][0]["key"] == "X-API-Key"
    listed = (await client.get("/v1/api-keys", headers=headers)).json()["items"]
    assert [item["name"] for item in listed] == ["ci"]  # nothing minted, nothing revoked
    # The key still acts for its user everywhere else.
    assert (await client.get("/v1/videos", headers=by_key)).status_code == 200
