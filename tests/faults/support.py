"""What the fault tests do as a client: timed requests, an upload through the API, a job
followed over its event stream, and the tally every fault test reports."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from tests.factories import PASSWORD
from tests.media import make_video

TERMINAL = {"succeeded", "failed", "canceled"}
#: Every fault test adds what it injected and what it saw, for the suite's closing figures; the
#: rows leave with the test's report under ``TALLY_PROPERTY`` (``tests/faults/conftest.py``).
TALLY: list[dict[str, Any]] = []
TALLY_PROPERTY = "fault_tally"


def tally(fault: str, *, jobs: int, lost: int, stuck: int, **extra: Any) -> None:
    TALLY.append({"fault": fault, "jobs": jobs, "lost": lost, "stuck": stuck, **extra})


class TimedClient:
    """An HTTP client that records how long each answer took."""

    def __init__(self, base_url: str, timeout_s: float = 30.0) -> None:
        self.http = httpx.AsyncClient(base_url=base_url, timeout=timeout_s)
        self.timings: list[tuple[str, int, float]] = []

    async def __aenter__(self) -> TimedClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        started = time.monotonic()
        response = await self.http.request(method, url, **kwargs)
        self.timings.append((f"{method} {url}", response.status_code, time.monotonic() - started))
        return response

    def slowest(self) -> float:
        return max((took for _, _, took in self.timings), default=0.0)

    def statuses(self) -> list[int]:
        return [status for _, status, _ in self.timings]


async def sign_up(client: TimedClient) -> dict[str, str]:
    email = f"fault-{uuid.uuid4().hex[:10]}@example.com"
    answer = await client.request(
        "POST", "/v1/auth/register", json={"email": email, "password": PASSWORD}
    )
    assert answer.status_code == 201, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


async def upload_video(
    client: TimedClient, headers: dict[str, str], tmp_path: Path, frames: int = 24
) -> tuple[str, str]:
    """Announce, upload and complete a small real video; (video id, ingest job id)."""
    data = make_video(tmp_path / f"clip-{uuid.uuid4().hex[:6]}.mp4", frames=frames).read_bytes()
    body = {"filename": "clip.mp4", "content_type": "video/mp4", "size_bytes": len(data)}
    created = await client.request("POST", "/v1/videos", json=body, headers=headers)
    assert created.status_code == 201, created.text
    upload = created.json()["upload"]
    async with httpx.AsyncClient(timeout=30) as storage:
        put = await storage.put(upload["url"], content=data, headers=upload["headers"])
    assert put.status_code == 200, put.text
    video_id = created.json()["video"]["id"]
    done = await client.request(
        "POST", f"/v1/videos/{video_id}/upload-complete", json={}, headers=headers
    )
    assert done.status_code == 202, done.text
    return video_id, done.json()["job"]["id"]


async def follow_to_the_end(
    client: TimedClient, headers: dict[str, str], job_id: str, timeout_s: float = 120.0
) -> list[tuple[str, Any]]:
    """The job's event stream until the server ends it; its (event, data) pairs."""
    seen: list[tuple[str, Any]] = []
    started = time.monotonic()
    async with client.http.stream(
        "GET", f"/v1/jobs/{job_id}/events", headers=headers, timeout=timeout_s
    ) as response:
        assert response.status_code == 200
        event = None
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: ") and event is not None:
                seen.append((event, json.loads(line.removeprefix("data: "))))
            assert time.monotonic() - started < timeout_s, "the stream did not end"
    return seen


def render_tally(rows: list[dict[str, Any]]) -> list[str]:
    """The "faults injected" section: a line per fault and the total."""
    lines = []
    for row in rows:
        extra = ", ".join(
            f"{k}={v}" for k, v in row.items() if k not in {"fault", "jobs", "lost", "stuck"}
        )
        lines.append(
            f"{row['fault']}: jobs {row['jobs']}, lost {row['lost']}, stuck {row['stuck']}"
            + (f" ({extra})" if extra else "")
        )
    lines.append(
        f"total: {len(rows)} faults, {sum(r['jobs'] for r in rows)} jobs, "
        f"{sum(r['lost'] for r in rows)} lost, {sum(r['stuck'] for r in rows)} stuck"
    )
    return lines
