"""Auth and account endpoints: register, login, refresh, /v1/me and API keys."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, Router, delete, get, post
from litestar.datastructures import Cookie
from litestar.params import FromPath, Parameter

from roto import ratelimit
from roto.auth import security, service
from roto.auth.schemas import (
    ApiKey,
    ApiKeyCreate,
    ApiKeyCreated,
    LoginRequest,
    LogoutRequest,
    Me,
    RefreshRequest,
    RegisterRequest,
    Tokens,
)
from roto.deps import ResourcesDep, UserDep
from roto.ids import parse_id
from roto.pagination import DEFAULT_LIMIT, Cursor, Limit, Page
from roto.problems import problem_responses

#: Keys are managed with a signed-in session only.
KEYS_NEED_SESSION = problem_responses(
    {403: "called with an X-API-Key: an API key cannot create, list or delete API keys"}
)

# Sign-in endpoints take no credentials: an operation-level requirement list replaces the
# document-wide one, and an empty requirement means "none needed".
PUBLIC: list[dict[str, list[str]]] = [{}]
ADDRESS_LIMITED = (
    "`ROTO_AUTH_REQUESTS_PER_ADDRESS_PER_MINUTE` calls to register, login and refresh from one "
    "client address in a minute; more answer 429 with Retry-After."
)
TOO_MANY = problem_responses(
    {
        429: "too many calls from this address (or, for login, wrong "
        "passwords for this email) this minute; see Retry-After"
    }
)


#: The refresh token as an HttpOnly cookie, for browsers: script cannot read it (an XSS cannot
#: take the session away), and only the auth endpoints ever receive it.
REFRESH_COOKIE = "roto_refresh"
COOKIE_PATH = "/v1/auth"
RefreshCookie = Annotated[
    str | None,
    Parameter(
        cookie=REFRESH_COOKIE,
        description="the refresh token that sign-in set as an HttpOnly cookie; used when the "
        "body has no `refresh_token`",
    ),
]
SETS_COOKIE = (
    f" Also sets the refresh token as the `{REFRESH_COOKIE}` cookie (HttpOnly, Secure, "
    f"SameSite=Strict, Path={COOKIE_PATH}): a browser keeps it there, not in script storage."
)


def refresh_cookie(value: str, max_age: int) -> Cookie:
    return Cookie(
        key=REFRESH_COOKIE,
        value=value,
        max_age=max_age,
        path=COOKIE_PATH,
        secure=True,
        httponly=True,
        samesite="strict",
    )


def signed_in(tokens: Tokens, resources: ResourcesDep, status_code: int = 200) -> Response[Tokens]:
    """The tokens, with the refresh token also set as the browser's cookie."""
    ttl = resources.settings.refresh_token_ttl_s
    return Response(
        tokens, status_code=status_code, cookies=[refresh_cookie(tokens.refresh_token, ttl)]
    )


def caller_address(request: Request[Any, Any, Any], resources: ResourcesDep) -> str:
    """The client's address, as the auth limits count it."""
    return ratelimit.client_address(
        request.client.host if request.client else None,
        request.headers.get("x-forwarded-for"),
        resources.settings.trusted_proxy_hops,
    )


@post(
    "/register",
    status_code=201,
    tags=["auth"],
    summary="Create an account",
    description="Password 10 to 256 characters. Emails are unique regardless of letter case; "
    "a taken email answers 409. " + ADDRESS_LIMITED + SETS_COOKIE,
    security=PUBLIC,
    responses=TOO_MANY,
)
async def register(
    data: RegisterRequest, request: Request[Any, Any, Any], resources: ResourcesDep
) -> Response[Tokens]:
    tokens = await service.register(resources, data, caller_address(request, resources))
    return signed_in(tokens, resources, 201)


