"""Wire shapes of the auth domain: credentials, tokens, the account and API keys."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

import msgspec

# RFC 5321 caps an address at 254 characters; a little slack for surrounding whitespace,
# which is trimmed before the syntax check.
Email = Annotated[str, msgspec.Meta(min_length=1, max_length=320, examples=["ada@example.com"])]
# The upper bound keeps a hostile client from making us hash megabytes.
NewPassword = Annotated[
    str, msgspec.Meta(min_length=10, max_length=256, description="10 to 256 characters")
]
Password = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
RefreshToken = Annotated[str, msgspec.Meta(min_length=1, max_length=512)]
KeyName = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]


class CurrentUser(msgspec.Struct, frozen=True):
    """The authenticated caller, as handlers receive it (``user: UserDep``); ``api_key_id`` is
    the key it came with (None for a bearer token)."""

    id: uuid.UUID
    email: str
    api_key_id: uuid.UUID | None = None


class RegisterRequest(msgspec.Struct, forbid_unknown_fields=True):
    email: Email
    password: NewPassword


class LoginRequest(msgspec.Struct, forbid_unknown_fields=True):
    email: Email
    password: Password


class RefreshRequest(msgspec.Struct, forbid_unknown_fields=True):
    """``{}`` uses the ``roto_refresh`` cookie that sign-in set (the browser's way)."""

    refresh_token: RefreshToken | None = None


class LogoutRequest(msgspec.Struct, forbid_unknown_fields=True):
    """``{}`` ends the sign-in of the ``roto_refresh`` cookie."""

    refresh_token: RefreshToken | None = None


class TokenUser(msgspec.Struct):
    id: str
    email: str


class Tokens(msgspec.Struct, kw_only=True):
    """A fresh access token (JWT) and the single-use refresh token that renews it."""

    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105
    expires_in: int
    user: TokenUser


class Usage(msgspec.Struct):
    frames_this_month: int
    frames_quota: int


class Me(msgspec.Struct):
    id: str
    email: str
    created_at: str
    plan: str
    usage: Usage


class ApiKeyCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: KeyName


class ApiKey(msgspec.Struct):
    """An API key as listed: never the key itself, which is only stored hashed."""

    id: str
    name: str
    created_at: str
    last_used_at: str | None


class ApiKeyCreated(msgspec.Struct):
    """A new API key; ``key`` is shown here once and cannot be retrieved again."""

    id: str
    name: str
    key: str
    created_at: str
