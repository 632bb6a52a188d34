"""RFC 3339 timestamps for the wire."""

from __future__ import annotations

from datetime import UTC, datetime


def rfc3339(value: datetime | None) -> str | None:
    """``2026-11-26T05:16:00.123Z`` for an aware datetime; None stays None."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_rfc3339(value: str | None) -> datetime | None:
    """The aware datetime ``rfc3339`` wrote (to its milliseconds); None stays None."""
    return datetime.fromisoformat(value) if value is not None else None


def utcnow() -> datetime:
    return datetime.now(UTC)
