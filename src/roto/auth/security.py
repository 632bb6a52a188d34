"""Credentials: argon2id passwords, HS256 access tokens, opaque refresh tokens, API keys."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import secrets
import time
import uuid

import anyio
import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from roto.errors import Unauthorized
from roto.settings import Settings

JWT_ALGORITHM = "HS256"
ACCESS_TOKEN_TYPE = "access"  # noqa: S105
API_KEY_PREFIX = "rk_"
# 32 random bytes: enough that guessing a token or key is hopeless.
TOKEN_BYTES = 32
# An HS256 key shorter than the hash (256 bits) can be brute-forced from one token.
MIN_JWT_SECRET_LENGTH = 32

# argon2-cffi's defaults are argon2id with RFC 9106's low-memory profile (64 MiB, t=3).
_hasher = PasswordHasher()
# Each hash holds 64 MiB for ~0.1 s: cap how many run at once so a burst of logins cannot
# exhaust memory or starve the threads that other handlers need.
_hashing_slots = anyio.CapacityLimiter(4)


class MissingJwtSecretError(RuntimeError):
    """Raised instead of signing or verifying with an empty or short key."""


def unauthorized(detail: str) -> Unauthorized:
    """A 401 that tells the client which scheme to use."""
    return Unauthorized(detail, headers={"WWW-Authenticate": "Bearer"})


def jwt_key(settings: Settings) -> str:
    """The HS256 key; refuses an empty or short one, which would make every token forgeable."""
    if not settings.jwt_secret:
        raise MissingJwtSecretError(
            "ROTO_JWT_SECRET is empty: set it to a long random string before serving auth"
        )
    if len(settings.jwt_secret) < MIN_JWT_SECRET_LENGTH:
        raise MissingJwtSecretError(
            f"ROTO_JWT_SECRET has {len(settings.jwt_secret)} characters: use at least "
            f"{MIN_JWT_SECRET_LENGTH} random ones (e.g. python -c 'import secrets; "
            "print(secrets.token_urlsafe(48))')"
        )
    return settings.jwt_secret


async def hash_password(password: str) -> str:
    """An argon2id hash of ``password``, computed off the event loop."""
    return await anyio.to_thread.run_sync(_hasher.hash, password, limiter=_hashing_slots)


async def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches; with no hash (unknown user) it still spends the same time."""
    return await anyio.to_thread.run_sync(_verify, password_hash, password, limiter=_hashing_slots)


def _verify(password_hash: str | None, password: str) -> bool:
    if password_hash is None:
        # Verifying against a throwaway hash makes an unknown email cost as much as a wrong
        # password, so response times do not reveal which emails are registered.
        with contextlib.suppress(VerificationError):
            _hasher.verify(_dummy_hash(), password)
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@functools.cache
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(TOKEN_BYTES))


def needs_rehash(password_hash: str) -> bool:
    """Whether the hash was made with weaker parameters than the current ones."""
    return _hasher.check_needs_rehash(password_hash)


def new_refresh_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


def digest(secret: str) -> bytes:
    """SHA-256 of a random token or key: what the database stores instead of the secret.

    A fast hash is enough here (unlike passwords): the secrets are 256-bit random values.
    """
    return hashlib.sha256(secret.encode()).digest()


def create_access_token(settings: Settings, user_id: uuid.UUID) -> str:
    """A signed JWT for ``user_id`` that expires after ``access_token_ttl_s``."""
    now = int(time.time())
    claims = {
        "sub": str(user_id),
        "iat": now,
        "exp": now + settings.access_token_ttl_s,
        "iss": settings.jwt_issuer,
        "typ": ACCESS_TOKEN_TYPE,
    }
    return jwt.encode(claims, jwt_key(settings), algorithm=JWT_ALGORITHM)


def decode_access_token(settings: Settings, token: str) -> uuid.UUID:
    """The user id in a valid, unexpired access token; 401 otherwise."""
    try:
        claims = jwt.decode(
            token,
            jwt_key(settings),
            algorithms=[JWT_ALGORITHM],
            issuer=settings.jwt_issuer,
            options={"require": ["sub", "exp", "iat", "iss"]},
        )
    except jwt.ExpiredSignatureError:
        raise unauthorized("access token expired; renew it with POST /v1/auth/refresh") from None
    except jwt.InvalidTokenError:
        raise unauthorized("invalid access token") from None
    if claims.get("typ") != ACCESS_TOKEN_TYPE:
        raise unauthorized("invalid access token: not an access token")
    try:
        return uuid.UUID(str(claims["sub"]))
    except ValueError:
        raise unauthorized("invalid access token: bad subject") from None
