"""The app served by uvicorn on a thread, for tests that need real concurrency or streaming
(the test client runs one request at a time and buffers whole responses)."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn

from roto.app import create_app
from roto.devstack.services import free_port
from roto.settings import Settings


@pytest.fixture
async def live(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for the app running behind a real server."""
    port = free_port()
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            yield http
    finally:
        server.should_exit = True
        thread.join(30)
