"""Small helpers that drive the API as a client would."""

from __future__ import annotations

import uuid
from typing import Any

from litestar.testing import AsyncTestClient

PASSWORD = "correct horse battery"


async def signup(client: AsyncTestClient, email: str | None = None) -> dict[str, str]:
    """Register a fresh user; returns the Authorization header for them."""
    email = email or f"user-{uuid.uuid4().hex[:10]}@example.com"
    response = await client.post("/v1/auth/register", json={"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.text
    tokens: dict[str, Any] = response.json()
    return {"Authorization": f"Bearer {tokens['access_token']}"}
