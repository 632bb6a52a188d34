"""Opaque UUID ids in paths: anything that is not a UUID is simply not found."""

from __future__ import annotations

import uuid

from roto.errors import NotFound


def parse_id(value: str, what: str) -> uuid.UUID:
    """The UUID in ``value``, or a 404 naming ``what`` (never a 500 or a 400 leak)."""
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        raise NotFound(f"{what} {value!r} not found") from None


def new_id() -> uuid.UUID:
    return uuid.uuid4()
