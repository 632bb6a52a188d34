"""PostgreSQL restarted under load (``pg_ctl restart -m fast``: every connection cut, new ones
refused until it is back), with the real API and media worker: requests during the restart
answer 503 with Retry-After (never 500), every job submitted before, during and after still
ends (none lost, none stuck), and the API serves again on its own once PostgreSQL is back."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from roto.resources import Resources
from roto.settings import Settings
from tests.conftest import Services
from tests.faults.stack import processes, restart_postgres
from tests.faults.support import TimedClient, sign_up, tally, upload_video
from tests.worker.support import wait_for

pytestmark = pytest.mark.slow

FAST = {"worker_visibility_timeout_s": 4, "worker_heartbeat_interval_s": 1.0}


async def keep_asking(
    client: TimedClient, headers: dict[str, str], stop: asyncio.Event
) -> list[tuple[int, str | None]]:
    """Reads and writes in a loop until ``stop``; (status, Retry-After) of each answer."""
    answers = []
    body = {"filename": "x.mp4", "content_type": "video/mp4", "size_bytes": 10}
    while not stop.is_set():
        for method, url, kwargs in (
            ("GET", "/v1/videos", {}),
            ("POST", "/v1/videos", {"json": body}),
            ("GET", "/v1/me", {}),
        ):
            answer = await client.request(method, url, headers=headers, **kwargs)
            answers.append((answer.status_code, answer.headers.get("retry-after")))
        await asyncio.sleep(0.05)
    return answers


@pytest.mark.parametrize("settings", [FAST], indirect=True)
async def test_a_postgres_restart_under_load_loses_no_job_and_answers_no_500(
    services: Services, settings: Settings, resources: Resources, tmp_path: Path
) -> None:
    with processes(settings, tmp_path) as procs:
        _, url = await procs.api()
        await procs.worker("media")
        async with TimedClient(url) as client:
            headers = await sign_up(client)
            jobs = [(await upload_video(client, headers, tmp_path, frames=48))[1]]
            stop = asyncio.Event()
            load = [asyncio.create_task(keep_asking(client, headers, stop)) for _ in range(3)]
            jobs.append((await upload_video(client, headers, tmp_path, frames=48))[1])
            began = time.monotonic()
            await asyncio.to_thread(restart_postgres, services)
            restart_s = time.monotonic() - began
            # Submitted right after the restart: the API's pool reconnects on its own.
            for _ in range(2):
                for attempt in range(20):
                    try:
                        jobs.append((await upload_video(client, headers, tmp_path, frames=48))[1])
                        break
                    except AssertionError:
                        await asyncio.sleep(0.5)
                        assert attempt < 19, "the API never recovered"
            await asyncio.sleep(1.0)
            stop.set()
            per_task = [await task for task in load]
            answers = [answer for task in per_task for answer in task]

            async def all_finished() -> bool:
                statuses = []
                for job_id in jobs:
                    got = await client.request("GET", f"/v1/jobs/{job_id}", headers=headers)
                    statuses.append(got.json()["status"] if got.status_code == 200 else "?")
                return all(s in ("succeeded", "failed", "canceled") for s in statuses)

            await wait_for(all_finished, 120, "every job to finish")
            finished = [
                (await client.request("GET", f"/v1/jobs/{job_id}", headers=headers)).json()
                for job_id in jobs
            ]

    statuses = [status for status, _ in answers]
    assert 500 not in statuses, answers
    assert all(retry is not None for status, retry in answers if status == 503), answers
    assert all(status in (200, 201, 503) for status in statuses), answers
    # Recovered on its own: each client's last round after the restart went through.
    assert all(status in (200, 201) for task in per_task for status, _ in task[-3:]), per_task
    assert [job["status"] for job in finished] == ["succeeded"] * len(jobs), finished
    tally(
        "postgres restarted under load",
        jobs=len(jobs),
        lost=sum(job["status"] != "succeeded" for job in finished),
        stuck=0,
        requests=len(answers),
        answered_503=statuses.count(503),
        answered_500=statuses.count(500),
        restart_s=round(restart_s, 1),
    )
