"""Access tokens on protected endpoints, and refresh-token rotation with reuse detection."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import asyncpg
import jwt
import pytest
from litestar.testing import AsyncTestClient

from roto.errors import PROBLEM_JSON
from roto.settings import Settings
from tests.factories import PASSWORD


async def _register(client: AsyncTestClient) -> dict:
    email = f"user-{uuid.uuid4().hex[:10]}@example.com"
    response = await client.post("/v1/auth/register", json={"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.text
    body: dict = response.json()
    return body


async def _refresh(client: AsyncTestClient, token: str) -> tuple[int, dict]:
    response = await client.post("/v1/auth/refresh", json={"refresh_token": token})
    return response.status_code, response.json()


async def _me_status(client: AsyncTestClient, access_token: str) -> tuple[int, dict]:
    response = await client.get("/v1/me", headers={"Authorization": f"Bearer {access_token}"})
    if response.status_code == 401:
        assert response.headers["content-type"].startswith(PROBLEM_JSON)
    return response.status_code, response.json()


async def test_refresh_issues_new_tokens_and_rejects_the_spent_one(
    client: AsyncTestClient,
) -> None:
    first = await _register(client)
    status, second = await _refresh(client, first["refresh_token"])
    assert status == 200, second
    assert second["refresh_token"] != first["refresh_token"]
    assert second["user"] == first["user"]
    assert (await _me_status(client, second["access_token"]))[0] == 200

    status, problem = await _refresh(client, first["refresh_token"])
    assert status == 401
    assert "already used" in problem["detail"]


async def test_reusing_a_refresh_token_revokes_its_whole_family(client: AsyncTestClient) -> None:
    first = await _register(client)
    _, second = await _refresh(client, first["refresh_token"])
    assert (await _refresh(client, first["refresh_token"]))[0] == 401
    # The thief's replay also shuts out whoever holds the newest token of the family.
    status, problem = await _refresh(client, second["refresh_token"])
    assert status == 401
    assert "revoked" in problem["detail"]


async def test_reuse_leaves_other_sessions_alone(client: AsyncTestClient) -> None:
    first = await _register(client)
    login = await client.post(
        "/v1/auth/login", json={"email": first["user"]["email"], "password": PASSWORD}
    )
    other_session = login.json()["refresh_token"]
    await _refresh(client, first["refresh_token"])
    await _refresh(client, first["refresh_token"])
    assert (await _refresh(client, other_session))[0] == 200


async def test_expired_refresh_token_is_401(
    client: AsyncTestClient, db: asyncpg.Connection
) -> None:
    tokens = await _register(client)
    await db.execute("UPDATE refresh_tokens SET expires_at = now() - interval '1 second'")
    status, problem = await _refresh(client, tokens["refresh_token"])
    assert status == 401
    assert "expired" in problem["detail"]


async def test_unknown_refresh_token_is_401(client: AsyncTestClient) -> None:
    tokens = await _register(client)
    status, _ = await _refresh(client, tokens["refresh_token"] + "x")
    assert status == 401


async def test_refresh_tokens_are_stored_only_as_hashes(
    client: AsyncTestClient, db: asyncpg.Connection
) -> None:
    tokens = await _register(client)
    stored = await db.fetch("SELECT token_hash FROM refresh_tokens")
    assert len(stored) == 1
    assert tokens["refresh_token"].encode() not in bytes(stored[0]["token_hash"])


@pytest.mark.parametrize("settings", [{"access_token_ttl_s": 1}], indirect=True)
async def test_access_token_stops_working_when_it_expires(client: AsyncTestClient) -> None:
    tokens = await _register(client)
    assert tokens["expires_in"] == 1
    await asyncio.sleep(2.1)
    status, problem = await _me_status(client, tokens["access_token"])
    assert status == 401
    assert "expired" in problem["detail"]


async def test_access_token_signed_with_another_key_is_401(
    client: AsyncTestClient, settings: Settings
) -> None:
    tokens = await _register(client)
    now = int(time.time())
    forged = jwt.encode(
        {
            "sub": tokens["user"]["id"],
            "iat": now,
            "exp": now + 60,
            "iss": settings.jwt_issuer,
            "typ": "access",
        },
        "not-the-server-secret-but-long-enough",
        algorithm="HS256",
    )
    assert (await _me_status(client, forged))[0] == 401


async def test_tampered_access_token_is_401(client: AsyncTestClient) -> None:
    tokens = await _register(client)
    header, payload, signature = tokens["access_token"].split(".")
    # Flip one character of the signature: the claims still parse, the signature must not.
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    assert (await _me_status(client, f"{header}.{payload}.{flipped}"))[0] == 401
    assert (await _me_status(client, f"{header}.{payload}."))[0] == 401


async def test_refresh_token_is_not_an_access_token(client: AsyncTestClient) -> None:
    tokens = await _register(client)
    assert (await _me_status(client, tokens["refresh_token"]))[0] == 401


@pytest.mark.parametrize(
    "authorization",
    ["Basic dXNlcjpwYXNz", "Bearer", "Bearer    ", "Token abc", "bearer not-a-jwt"],
)
async def test_malformed_authorization_header_is_401(
    client: AsyncTestClient, authorization: str
) -> None:
    response = await client.get("/v1/me", headers={"Authorization": authorization})
    assert response.status_code == 401
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert response.headers["www-authenticate"] == "Bearer"


async def test_token_of_a_deleted_user_is_401(
    client: AsyncTestClient, db: asyncpg.Connection
) -> None:
    tokens = await _register(client)
    await db.execute("DELETE FROM users WHERE id = $1", uuid.UUID(tokens["user"]["id"]))
    status, problem = await _me_status(client, tokens["access_token"])
    assert status == 401
    assert "no longer exists" in problem["detail"]
    assert (await _refresh(client, tokens["refresh_token"]))[0] == 401


def refresh_cookie_of(response: Any) -> dict[str, str]:
    """The roto_refresh Set-Cookie of an answer, as attribute -> value (flags map to "")."""
    for header in response.headers.get_list("set-cookie"):
        name_value, *attributes = [part.strip() for part in header.split(";")]
        name, _, value = name_value.partition("=")
        if name == "roto_refresh":
            parsed = {"value": value.strip('"')}
            for attribute in attributes:
                key, _, val = attribute.partition("=")
                parsed[key.lower()] = val
            return parsed
    raise AssertionError(f"no roto_refresh cookie in {response.headers}")


async def test_a_browser_keeps_its_refresh_token_in_an_httponly_cookie(
    client: AsyncTestClient,
) -> None:
    email = f"cookie-{uuid.uuid4().hex[:8]}@example.com"
    made = await client.post("/v1/auth/register", json={"email": email, "password": PASSWORD})
    cookie = refresh_cookie_of(made)
    assert cookie["value"] == made.json()["refresh_token"]
    assert {"httponly", "secure"} <= set(cookie)
    assert (cookie["samesite"].lower(), cookie["path"]) == ("strict", "/v1/auth")

    # The browser's refresh: an empty body, the cookie it holds.
    renewed = await client.post(
        "/v1/auth/refresh", json={}, headers={"Cookie": f"roto_refresh={cookie['value']}"}
    )
    assert renewed.status_code == 200, renewed.text
    rotated = refresh_cookie_of(renewed)
    assert rotated["value"] == renewed.json()["refresh_token"] != cookie["value"]
    # {} without the cookie has nothing to present: 401, naming what to send.
    bare = await client.post("/v1/auth/refresh", json={})
    assert bare.status_code == 401 and "refresh_token" in bare.json()["detail"]

    out = await client.post(
        "/v1/auth/logout", json={}, headers={"Cookie": f"roto_refresh={rotated['value']}"}
    )
    assert out.status_code == 204
    assert refresh_cookie_of(out)["max-age"] == "0"
    assert (await _refresh(client, rotated["value"]))[0] == 401  # the sign-in is over
