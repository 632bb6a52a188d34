"""Rate limits: 429 with Retry-After past the per-caller request limit, and sign-ins refused for
an email after too many wrong passwords (even with the right one) until the minute ends."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from litestar.testing import AsyncTestClient

from roto.ratelimit import WINDOW_S
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
