"""The S3+SQS endpoint down at submit time and back, behind a proxy, with the real API and media
worker: exports submitted while it is down are accepted (their messages wait in the outbox), an
upload-complete that needs storage answers 503 and changes nothing, and once the endpoint is
back every job runs exactly once."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from roto.exports.plan import archive_key
from roto.resources import Resources
from roto.settings import Settings
from tests.conftest import Services
from tests.exports.helpers import masked_video
from tests.faults.proxy import DOWN, FORWARD, TcpProxy
from tests.faults.stack import processes
from tests.faults.support import TERMINAL, TimedClient, sign_up, tally
from tests.videos.helpers import put_file
from tests.worker.support import log_lines, wait_for

pytestmark = pytest.mark.slow

EXPORTS = 3


async def test_jobs_submitted_while_storage_and_queues_are_down_run_once_when_back(
    services: Services,
    settings: Settings,
    resources: Resources,
    s3_sync: Any,
    tmp_path: Path,
) -> None:
    moto = urlparse(services.moto.endpoint)
    endpoint = TcpProxy(moto.hostname or "127.0.0.1", moto.port or 80)
    via_proxy = {"aws_endpoint_url": f"http://127.0.0.1:{endpoint.port}"}
    try:
        with processes(settings, tmp_path) as procs:
            _, url = await procs.api(**via_proxy)
            worker = await procs.worker("media", **via_proxy)
            async with TimedClient(url) as client:
                headers = await sign_up(client)
                video = await masked_video(client.http, headers, settings, s3_sync, tmp_path)
                announced = await client.request(
                    "POST",
                    "/v1/videos",
                    json={"filename": "b.mp4", "content_type": "video/mp4", "size_bytes": 5},
                    headers=headers,
                )
                pending = announced.json()
                await put_file(pending["upload"], b"12345")

                endpoint.set_mode(DOWN)
                submitted = [
                    await client.request(
                        "POST",
                        f"/v1/videos/{video.id}/exports",
                        json={"format": "png_sequence", "start_number": n},
                        headers=headers,
                    )
                    for n in range(EXPORTS)
                ]
                refused = await client.request(
                    "POST",
                    f"/v1/videos/{pending['video']['id']}/upload-complete",
                    json={},
                    headers=headers,
                )
                await asyncio.sleep(3)  # the relay tries, and fails, to send them
                waiting = await resources.pool.fetchval("SELECT count(*) FROM outbox")
                endpoint.set_mode(FORWARD)

                jobs = [answer.json()["job"]["id"] for answer in submitted]

                async def all_finished() -> bool:
                    for job_id in jobs:
                        got = await client.request("GET", f"/v1/jobs/{job_id}", headers=headers)
                        if got.json()["status"] not in TERMINAL:
                            return False
                    return True

                await wait_for(all_finished, 90, "the exports to finish")
                finished = [
                    (await client.request("GET", f"/v1/jobs/{job_id}", headers=headers)).json()
                    for job_id in jobs
                ]
                retried = await client.request(
                    "POST",
                    f"/v1/videos/{pending['video']['id']}/upload-complete",
                    json={},
                    headers=headers,
                )
            starts = [
                line.get("job_id")
                for line in log_lines(worker.log_path)
                if line.get("event") == "job_started"
            ]
    finally:
        endpoint.close()

    assert [answer.status_code for answer in submitted] == [202] * EXPORTS
    assert refused.status_code == 503 and "storage" in refused.json()["detail"]
    assert waiting == EXPORTS
    assert [job["status"] for job in finished] == ["succeeded"] * EXPORTS, finished
    attempts = await resources.pool.fetch(
        "SELECT id::text, attempts FROM jobs WHERE id = ANY($1::uuid[])", jobs
    )
    assert {row["attempts"] for row in attempts} == {1}
    assert sorted(starts) == sorted(jobs)  # each started exactly once
    for job_id in jobs:
        archives = s3_sync.list_objects_v2(
            Bucket=settings.s3_bucket, Prefix=archive_key(video.id, uuid.UUID(job_id), "")
        )
        assert archives["KeyCount"] == 1
    assert retried.status_code == 202
    tally(
        "S3+SQS endpoint down at submit time",
        jobs=EXPORTS,
        lost=sum(job["status"] != "succeeded" for job in finished),
        stuck=sum(job["status"] not in TERMINAL for job in finished),
        runs_per_job=sorted({starts.count(job_id) for job_id in jobs}),
    )
