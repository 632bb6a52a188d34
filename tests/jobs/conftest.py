"""Fixtures shared by the videos and jobs tests."""

from __future__ import annotations

import pytest
from litestar.testing import AsyncTestClient

from tests.factories import signup
from tests.videos.live import live
from tests.worker.support import resources

__all__ = ["headers", "live", "other_headers", "resources"]


@pytest.fixture
async def headers(client: AsyncTestClient) -> dict[str, str]:
    """Auth headers of a fresh user."""
    return await signup(client)


@pytest.fixture
async def other_headers(client: AsyncTestClient) -> dict[str, str]:
    """Auth headers of a second, unrelated user."""
    return await signup(client)
