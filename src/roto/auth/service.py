"""Auth use cases: accounts, token issue and rotation, API keys, and who is calling."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import asyncpg
import structlog

from roto import ratelimit
from roto.auth import repository as repo
from roto.auth import security
from roto.auth.schemas import (
    ApiKey,
    ApiKeyCreated,
    CurrentUser,
    LoginRequest,
    Me,
    RegisterRequest,
    Tokens,
    TokenUser,
    Usage,
)
from roto.billing import service as billing
from roto.errors import BadRequest, Conflict, Forbidden, NotFound
from roto.pagination import Page, decode_cursor, encode_cursor
from roto.resources import Resources
from roto.settings import Settings
from roto.timefmt import rfc3339, utcnow

log = structlog.get_logger(__name__)

MAX_EMAIL_LENGTH = 254
_EMAIL = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)
LOGIN_FAILED = "email or password is incorrect"


def normalise_email(raw: str) -> str:
    """The trimmed address, or a 400 naming ``email`` when it is not a plausible address."""
    email = raw.strip()
    if len(email) > MAX_EMAIL_LENGTH or not _EMAIL.fullmatch(email):
        raise BadRequest(
            "email: not a valid email address",
            errors=[{"key": "email", "message": "not a valid email address", "source": "body"}],
        )
    return email


async def register(resources: Resources, data: RegisterRequest, address: str) -> Tokens:
    """Create an account and sign it in; 409 when the email is taken (in any letter case)."""
    pool, settings = resources.pool, resources.settings
    await ratelimit.limit_auth_call(resources.redis, settings, address)
    email = normalise_email(data.email)
    password_hash = await security.hash_password(data.password)
    refresh_token = security.new_refresh_token()
    try:
        async with pool.acquire() as conn, conn.transaction():
            user = await repo.insert_user(conn, uuid.uuid4(), email, password_hash)
            await _store_refresh_token(conn, settings, user.id, uuid.uuid4(), refresh_token)
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name != repo.USERS_EMAIL_KEY:
            raise
        raise Conflict(
            "email: already registered",
            errors=[{"key": "email", "message": "already registered", "source": "body"}],
        ) from None
    log.info("user_registered", user_id=str(user.id))
    return _tokens(settings, user.id, user.email, refresh_token)


async def login(resources: Resources, data: LoginRequest, address: str) -> Tokens:
    """Exchange an email and password for tokens; one 401 for every wrong pair, and 429 once an
    email has had too many wrong passwords this minute (password guessing).

    Each attempt is counted against the email before its password is checked, and given back
    when the password was right: concurrent guesses each see their own count, so no more than
    the limit are ever checked.
    """
    pool, settings, redis = resources.pool, resources.settings, resources.redis
    await ratelimit.limit_auth_call(redis, settings, address)
    failures_key = f"login-failures:{data.email.strip().lower()}"
    limit = settings.login_failures_per_minute
    if limit > 0 and await ratelimit.count(redis, failures_key) > limit:
        raise ratelimit.limited("failed sign-ins", limit)
    async with pool.acquire() as conn:
        user = await repo.get_user_by_email(conn, data.email.strip())
    # Hash outside the connection: a pool slot is worth more than the 0.1 s of argon2.
    is_match = await security.verify_password(user.password_hash if user else None, data.password)
    if user is None or not is_match:
        raise security.unauthorized(LOGIN_FAILED)
    if limit > 0:
        await ratelimit.give_back(redis, failures_key)
    new_hash = None
    if security.needs_rehash(user.password_hash):
        new_hash = await security.hash_password(data.password)
    refresh_token = security.new_refresh_token()
    async with pool.acquire() as conn, conn.transaction():
        if new_hash is not None:
            await repo.update_password_hash(conn, user.id, new_hash)
        await _store_refresh_token(conn, settings, user.id, uuid.uuid4(), refresh_token)
    return _tokens(settings, user.id, user.email, refresh_token)


async def refresh(resources: Resources, refresh_token: str, address: str) -> Tokens:
    """Rotate a refresh token: it is spent, and a new one in the same family is issued.

    A spent token presented again means it was copied, so its whole family is revoked and
    whoever holds the newest one must sign in again.
    """
    pool, settings = resources.pool, resources.settings
    await ratelimit.limit_auth_call(resources.redis, settings, address)
    new_token = security.new_refresh_token()
    # The revocation must commit even though the request fails, so the 401 is raised
    # after the transaction, not inside it.
    async with pool.acquire() as conn, conn.transaction():
        row = await repo.lock_refresh_token(conn, security.digest(refresh_token))
        failure = _refresh_failure(row)
        if row is not None and failure is None:
            await repo.mark_refresh_token_used(conn, row.id)
            await _store_refresh_token(conn, settings, row.user_id, row.family_id, new_token)
        elif row is not None and row.used_at is not None and row.revoked_at is None:
            await repo.revoke_refresh_family(conn, row.family_id)
            log.warning(
                "refresh_token_reused", user_id=str(row.user_id), family_id=str(row.family_id)
            )
    if row is None or failure is not None:
        raise security.unauthorized(failure or "invalid refresh token")
    return _tokens(settings, row.user_id, row.email, new_token)


async def logout(resources: Resources, refresh_token: str | None) -> None:
    """End the sign-in that ``refresh_token`` belongs to: its whole family is revoked (access
    tokens already issued run out on their own). Unknown tokens are ignored."""
    if not refresh_token:
        return
    async with resources.pool.acquire() as conn, conn.transaction():
        row = await repo.lock_refresh_token(conn, security.digest(refresh_token))
        if row is not None:
            await repo.revoke_refresh_family(conn, row.family_id)


def _refresh_failure(row: repo.RefreshTokenRow | None) -> str | None:
    """Why this refresh token cannot be used, or None when it can."""
    if row is None:
        return "invalid refresh token"
    if row.revoked_at is not None:
        return "refresh token revoked; sign in again"
    if row.used_at is not None:
        return "refresh token already used; its session has been revoked, sign in again"
    if row.expires_at <= utcnow():
        return "refresh token expired; sign in again"
    return None


async def _store_refresh_token(
    conn: asyncpg.Connection,
    settings: Settings,
    user_id: uuid.UUID,
    family_id: uuid.UUID,
    token: str,
) -> None:
    await repo.insert_refresh_token(
        conn,
        user_id=user_id,
        family_id=family_id,
        token_hash=security.digest(token),
        expires_at=utcnow() + timedelta(seconds=settings.refresh_token_ttl_s),
    )


def _tokens(settings: Settings, user_id: uuid.UUID, email: str, refresh_token: str) -> Tokens:
    return Tokens(
        access_token=security.create_access_token(settings, user_id),
        refresh_token=refresh_token,
        expires_in=settings.access_token_ttl_s,
        user=TokenUser(id=str(user_id), email=email),
    )


async def authenticate(
    resources: Resources, authorization: str | None, api_key: str | None
) -> CurrentUser:
    """The caller named by a bearer access token or else an API key; 401 otherwise."""
    if authorization is not None:
        return await bearer_identity(resources, bearer_subject(resources.settings, authorization))
    if api_key is not None:
        # Only keys we issued can match; skip the query for anything else.
        if not api_key.startswith(security.API_KEY_PREFIX):
            raise security.unauthorized("invalid API key")
        async with resources.pool.acquire() as conn:
            user = await repo.authenticate_api_key(conn, security.digest(api_key))
        if user is None:
            raise security.unauthorized("invalid API key")
        return user
    raise security.unauthorized(
        "authentication required: send 'Authorization: Bearer <access_token>' or 'X-API-Key'"
    )


def bearer_subject(settings: Settings, authorization: str) -> uuid.UUID:
    """The user id of a valid ``Bearer <access_token>`` header (signature, expiry, issuer and
    type checked, no query); 401 otherwise."""
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise security.unauthorized("Authorization header must be 'Bearer <access_token>'")
    return security.decode_access_token(settings, token.strip())


async def bearer_identity(resources: Resources, user_id: uuid.UUID) -> CurrentUser:
    """The account a valid access token names; 401 when it no longer exists."""
    async with resources.pool.acquire() as conn:
        user = await repo.get_identity(conn, user_id)
    if user is None:
        raise security.unauthorized("invalid access token: the account no longer exists")
    return user


async def get_account(resources: Resources, user: CurrentUser) -> Me:
    pool = resources.pool
    async with pool.acquire() as conn:
        row = await repo.get_user(conn, user.id)
        if row is None:
            raise security.unauthorized("the account no longer exists")
        used = await billing.usage_on_plan(conn, user.id, row.plan)
    return Me(
        id=str(row.id),
        email=row.email,
        created_at=rfc3339(row.created_at) or "",
        plan=row.plan,
        usage=Usage(frames_this_month=used.frames_processed, frames_quota=used.frames_quota),
    )


def refuse_api_key(user: CurrentUser) -> None:
    """403 when the caller came with an API key: keys are managed with a signed-in session only,
    so a leaked key cannot mint keys that outlive its revocation, nor list or revoke others."""
    if user.api_key_id is not None:
        message = "an API key cannot create, list or delete API keys; use a signed-in session"
        raise Forbidden(
            f"X-API-Key: {message}",
            errors=[{"key": "X-API-Key", "message": message, "source": "header"}],
        )


async def create_api_key(resources: Resources, user: CurrentUser, name: str) -> ApiKeyCreated:
    """A new API key for the user; the plain key is returned here and never stored."""
    refuse_api_key(user)
    pool = resources.pool
    name = name.strip()
    if not name:
        raise BadRequest(
            "name: must not be blank",
            errors=[{"key": "name", "message": "must not be blank", "source": "body"}],
        )
    key = security.new_api_key()
    async with pool.acquire() as conn:
        row = await repo.insert_api_key(
            conn, user_id=user.id, name=name, key_hash=security.digest(key)
        )
    return ApiKeyCreated(
        id=str(row.id), name=row.name, key=key, created_at=rfc3339(row.created_at) or ""
    )


async def list_api_keys(
    resources: Resources, user: CurrentUser, limit: int, cursor: str | None
) -> Page[ApiKey]:
    refuse_api_key(user)
    pool = resources.pool
    after = decode_cursor(cursor) if cursor else None
    async with pool.acquire() as conn:
        rows = await repo.list_api_keys(conn, user.id, after=after, limit=limit + 1)
    page, has_more = rows[:limit], len(rows) > limit
    next_cursor = encode_cursor(page[-1].created_at, page[-1].id) if has_more else None
    items = [
        ApiKey(
            id=str(r.id),
            name=r.name,
            created_at=rfc3339(r.created_at) or "",
            last_used_at=rfc3339(r.last_used_at),
        )
        for r in page
    ]
    return Page(items=items, next_cursor=next_cursor)


async def delete_api_key(resources: Resources, user: CurrentUser, key_id: uuid.UUID) -> None:
    """Revoke one of the user's keys; someone else's key is simply not found."""
    refuse_api_key(user)
    pool = resources.pool
    async with pool.acquire() as conn:
        deleted = await repo.delete_api_key(conn, key_id, user.id)
    if not deleted:
        raise NotFound(f"api key {key_id} not found")
