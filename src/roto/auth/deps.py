"""The ``user`` dependency: who is calling, from a bearer access token or an API key."""

from __future__ import annotations

from litestar import Request

from roto import ratelimit
from roto.auth import service
from roto.auth.schemas import CurrentUser
from roto.deps import ResourcesDep

__all__ = ["CurrentUser", "provide_current_user"]


async def provide_current_user(request: Request, resources: ResourcesDep) -> CurrentUser:
    """The authenticated caller; 401 when credentials are missing, invalid or expired, 429
    past the per-caller request limit."""
    user = await service.authenticate(
        resources,
        request.headers.get("authorization"),
        request.headers.get("x-api-key"),
    )
    limit = resources.settings.rate_limit_per_minute
    await ratelimit.hit(resources.redis, f"user:{user.id}", limit)
    return user