@post(
    "/login",
    status_code=200,
    tags=["auth"],
    summary="Sign in with email and password",
    description="A wrong email or password answers 401 with the same message. After "
    "`ROTO_LOGIN_FAILURES_PER_MINUTE` wrong passwords for one email in a minute, sign-ins for "
    "it answer 429 with Retry-After until the minute ends; guesses are counted before the "
    "password is checked, so concurrent ones cannot pass the limit. "
    + ADDRESS_LIMITED
    + SETS_COOKIE,
    security=PUBLIC,
    responses=TOO_MANY,
)
async def login(
    data: LoginRequest, request: Request[Any, Any, Any], resources: ResourcesDep
) -> Response[Tokens]:
    tokens = await service.login(resources, data, caller_address(request, resources))
    return signed_in(tokens, resources)


@post(
    "/refresh",
    status_code=200,
    tags=["auth"],
    summary="Exchange a refresh token for new tokens",
    description="Refresh tokens are single use. Presenting a used one answers 401 and revokes "
    "every token descended from the same sign-in. `{}` uses the refresh token of the "
    f"`{REFRESH_COOKIE}` cookie. " + ADDRESS_LIMITED + SETS_COOKIE,
    security=PUBLIC,
    responses=TOO_MANY,
)
async def refresh(
    data: RefreshRequest,
    request: Request[Any, Any, Any],
    resources: ResourcesDep,
    roto_refresh: RefreshCookie = None,
) -> Response[Tokens]:
    token = data.refresh_token or roto_refresh
    address = caller_address(request, resources)
    if not token:
        await ratelimit.limit_auth_call(resources.redis, resources.settings, address)
        raise security.unauthorized(
            f"no refresh token: send refresh_token, or the {REFRESH_COOKIE} cookie sign-in set"
        )
    return signed_in(await service.refresh(resources, token, address), resources)


@post(
    "/logout",
    status_code=204,
    tags=["auth"],
    summary="Sign out: revoke the sign-in's refresh tokens and clear the cookie",
    description="Revokes every refresh token of the sign-in that `refresh_token` (or the "
    f"`{REFRESH_COOKIE}` cookie) belongs to, and clears the cookie. Access tokens already "
    "issued run out on their own. An unknown or missing token is not an error.",
    security=PUBLIC,
)
async def logout(
    data: LogoutRequest, resources: ResourcesDep, roto_refresh: RefreshCookie = None
) -> Response[None]:
    await service.logout(resources, data.refresh_token or roto_refresh)
    return Response(None, status_code=204, cookies=[refresh_cookie("", 0)])


@get("/", tags=["account"], summary="The signed-in account and its usage")
async def me(user: UserDep, resources: ResourcesDep) -> Me:
    return await service.get_account(resources, user)


@post(
    "/",
    status_code=201,
    tags=["account"],
    summary="Create an API key",
    description="The `key` is shown only in this response; send it as `X-API-Key`. Needs a "
    "bearer token: an API key cannot create keys (403).",
    responses=KEYS_NEED_SESSION,
)
async def create_api_key(
    data: ApiKeyCreate, user: UserDep, resources: ResourcesDep
) -> ApiKeyCreated:
    return await service.create_api_key(resources, user, data.name)


@get(
    "/",
    tags=["account"],
    summary="List API keys (without the keys themselves)",
    responses=KEYS_NEED_SESSION,
)
async def list_api_keys(
    user: UserDep,
    resources: ResourcesDep,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[ApiKey]:
    return await service.list_api_keys(resources, user, limit, cursor)


@delete("/{key_id:str}", tags=["account"], summary="Revoke an API key", responses=KEYS_NEED_SESSION)
async def delete_api_key(key_id: FromPath[str], user: UserDep, resources: ResourcesDep) -> None:
    await service.delete_api_key(resources, user, parse_id(key_id, "api key"))


auth_router = Router("/v1/auth", route_handlers=[register, login, refresh, logout])
me_router = Router("/v1/me", route_handlers=[me])
api_keys_router = Router(
    "/v1/api-keys", route_handlers=[create_api_key, list_api_keys, delete_api_key]
)
