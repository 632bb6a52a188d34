"""Unit tests for credentials: hashing, token signing and verification, email syntax."""

from __future__ import annotations

import hashlib
import time
import uuid

import jwt
import pytest

from roto.app import create_app
from roto.auth import security
from roto.auth.service import normalise_email
from roto.errors import BadRequest, Unauthorized
from roto.settings import load_settings

SETTINGS = load_settings({}, jwt_secret="unit-test-secret-0123456789abcdef", access_token_ttl_s=60)


def _sign(claims: dict[str, object], secret: str = SETTINGS.jwt_secret) -> str:
    return jwt.encode(claims, secret, algorithm="HS256")


def _claims(**overrides: object) -> dict[str, object]:
    now = int(time.time())
    claims: dict[str, object] = {
        "sub": str(uuid.uuid4()),
        "iat": now,
        "exp": now + 60,
        "iss": SETTINGS.jwt_issuer,
        "typ": "access",
    }
    claims.update(overrides)
    return claims


async def test_password_hash_is_argon2id_and_verifies() -> None:
    hashed = await security.hash_password("correct horse battery")
    assert hashed.startswith("$argon2id$")
    assert await security.verify_password(hashed, "correct horse battery")


async def test_wrong_password_does_not_verify() -> None:
    hashed = await security.hash_password("correct horse battery")
    assert not await security.verify_password(hashed, "correct horse batterY")


async def test_missing_hash_never_verifies() -> None:
    assert not await security.verify_password(None, "anything at all")


async def test_corrupt_hash_does_not_verify() -> None:
    assert not await security.verify_password("not-a-hash", "correct horse battery")


def test_access_token_carries_user_issuer_type_and_ttl() -> None:
    user_id = uuid.uuid4()
    token = security.create_access_token(SETTINGS, user_id)
    claims = jwt.decode(token, SETTINGS.jwt_secret, algorithms=["HS256"], issuer="megaton-roto")
    assert claims["sub"] == str(user_id)
    assert claims["typ"] == "access"
    assert claims["exp"] - claims["iat"] == 60
    assert security.decode_access_token(SETTINGS, token) == user_id


def test_tampered_token_is_unauthorized() -> None:
    token = security.create_access_token(SETTINGS, uuid.uuid4())
    header, payload, signature = token.split(".")
    forged_payload = jwt.utils.base64url_encode(
        jwt.utils.base64url_decode(payload).replace(b'"access"', b'"access" ')
    ).decode()
    with pytest.raises(Unauthorized):
        security.decode_access_token(SETTINGS, f"{header}.{forged_payload}.{signature}")


OTHER_SECRET = "another-secret-0123456789abcdef!"


@pytest.mark.parametrize(
    ("overrides", "secret", "detail"),
    [
        ({}, OTHER_SECRET, "invalid access token"),
        ({"exp": -5}, SETTINGS.jwt_secret, "expired"),
        ({"iss": "someone-else"}, SETTINGS.jwt_secret, "invalid access token"),
        ({"typ": "refresh"}, SETTINGS.jwt_secret, "not an access token"),
        ({"exp": None}, SETTINGS.jwt_secret, "invalid access token"),
        ({"sub": "not-a-uuid"}, SETTINGS.jwt_secret, "bad subject"),
    ],
    ids=["other-secret", "expired", "other-issuer", "wrong-type", "no-exp", "bad-sub"],
)
def test_bad_access_tokens_are_unauthorized(
    overrides: dict[str, object], secret: str, detail: str
) -> None:
    claims = _claims()
    for name, value in overrides.items():
        if value is None:
            del claims[name]
        elif name == "exp":
            claims[name] = int(time.time()) + int(str(value))
        else:
            claims[name] = value
    with pytest.raises(Unauthorized) as caught:
        security.decode_access_token(SETTINGS, _sign(claims, secret))
    assert detail in caught.value.detail


def test_garbage_token_is_unauthorized() -> None:
    with pytest.raises(Unauthorized, match="invalid access token"):
        security.decode_access_token(SETTINGS, "not.a.jwt")


def test_unsigned_token_is_unauthorized() -> None:
    token = jwt.encode(_claims(), key=None, algorithm="none")
    with pytest.raises(Unauthorized):
        security.decode_access_token(SETTINGS, token)


def test_empty_jwt_secret_refuses_to_sign_or_verify() -> None:
    no_secret = load_settings({}, jwt_secret="")
    with pytest.raises(security.MissingJwtSecretError, match="ROTO_JWT_SECRET"):
        security.create_access_token(no_secret, uuid.uuid4())
    with pytest.raises(security.MissingJwtSecretError):
        security.decode_access_token(no_secret, _sign(_claims()))


def test_a_short_jwt_secret_refuses_to_start_the_api() -> None:
    short = load_settings({}, jwt_secret="s" * 31)
    with pytest.raises(security.MissingJwtSecretError, match="31 characters: use at least 32"):
        create_app(short)
    with pytest.raises(security.MissingJwtSecretError):
        security.create_access_token(short, uuid.uuid4())
    create_app(load_settings({}, jwt_secret="s" * 32, log_json=False, log_level="WARNING"))


def test_api_keys_are_prefixed_random_and_distinct() -> None:
    keys = {security.new_api_key() for _ in range(100)}
    assert len(keys) == 100
    for key in keys:
        assert key.startswith("rk_")
        # 32 random bytes in unpadded urlsafe base64 are 43 characters.
        assert len(key) == len("rk_") + 43


def test_digest_is_sha256_of_the_secret() -> None:
    assert security.digest("rk_abc") == hashlib.sha256(b"rk_abc").digest()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ada@example.com", "ada@example.com"),
        ("  Ada.Lovelace+roto@Mail.Example.co.uk \n", "Ada.Lovelace+roto@Mail.Example.co.uk"),
    ],
)
def test_valid_emails_are_trimmed(raw: str, expected: str) -> None:
    assert normalise_email(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "plainaddress",
        "@example.com",
        "ada@",
        "ada@localhost",
        "ada@@example.com",
        "ada lovelace@example.com",
        "ada@exa mple.com",
        ".ada@example.com",
        "ada..l@example.com",
        "ada@-example.com",
        "ada@example.c",
        "a" * 250 + "@example.com",
    ],
)
def test_invalid_emails_are_400_naming_email(raw: str) -> None:
    with pytest.raises(BadRequest) as caught:
        normalise_email(raw)
    assert caught.value.detail.startswith("email:")
