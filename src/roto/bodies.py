"""Strict request bodies: a wrong JSON type is a 400 naming the field, never silently coerced.

Litestar converts bodies with msgspec's lax rules (``"10"`` becomes ``10``). Handlers still
declare ``data: JSONBody[T]`` (so OpenAPI documents the body) and then call ``strict_body`` to
decode the same bytes again under the strict rules.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec
from litestar import Request

from roto.errors import BadRequest

T = TypeVar("T")
_LOCATION = re.compile(r"^(?P<message>.*) - at `\$(?P<path>[^`]*)`$")


def _field(path: str) -> str:
    """``$.parts[0].etag`` -> ``parts[0].etag``; the document root is ``body``."""
    return path.removeprefix(".") or "body"


def decode_strict(raw: bytes, type_: type[T]) -> T:
    """Decode ``raw`` JSON into ``type_`` without coercion; a 400 names the offending field."""
    try:
        return msgspec.json.decode(raw, type=type_, strict=True)
    except msgspec.ValidationError as exc:
        match = _LOCATION.match(str(exc))
        field = _field(match["path"]) if match else "body"
        message = match["message"] if match else str(exc)
        raise BadRequest(
            f"{field}: {message}", errors=[{"key": field, "message": message, "source": "body"}]
        ) from None
    except msgspec.DecodeError as exc:
        raise BadRequest(f"body: {exc}", errors=[{"key": "body", "message": str(exc)}]) from None


async def strict_body(request: Request[Any, Any, Any], type_: type[T]) -> T:
    """The request body as ``type_``, decoded under msgspec's strict rules."""
    return decode_strict(await request.body(), type_)
