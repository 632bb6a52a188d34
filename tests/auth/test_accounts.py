"""Register, login and /v1/me over HTTP against a real database."""

from __future__ import annotations

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from roto.errors import PROBLEM_JSON
from roto.settings import Settings
from tests.factories import PASSWORD, signup


async def _register(client: AsyncTestClient, email: str, password: str = PASSWORD) -> dict:
    response = await client.post("/v1/auth/register", json={"email": email, "password": password})
    assert response.status_code == 201, response.text
    body: dict = response.json()
    return body


async def test_register_returns_tokens_for_the_new_user(
    client: AsyncTestClient, settings: Settings
) -> None:
    tokens = await _register(client, "ada@example.com")
    assert set(tokens) == {"access_token", "refresh_token", "token_type", "expires_in", "user"}
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == settings.access_token_ttl_s
    assert tokens["user"]["email"] == "ada@example.com"
    me = await client.get("/v1/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.status_code == 200, me.text
    assert me.json()["id"] == tokens["user"]["id"]


async def test_register_trims_the_email(client: AsyncTestClient) -> None:
    tokens = await _register(client, "  grace@example.com\t")
    assert tokens["user"]["email"] == "grace@example.com"


async def test_stored_password_hash_is_argon2id(
    client: AsyncTestClient, db: asyncpg.Connection
) -> None:
    await _register(client, "hash@example.com")
    stored = await db.fetchval("SELECT password_hash FROM users WHERE email = 'hash@example.com'")
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


async def test_duplicate_email_is_409_whatever_the_letter_case(client: AsyncTestClient) -> None:
    await _register(client, "Linus@Example.com")
    response = await client.post(
        "/v1/auth/register", json={"email": " linus@example.COM ", "password": PASSWORD}
    )
    assert response.status_code == 409
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert "email" in response.json()["detail"]


async def test_login_returns_tokens_with_any_letter_case(client: AsyncTestClient) -> None:
    registered = await _register(client, "Barbara@example.com")
    response = await client.post(
        "/v1/auth/login", json={"email": "barbara@EXAMPLE.com", "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    tokens = response.json()
    assert tokens["user"] == registered["user"]
    assert tokens["refresh_token"] != registered["refresh_token"]
    me = await client.get("/v1/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.status_code == 200


async def test_login_wrong_password_and_unknown_email_are_the_same_401(
    client: AsyncTestClient,
) -> None:
    await _register(client, "edsger@example.com")
    wrong_password = await client.post(
        "/v1/auth/login", json={"email": "edsger@example.com", "password": PASSWORD + "x"}
    )
    unknown_email = await client.post(
        "/v1/auth/login", json={"email": "nobody@example.com", "password": PASSWORD}
    )
    assert wrong_password.status_code == unknown_email.status_code == 401
    assert wrong_password.headers["content-type"].startswith(PROBLEM_JSON)
    assert wrong_password.json()["detail"] == unknown_email.json()["detail"]


async def test_me_describes_the_account_and_its_quota(client: AsyncTestClient) -> None:
    headers = await signup(client, "me@example.com")
    response = await client.get("/v1/me", headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"id", "email", "created_at", "plan", "usage"}
    assert body["email"] == "me@example.com"
    assert body["plan"] == "free"
    assert body["created_at"].endswith("Z")
    assert body["usage"] == {"frames_this_month": 0, "frames_quota": 20_000}


async def test_me_without_credentials_is_401(client: AsyncTestClient) -> None:
    response = await client.get("/v1/me")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert "Authorization" in response.json()["detail"]


SHORT = "x" * 9
BAD_REGISTER_BODIES = [
    pytest.param(b'{"email": "a@example.com", "password": ', None, id="malformed-json"),
    pytest.param(b"", None, id="empty-body"),
    pytest.param(b"[]", None, id="array-body"),
    pytest.param(b'{"password": "0123456789abc"}', "email", id="missing-email"),
    pytest.param(b'{"email": "a@example.com"}', "password", id="missing-password"),
    pytest.param(
        b'{"email": "a@example.com", "password": "0123456789abc", "admin": true}',
        "admin",
        id="unknown-field",
    ),
    pytest.param(b'{"email": 42, "password": "0123456789abc"}', "email", id="email-not-string"),
    pytest.param(b'{"email": "a@example.com", "password": null}', "password", id="password-null"),
    pytest.param(
        b'{"email": "not-an-email", "password": "0123456789abc"}', "email", id="bad-email"
    ),
    pytest.param(b'{"email": "a@b", "password": "0123456789abc"}', "email", id="email-no-tld"),
    pytest.param(b'{"email": "   ", "password": "0123456789abc"}', "email", id="blank-email"),
    pytest.param(
        b'{"email": "a@example.com", "password": "' + SHORT.encode() + b'"}',
        "password",
        id="short-password",
    ),
    pytest.param(
        b'{"email": "a@example.com", "password": "' + b"p" * 257 + b'"}',
        "password",
        id="huge-password",
    ),
]


@pytest.mark.parametrize(("body", "field"), BAD_REGISTER_BODIES)
async def test_bad_register_input_is_400_problem_naming_the_field(
    client: AsyncTestClient, body: bytes, field: str | None
) -> None:
    response = await client.post(
        "/v1/auth/register", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    problem = response.json()
    assert problem["status"] == 400
    if field is not None:
        assert field in problem["detail"]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/auth/login", {"email": "a@example.com"}, "password"),
        ("/v1/auth/login", {"email": "a@example.com", "password": 1234567890}, "password"),
        ("/v1/auth/login", {"email": "a@example.com", "password": "p" * 300}, "password"),
        ("/v1/auth/login", {"email": "a@example.com", "password": "x" * 12, "x": 1}, "x"),
        ("/v1/auth/refresh", {"refresh_token": ["a"]}, "refresh_token"),
        ("/v1/auth/refresh", {"refresh_token": "a", "user": "b"}, "user"),
    ],
)
async def test_bad_login_and_refresh_input_is_400_naming_the_field(
    client: AsyncTestClient, path: str, body: dict, field: str
) -> None:
    response = await client.post(path, json=body)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert field in response.json()["detail"]


async def test_a_nul_character_in_any_body_string_is_400_naming_the_field(
    client: AsyncTestClient,
) -> None:
    # PostgreSQL's text cannot hold one: these were 500s (login's email, an API key's name).
    headers = await signup(client)
    answers = {
        "email": await client.post(
            "/v1/auth/login", json={"email": "a\u0000@example.com", "password": "x"}
        ),
        "name": await client.post("/v1/api-keys", json={"name": "ci\u0000"}, headers=headers),
    }
    for field, answer in answers.items():
        assert answer.status_code == 400, answer.text
        assert answer.json()["errors"][0]["key"] == field
        assert "NUL" in answer.json()["detail"]
