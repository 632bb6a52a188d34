"""SQL for users, refresh tokens and API keys."""

# Constant names mention tokens and passwords; none of them holds a secret.
# ruff: noqa: S105

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg
import msgspec

from roto.auth.schemas import CurrentUser

# The unique index on lower(email): its violation means "email taken".
USERS_EMAIL_KEY = "users_email_key"


class UserRow(msgspec.Struct):
    id: uuid.UUID
    email: str
    password_hash: str
    plan: str
    created_at: datetime


class RefreshTokenRow(msgspec.Struct):
    """A refresh token with its owner's email, so a rotation needs no second query."""

    id: uuid.UUID
    user_id: uuid.UUID
    family_id: uuid.UUID
    expires_at: datetime
    used_at: datetime | None
    revoked_at: datetime | None
    email: str


class ApiKeyRow(msgspec.Struct):
    id: uuid.UUID
    user_id: uuid.UUID
    name: str
    created_at: datetime
    last_used_at: datetime | None


INSERT_USER = """
INSERT INTO users (id, email, password_hash) VALUES ($1, $2, $3)
RETURNING id, email, password_hash, plan, created_at
"""
# lower(email) matches the unique index, so lookups are case-insensitive and indexed.
SELECT_USER_BY_EMAIL = (
    "SELECT id, email, password_hash, plan, created_at FROM users WHERE lower(email) = lower($1)"
)
SELECT_USER = "SELECT id, email, password_hash, plan, created_at FROM users WHERE id = $1"
SELECT_IDENTITY = "SELECT id, email FROM users WHERE id = $1"
UPDATE_PASSWORD_HASH = "UPDATE users SET password_hash = $2 WHERE id = $1"

INSERT_REFRESH_TOKEN = """
INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, expires_at)
VALUES ($1, $2, $3, $4, $5)
"""
LOCK_REFRESH_TOKEN = """
SELECT t.id, t.user_id, t.family_id, t.expires_at, t.used_at, t.revoked_at, u.email
FROM refresh_tokens t JOIN users u ON u.id = t.user_id
WHERE t.token_hash = $1
FOR UPDATE OF t
"""
MARK_REFRESH_TOKEN_USED = "UPDATE refresh_tokens SET used_at = now() WHERE id = $1"
REVOKE_REFRESH_FAMILY = """
UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL
"""

INSERT_API_KEY = """
INSERT INTO api_keys (id, user_id, name, key_hash) VALUES ($1, $2, $3, $4)
RETURNING id, user_id, name, created_at, last_used_at
"""
LIST_API_KEYS = """
SELECT id, user_id, name, created_at, last_used_at FROM api_keys
WHERE user_id = $1
  AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3::uuid))
ORDER BY created_at DESC, id DESC
LIMIT $4
"""
DELETE_API_KEY = "DELETE FROM api_keys WHERE id = $1 AND user_id = $2 RETURNING id"
# One round trip per API-key request. last_used_at is written at most once a minute per key,
# so a busy key does not turn every read into a row update.
AUTHENTICATE_API_KEY = """
WITH key AS (
    SELECT id, user_id, last_used_at FROM api_keys WHERE key_hash = $1
), touched AS (
    UPDATE api_keys SET last_used_at = now()
    FROM key
    WHERE api_keys.id = key.id
      AND (key.last_used_at IS NULL OR key.last_used_at < now() - interval '1 minute')
)
SELECT u.id, u.email, key.id AS api_key_id FROM key JOIN users u ON u.id = key.user_id
"""


async def insert_user(
    conn: asyncpg.Connection, user_id: uuid.UUID, email: str, password_hash: str
) -> UserRow:
    """Insert a user; raises ``asyncpg.UniqueViolationError`` when the email is taken."""
    record = await conn.fetchrow(INSERT_USER, user_id, email, password_hash)
    return msgspec.convert(dict(record), UserRow)


async def get_user_by_email(conn: asyncpg.Connection, email: str) -> UserRow | None:
    record = await conn.fetchrow(SELECT_USER_BY_EMAIL, email)
    return None if record is None else msgspec.convert(dict(record), UserRow)


async def get_user(conn: asyncpg.Connection, user_id: uuid.UUID) -> UserRow | None:
    record = await conn.fetchrow(SELECT_USER, user_id)
    return None if record is None else msgspec.convert(dict(record), UserRow)


async def get_identity(conn: asyncpg.Connection, user_id: uuid.UUID) -> CurrentUser | None:
    record = await conn.fetchrow(SELECT_IDENTITY, user_id)
    return None if record is None else msgspec.convert(dict(record), CurrentUser)


async def update_password_hash(
    conn: asyncpg.Connection, user_id: uuid.UUID, password_hash: str
) -> None:
    await conn.execute(UPDATE_PASSWORD_HASH, user_id, password_hash)


async def insert_refresh_token(
    conn: asyncpg.Connection,
    *,
    user_id: uuid.UUID,
    family_id: uuid.UUID,
    token_hash: bytes,
    expires_at: datetime,
) -> None:
    await conn.execute(
        INSERT_REFRESH_TOKEN, uuid.uuid4(), user_id, family_id, token_hash, expires_at
    )


async def lock_refresh_token(conn: asyncpg.Connection, token_hash: bytes) -> RefreshTokenRow | None:
    """The token row, locked until the transaction ends, so one token rotates only once."""
    record = await conn.fetchrow(LOCK_REFRESH_TOKEN, token_hash)
    return None if record is None else msgspec.convert(dict(record), RefreshTokenRow)


async def mark_refresh_token_used(conn: asyncpg.Connection, token_id: uuid.UUID) -> None:
    await conn.execute(MARK_REFRESH_TOKEN_USED, token_id)


async def revoke_refresh_family(conn: asyncpg.Connection, family_id: uuid.UUID) -> None:
    await conn.execute(REVOKE_REFRESH_FAMILY, family_id)


async def insert_api_key(
    conn: asyncpg.Connection, *, user_id: uuid.UUID, name: str, key_hash: bytes
) -> ApiKeyRow:
    record = await conn.fetchrow(INSERT_API_KEY, uuid.uuid4(), user_id, name, key_hash)
    return msgspec.convert(dict(record), ApiKeyRow)


async def list_api_keys(
    conn: asyncpg.Connection,
    user_id: uuid.UUID,
    *,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[ApiKeyRow]:
    stamp, last_id = after if after else (None, None)
    records = await conn.fetch(LIST_API_KEYS, user_id, stamp, last_id, limit)
    return [msgspec.convert(dict(r), ApiKeyRow) for r in records]


async def delete_api_key(conn: asyncpg.Connection, key_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    """Delete the user's key; False when no such key belongs to this user."""
    return await conn.fetchval(DELETE_API_KEY, key_id, user_id) is not None


async def authenticate_api_key(conn: asyncpg.Connection, key_hash: bytes) -> CurrentUser | None:
    """The owner of the key with this hash, noting that the key was used; None if unknown."""
    record = await conn.fetchrow(AUTHENTICATE_API_KEY, key_hash)
    return None if record is None else msgspec.convert(dict(record), CurrentUser)
