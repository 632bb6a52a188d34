"""A job submitted while SQS is unreachable is kept in the outbox and sent exactly once later."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import msgspec
import pytest
from litestar.testing import AsyncTestClient

from roto.app import create_app
from roto.settings import Settings
from tests.conftest import Services
from tests.factories import signup
from tests.videos.helpers import connect, receive_job_messages, uploaded_video

SQS_MARKER = b"AmazonSQS."  # in the X-Amz-Target header of every SQS (JSON protocol) call


class SqsCuttingProxy:
    """A TCP proxy to the local AWS endpoint that drops SQS calls while ``is_cutting_sqs``.

    S3 and SQS share one endpoint, so the proxy looks for the SQS target header in what the
    client sends and closes that connection before the request reaches the endpoint.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.is_cutting_sqs = False
        self.cut_requests = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        self.endpoint = ""

    def start(self) -> str:
        """Serve on a thread of its own: the app under test runs its lifespan on another loop."""
        self._thread.start()
        assert self._ready.wait(10), "proxy did not start"
        return self.endpoint

    def close(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    async def _main(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.endpoint = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        self._ready.set()
        async with server:
            await self._stop.wait()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return

        def close_both() -> None:
            writer.close()
            up_writer.close()

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, inspect: bool) -> None:
            try:
                while data := await src.read(65536):
                    if inspect and self.is_cutting_sqs and SQS_MARKER in data:
                        self.cut_requests += 1
                        return
                    dst.write(data)
                    await dst.drain()
            except OSError:
                pass
            finally:
                close_both()

        await asyncio.gather(pump(reader, up_writer, True), pump(up_reader, writer, False))


@pytest.fixture
def proxy(services: Services) -> Iterator[tuple[SqsCuttingProxy, str]]:
    proxy = SqsCuttingProxy(services.moto.port)
    endpoint = proxy.start()
    yield proxy, endpoint
    proxy.close()


@pytest.fixture
async def proxied_client(
    settings: Settings, proxy: tuple[SqsCuttingProxy, str]
) -> AsyncIterator[AsyncTestClient]:
    app = create_app(msgspec.structs.replace(settings, aws_endpoint_url=proxy[1]))
    async with AsyncTestClient(app=app, timeout=30) as test_client:
        yield test_client


async def _outbox(settings: Settings, job_id: str) -> list[dict[str, Any]]:
    conn = await connect(settings)
    try:
        rows = await conn.fetch(
            "SELECT attempts, last_error FROM outbox WHERE job_id = $1", uuid.UUID(job_id)
        )
    finally:
        await conn.close()
    return [dict(r) for r in rows]


async def _wait_for(predicate: Any, timeout_s: float) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if value := await predicate():
            return value
        await asyncio.sleep(0.1)
    return None


async def test_job_submitted_during_sqs_outage_is_sent_once_when_it_returns(
    proxied_client: AsyncTestClient,
    proxy: tuple[SqsCuttingProxy, str],
    settings: Settings,
    sqs_sync: Any,
) -> None:
    cutter, _ = proxy
    headers = await signup(proxied_client)
    video = await uploaded_video(proxied_client, headers)
    cutter.is_cutting_sqs = True

    response = await proxied_client.post(
        f"/v1/videos/{video['id']}/upload-complete", json={}, headers=headers
    )

    assert response.status_code == 202, response.text
    job_id = response.json()["job"]["id"]

    async def failed_once() -> list[dict[str, Any]] | None:
        rows = await _outbox(settings, job_id)
        return rows if rows and rows[0]["attempts"] >= 1 else None

    rows = await _wait_for(failed_once, timeout_s=30)
    assert rows is not None, "the relay never tried (and failed) to send the message"
    assert rows[0]["last_error"]
    assert cutter.cut_requests >= 1
    job = await proxied_client.get(f"/v1/jobs/{job_id}", headers=headers)
    assert job.json()["status"] == "queued"
    assert await receive_job_messages(sqs_sync, settings.queue_media, expect=1, timeout_s=0.5) == []

    cutter.is_cutting_sqs = False

    async def outbox_empty() -> bool:
        return await _outbox(settings, job_id) == []

    assert await _wait_for(outbox_empty, timeout_s=30), "the relay did not send after recovery"
    messages = await receive_job_messages(sqs_sync, settings.queue_media, expect=1)
    assert [m.job_id for m in messages] == [job_id]
