"""Redis refused (nothing listens) and Redis black-holed (a proxy that accepts and never answers),
under the real API and media worker: every request answers within its timeout, the job still
runs to its end (its stream falls back to PostgreSQL), the limits still hold, and /readyz says
that Redis is what is wrong; once Redis answers again, /readyz is ready."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from roto.settings import Settings
from tests.conftest import Services
from tests.factories import PASSWORD
from tests.faults.proxy import BLACKHOLE, FORWARD, TcpProxy
from tests.faults.stack import processes
from tests.faults.support import (
    TERMINAL,
    TimedClient,
    follow_to_the_end,
    sign_up,
    tally,
    upload_video,
)

pytestmark = pytest.mark.slow

REDIS_TIMEOUT_S = 1.0
#: A request that needs Redis pays at most two timeouts (one retry), then counts locally.
ANSWER_WITHIN_S = 2 * REDIS_TIMEOUT_S + 3.0


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(params=["refused", "blackhole"])
def redis_fault(
    request: pytest.FixtureRequest, services: Services
) -> Iterator[tuple[str, TcpProxy | None]]:
    if request.param == "refused":
        yield f"redis://127.0.0.1:{closed_port()}/0", None
        return
    hole = TcpProxy("127.0.0.1", services.redis.port, mode=BLACKHOLE)
    try:
        yield f"redis://127.0.0.1:{hole.port}/0", hole
    finally:
        hole.close()


async def test_with_redis_away_requests_answer_in_time_and_jobs_still_finish(
    settings: Settings,
    redis_fault: tuple[str, TcpProxy | None],
    tmp_path: Path,
) -> None:
    redis_url, hole = redis_fault
    faulty = {
        "redis_url": redis_url,
        "redis_timeout_s": REDIS_TIMEOUT_S,
        "sse_resync_interval_s": 0.5,
        "login_failures_per_minute": 2,
    }
    with processes(settings, tmp_path) as procs:
        _, url = await procs.api(**faulty)
        await procs.worker("media", **faulty)
        async with TimedClient(url) as client:
            headers = await sign_up(client)
            ready = await client.request("GET", "/readyz")
            video_id, job_id = await upload_video(client, headers, tmp_path)
            events = await follow_to_the_end(client, headers, job_id)
            video = (await client.request("GET", f"/v1/videos/{video_id}", headers=headers)).json()
            me = (await client.request("GET", "/v1/me", headers=headers)).json()
            wrong = {"email": me["email"], "password": "not-" + PASSWORD}
            guesses = [
                (await client.request("POST", "/v1/auth/login", json=wrong)).status_code
                for _ in range(3)
            ]
            slowest, statuses = client.slowest(), client.statuses()
            if hole is not None:  # Redis answers again: ready again
                hole.set_mode(FORWARD)
                await wait_ready(client)

    assert ready.status_code == 503
    body = ready.json()
    assert body["detail"] == "not ready: redis", body
    assert body["checks"]["redis"].startswith("error:")
    finals = [data["status"] for name, data in events if name == "status"]
    assert finals and finals[-1] == "succeeded", events
    assert video["status"] == "ready"
    assert guesses == [401, 401, 429]  # the throttle held without Redis
    assert all(status < 500 or status == 503 for status in statuses), client.timings
    assert slowest < ANSWER_WITHIN_S, client.timings
    tally(
        f"redis {'black-holed' if hole else 'refused'}",
        jobs=1,
        lost=0 if finals[-1] in TERMINAL else 1,
        stuck=0 if finals[-1] in TERMINAL else 1,
        slowest_answer_s=round(slowest, 2),
    )


async def wait_ready(client: TimedClient, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while (await client.request("GET", "/readyz")).status_code != 200:
        assert time.monotonic() < deadline, "not ready after Redis came back"
        await asyncio.sleep(0.5)
