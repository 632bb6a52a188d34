"""Rate limits: 429 with Retry-After past the per-caller request limit, and sign-ins refused for
an email after too many wrong passwords (even with the right one) until the minute ends."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid

import asyncpg
import httpx
import pytest
from litestar.testing import AsyncTestClient

from roto.ratelimit import WINDOW_S
from roto.settings import Settings
from tests.factories import PASSWORD, signup


async def fresh_window(needed_s: float = 15.0) -> None:
    """Wait for the next counting window if this one ends within ``needed_s``, so that the
    requests of a test are all counted in one window."""
    left = WINDOW_S - time.time() % WINDOW_S
    if left < needed_s:
        await asyncio.sleep(left + 0.1)


@pytest.mark.parametrize("settings", [{"rate_limit_per_minute": 3}], indirect=True)
async def test_requests_past_the_limit_are_429_with_retry_after(client: AsyncTestClient) -> None:
    headers = await signup(client)
    await fresh_window()
    statuses = [(await client.get("/v1/videos", headers=headers)).status_code for _ in range(4)]
    limited = await client.get("/v1/me", headers=headers)
    other = await signup(client)

    assert statuses == [200, 200, 200, 429]
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert "rate limit" in limited.json()["detail"]
    assert (await client.get("/v1/videos", headers=other)).status_code == 200


@pytest.mark.parametrize("settings", [{"login_failures_per_minute": 2}], indirect=True)
async def test_wrong_passwords_lock_sign_in_for_that_email_for_the_minute(
    client: AsyncTestClient,
) -> None:
    email = f"guessed-{uuid.uuid4().hex[:8]}@example.com"
    await signup(client, email)
    await fresh_window()
    wrong = {"email": email, "password": "not-the-password"}
    first = [(await client.post("/v1/auth/login", json=wrong)).status_code for _ in range(2)]
    locked = await client.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
    other = await signup(client)
    other_email = (await client.get("/v1/me", headers=other)).json()["email"]
    unrelated = await client.post(
        "/v1/auth/login", json={"email": other_email, "password": PASSWORD}
    )

    assert first == [401, 401]
    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) >= 1
    assert unrelated.status_code == 200


@pytest.mark.parametrize("settings", [{"login_failures_per_minute": 3}], indirect=True)
async def test_concurrent_wrong_passwords_cannot_pass_the_limit(live: httpx.AsyncClient) -> None:
    email = f"raced-{uuid.uuid4().hex[:8]}@example.com"
    await signup(live, email)
    await fresh_window(30)
    wrong = {"email": email, "password": "not-the-password"}

    answers = await asyncio.gather(*(live.post("/v1/auth/login", json=wrong) for _ in range(12)))

    statuses = sorted(answer.status_code for answer in answers)
    # Each guess is counted before its password is checked: exactly the limit are checked.
    assert statuses == [401] * 3 + [429] * 9
    right = await live.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert right.status_code == 429


@pytest.mark.parametrize("settings", [{"login_failures_per_minute": 2}], indirect=True)
async def test_right_passwords_do_not_count_as_failures(client: AsyncTestClient) -> None:
    email = f"often-{uuid.uuid4().hex[:8]}@example.com"
    await signup(client, email)
    await fresh_window()
    right = {"email": email, "password": PASSWORD}
    statuses = [(await client.post("/v1/auth/login", json=right)).status_code for _ in range(4)]
    assert statuses == [200] * 4


@pytest.mark.parametrize(
    "settings",
    [{"auth_requests_per_address_per_minute": 3, "trusted_proxy_hops": 1}],
    indirect=True,
)
async def test_unauthenticated_auth_calls_are_limited_per_client_address(
    client: AsyncTestClient,
) -> None:
    await fresh_window()
    # One proxy in front: the last X-Forwarded-For entry is the address it saw; anything the
    # client wrote before it is not trusted.
    first = {"X-Forwarded-For": f"203.0.113.{uuid.uuid4().int % 250}"}
    spoofing = {"X-Forwarded-For": "198.51.100.7, " + first["X-Forwarded-For"]}
    other = {"X-Forwarded-For": "192.0.2.55"}

    def register() -> dict[str, str]:
        return {"email": f"a-{uuid.uuid4().hex[:10]}@example.com", "password": PASSWORD}

    made = await client.post("/v1/auth/register", json=register(), headers=first)
    tokens = made.json()
    wrong = {"email": tokens["user"]["email"], "password": "not-the-password"}
    login = await client.post("/v1/auth/login", json=wrong, headers=first)
    renewed = await client.post(
        "/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}, headers=spoofing
    )
    refused = await client.post("/v1/auth/register", json=register(), headers=first)
    elsewhere = await client.post("/v1/auth/register", json=register(), headers=other)

    assert [made.status_code, login.status_code, renewed.status_code] == [201, 401, 200]
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert "this address" in refused.json()["detail"]
    assert elsewhere.status_code == 201


def closed_port() -> int:
    """A port on which nothing listens: connections to it are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    "settings",
    [
        {
            "redis_url": f"redis://127.0.0.1:{closed_port()}/0",
            "redis_timeout_s": 0.5,
            "login_failures_per_minute": 2,
            "rate_limit_per_minute": 3,
        }
    ],
    indirect=True,
)
async def test_limits_hold_while_redis_is_down(client: AsyncTestClient) -> None:
    email = f"down-{uuid.uuid4().hex[:8]}@example.com"
    await fresh_window()
    headers = await signup(client, email)
    wrong = {"email": email, "password": "not-the-password"}
    guesses = [(await client.post("/v1/auth/login", json=wrong)).status_code for _ in range(3)]
    calls = [(await client.get("/v1/videos", headers=headers)).status_code for _ in range(4)]

    assert guesses == [401, 401, 429]
    assert calls == [200, 200, 200, 429]


@pytest.mark.parametrize("settings", [{"rate_limit_per_minute": 2}], indirect=True)
async def test_the_limit_counts_bearer_and_api_key_calls_and_a_gone_account_is_401(
    client: AsyncTestClient, settings: Settings
) -> None:
    """A bearer request is counted while its account is looked up: the count is the same as
    counting after, and a token whose account is gone is 401, not 429, past the limit."""
    headers = await signup(client)
    await fresh_window()
    created = (await client.post("/v1/api-keys", json={"name": "ci"}, headers=headers)).json()
    key = created["key"]
    # The key and the token name one user: one count between them.
    statuses = [
        (await client.get("/v1/videos", headers=headers)).status_code,
        (await client.get("/v1/videos", headers={"X-API-Key": key})).status_code,
        (await client.get("/v1/videos", headers={"X-API-Key": key})).status_code,
        (await client.get("/v1/videos", headers=headers)).status_code,
    ]
    assert statuses == [200, 429, 429, 429]  # the key-creating call counted too

    conn = await asyncpg.connect(settings.database_url)
    try:
        me = await client.get("/v1/me", headers=headers)  # still 429: the account exists
        assert me.status_code == 429
        user_id = await conn.fetchval(
            "SELECT user_id FROM api_keys WHERE id = $1", uuid.UUID(created["id"])
        )
        await conn.execute("DELETE FROM users WHERE id = $1", user_id)
    finally:
        await conn.close()
    gone = await client.get("/v1/videos", headers=headers)
    assert gone.status_code == 401 and "no longer exists" in gone.json()["detail"]
