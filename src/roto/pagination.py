"""Opaque keyset cursors over (created_at DESC, id DESC)."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from typing import Annotated, Generic, TypeVar

import msgspec
from litestar.params import Parameter

from roto.errors import BadRequest

T = TypeVar("T")
DEFAULT_LIMIT = 20
MAX_LIMIT = 100

#: Query parameters of every list endpoint. Litestar checks the limit's bounds (a 400 naming
#: ``limit``) before a handler runs; ``decode_cursor`` checks the cursor.
Limit = Annotated[int, Parameter(ge=1, le=MAX_LIMIT, description=f"page size, 1..{MAX_LIMIT}")]
Cursor = Annotated[str | None, Parameter(description="next_cursor of the previous page")]


class Page(msgspec.Struct, Generic[T]):
    items: list[T]
    next_cursor: str | None


def encode_cursor(created_at: datetime, row_id: uuid.UUID | str) -> str:
    raw = f"{created_at.isoformat()}|{row_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """Inverse of ``encode_cursor``; a malformed cursor is a 400 naming ``cursor``."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, row_id = raw.split("|", 1)
        created_at = datetime.fromisoformat(stamp)
        if created_at.tzinfo is None:
            raise ValueError("naive timestamp")
        # In UTC, as the database compares it: an offset that moves the instant outside
        # datetime's years 1..9999 (a tampered cursor) fails here, not in the driver (a 500).
        return created_at.astimezone(UTC), uuid.UUID(row_id)
    except (ValueError, UnicodeDecodeError, OverflowError) as exc:
        raise BadRequest(
            "cursor: not a cursor returned by this API",
            errors=[{"key": "cursor", "message": "invalid cursor"}],
        ) from exc
