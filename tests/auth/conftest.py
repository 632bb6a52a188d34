"""Helpers for auth tests: direct database access to check what is stored."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from roto.settings import Settings


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    """A plain connection to the test's own database."""
    conn = await asyncpg.connect(settings.database_url)
    try:
        yield conn
    finally:
        await conn.close()
