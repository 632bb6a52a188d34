"""Placeholder until the auth domain lands."""
from __future__ import annotations

import uuid

import msgspec
from litestar import Request

from roto.errors import Unauthorized
from roto.resources import Resources


class CurrentUser(msgspec.Struct, frozen=True):
    id: uuid.UUID
    email: str


async def provide_current_user(request: Request, resources: Resources) -> CurrentUser:
    raise Unauthorized("not implemented yet")
