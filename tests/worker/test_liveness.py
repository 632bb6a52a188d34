"""The worker's liveness file (infra/README.md, "Worker heartbeat"): written once the worker can
take jobs, rewritten while it runs and drains, read by the platform's guard
(infra/docker/worker_guard.py) exactly as the cloud reads it; withheld while the role is stalled."""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.util
import io
import json
import os
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

from roto.emf import MetricLog
from roto.resources import Resources
from roto.worker.contract import JobContext, JobHandler
from roto.worker.liveness import Liveness, write_beat
from tests.worker.support import (
    Recorder,
    create_user,
    enqueue_job,
    make_role,
    running_worker,
    wait_for,
)

GUARD = Path(__file__).resolve().parents[2] / "infra" / "docker" / "worker_guard.py"


def load_guard() -> ModuleType:
    spec = importlib.util.spec_from_file_location("roto_worker_guard", GUARD)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


def test_a_beat_is_one_json_object_the_guard_reads(tmp_path: Path) -> None:
    path = tmp_path / "scratch" / "heartbeat"
    write_beat(path, state="draining", in_flight=3)

    body = json.loads(path.read_text(encoding="utf-8"))
    assert body["state"] == "draining" and body["in_flight"] == 3 and body["pid"] == os.getpid()
    assert abs(body["time"] - time.time()) < 60
    beat = load_guard().read_beat(path, time.time())
    assert (beat.state, beat.in_flight) == ("draining", 3)
    assert beat.age_s < 60
    assert os.listdir(path.parent) == ["heartbeat"]  # no temporary file left behind


def test_a_stalled_role_withholds_the_beat_and_resumes_after(tmp_path: Path) -> None:
    path = tmp_path / "heartbeat"
    stalled: list[str | None] = ["one model call has run for 400 s"]
    liveness = Liveness(
        path, 5.0, state=lambda: "ready", in_flight=lambda: 1, stalled=lambda: stalled[0]
    )

    assert liveness.beat() is False
    assert not path.exists()
    stalled[0] = None
    assert liveness.beat() is True
    assert json.loads(path.read_text(encoding="utf-8"))["in_flight"] == 1


@pytest.mark.parametrize(
    "settings", [{"worker_liveness_interval_s": 0.2, "worker_concurrency": 1}], indirect=True
)
async def test_a_running_worker_beats_with_its_jobs_in_flight_and_while_draining(
    resources: Resources,
) -> None:
    path = resources.settings.liveness_file
    path.unlink(missing_ok=True)
    gate = asyncio.Event()

    async def wait_for_gate(ctx: JobContext, run: int) -> None:
        await gate.wait()

    def beat() -> dict[str, object]:
        try:
            return dict(json.loads(path.read_text(encoding="utf-8")))
        except (FileNotFoundError, ValueError):
            return {}

    recorder = Recorder(wait_for_gate)
    user_id = await create_user(resources)
    async with running_worker(resources, make_role({"ingest": JobHandler(run=recorder)})) as w:
        await wait_for(lambda: _is(beat(), "ready", 0), 30, "an idle ready beat")
        await enqueue_job(resources, user_id)
        await wait_for(lambda: _is(beat(), "ready", 1), 30, "a beat with one job in flight")
        w.request_stop()
        await wait_for(lambda: _is(beat(), "draining", 1), 30, "a draining beat")
        mtime = path.stat().st_mtime
        await wait_for(lambda: _newer(path, mtime), 30, "the beat to go on while draining")
        gate.set()
    assert beat()["pid"] == os.getpid()


async def _is(body: dict[str, object], state: str, in_flight: int) -> bool:
    return body.get("state") == state and body.get("in_flight") == in_flight


async def _newer(path: Path, mtime: float) -> bool:
    return path.stat().st_mtime > mtime


async def test_a_first_receive_reports_its_queue_wait_as_an_emf_metric(
    resources: Resources,
) -> None:
    lines = io.StringIO()
    metered = dataclasses.replace(resources, metrics=MetricLog("test", enabled=True, stream=lines))
    recorder = Recorder()
    user_id = await create_user(resources)
    job = await enqueue_job(resources, user_id)
    async with running_worker(metered, make_role({"ingest": JobHandler(run=recorder)})):
        await wait_for(lambda: _has_run(recorder, job.id), 30, "the job to run")

    (line,) = [json.loads(text) for text in lines.getvalue().splitlines()]
    (directive,) = line["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "Roto"
    assert directive["Dimensions"] == [["Env", "Queue"]]
    assert directive["Metrics"] == [{"Name": "JobQueueWait", "Unit": "Seconds"}]
    assert (line["Env"], line["Queue"]) == ("test", "media")
    assert 0 <= line["JobQueueWait"] < 60


async def _has_run(recorder: Recorder, job_id: object) -> bool:
    return job_id in recorder.runs
