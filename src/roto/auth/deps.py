"""The ``user`` dependency: who is calling, from a bearer access token or an API key."""

from __future__ import annotations

import asyncio

from litestar import Request

from roto import ratelimit
from roto.auth import service
from roto.auth.schemas import CurrentUser
from roto.deps import ResourcesDep

__all__ = ["CurrentUser", "provide_current_user"]


async def provide_current_user(request: Request, resources: ResourcesDep) -> CurrentUser:
    """The authenticated caller; 401 when credentials are missing, invalid or expired, 429
    past the per-caller request limit."""
    limit = resources.settings.rate_limit_per_minute
    authorization = request.headers.get("authorization")
    if authorization is None:
        user = await service.authenticate(resources, None, request.headers.get("x-api-key"))
        await ratelimit.hit(resources.redis, f"user:{user.id}", limit)
        return user
    # A valid token's signature names the caller before any query: the request is counted in
    # Redis while PostgreSQL looks the account up, not after (a 401 still wins over a 429).
    user_id = service.bearer_subject(resources.settings, authorization)
    found, counted = await asyncio.gather(
        service.bearer_identity(resources, user_id),
        ratelimit.hit(resources.redis, f"user:{user_id}", limit),
        return_exceptions=True,
    )
    for outcome in (found, counted):
        if isinstance(outcome, BaseException):
            raise outcome
    assert isinstance(found, CurrentUser)
    return found
