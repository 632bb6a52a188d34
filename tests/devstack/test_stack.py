"""``python -m roto.devstack`` end to end: real servers, the API and the worker as processes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from roto.devstack.services import LOCAL_AWS_ENV
from tests.devstack.harness import StackRun, alive, processes_mentioning

pytestmark = pytest.mark.slow
PASSWORD = "correct horse battery"


@pytest.fixture
def workdir() -> Iterator[Path]:
    """Not under pytest's tmp_path: as root, pgserver runs PostgreSQL as another user, and a
    concurrent pytest session resets /tmp/pytest-of-<user> to mode 0700, locking that user out."""
    path = Path(tempfile.mkdtemp(prefix="roto-devstack-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def runs() -> Iterator[list[StackRun]]:
    """Stack runs a test made; killed (with what they left) if the test failed half-way."""
    made: list[StackRun] = []
    yield made
    for run in made:
        run.kill()


def new_run(runs: list[StackRun], workdir: Path, **settings: str) -> StackRun:
    run = StackRun(workdir / "data", workdir / f"run{len(runs) + 1}.log", **settings)
    runs.append(run)
    return run


def s3_client(run: StackRun) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=run.aws_endpoint,
        region_name="us-east-1",
        aws_access_key_id=LOCAL_AWS_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=LOCAL_AWS_ENV["AWS_SECRET_ACCESS_KEY"],
    )


def wait_for_beat(path: Path, timeout_s: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            return dict(json.loads(path.read_text(encoding="utf-8")))
        except (FileNotFoundError, ValueError):
            time.sleep(0.1)
    raise AssertionError(f"no heartbeat at {path} after {timeout_s} s")


def test_stack_stops_cleanly_on_signals_and_keeps_its_data_across_a_restart(
    workdir: Path, runs: list[StackRun]
) -> None:
    # A long sync interval: only the save on stop can keep the object.
    first = new_run(runs, workdir, ROTO_DEVSTACK_S3_SYNC_INTERVAL_S="3600")
    first.start()
    cold_s = first.wait_ready()
    assert httpx.get(first.api + "/healthz").json() == {"status": "ok"}
    s3 = s3_client(first)
    s3.put_object(Bucket="roto-dev", Key="kept/hello.txt", Body=b"hello", ContentType="text/plain")
    email = f"kept-{uuid.uuid4().hex[:8]}@example.com"
    register = httpx.post(
        first.api + "/v1/auth/register", json={"email": email, "password": PASSWORD}
    )
    assert register.status_code == 201, register.text
    access_token = register.json()["access_token"]
    started = first.process_tree()
    assert {"api", "worker-media", "moto", "redis", "postgres"} <= {
        p["name"] for p in first.runtime()["processes"]
    }
    # The media worker beats in its own liveness file once it takes jobs.
    beat = wait_for_beat(workdir / "data" / "heartbeat-media")
    assert (beat["state"], beat["in_flight"]) == ("ready", 0)
    assert beat["pid"] == first.pid_of("worker-media")
    first.wait_for_output("worker-media takes jobs (")  # said once it first beats

    assert first.stop(signal.SIGINT) == 0, first.output()
    assert alive(started) == []
    assert not (workdir / "data" / "devstack.json").exists()

    second = new_run(runs, workdir)
    second.start()
    warm_s = second.wait_ready()
    stored = s3_client(second).get_object(Bucket="roto-dev", Key="kept/hello.txt")
    assert stored["Body"].read() == b"hello"
    assert stored["ContentType"] == "text/plain"
    login = httpx.post(second.api + "/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    # A token from before the restart still verifies: the JWT secret was kept.
    me = httpx.get(second.api + "/v1/me", headers={"Authorization": f"Bearer {access_token}"})
    assert me.status_code == 200, me.text
    assert me.json()["email"] == email
    started = second.process_tree()

    assert second.stop(signal.SIGTERM) == 0, second.output()
    assert alive(started) == []
    print(f"\ndev stack ready: cold start {cold_s:.1f} s (initdb included), restart {warm_s:.1f} s")


def test_a_crashed_worker_stops_the_whole_stack_with_a_nonzero_exit(
    workdir: Path, runs: list[StackRun]
) -> None:
    run = new_run(runs, workdir)
    run.start()
    run.wait_ready()
    started = run.process_tree()

    os.kill(run.pid_of("worker-media"), signal.SIGKILL)

    assert run.wait_exit() == 1
    assert "worker-media exited with code -9" in run.output()
    assert alive(started) == []


def test_second_sigint_forces_the_stop_and_still_leaves_nothing_running(
    workdir: Path, runs: list[StackRun]
) -> None:
    # A worker in a 20 s long poll takes that long to drain, unless forced.
    run = new_run(runs, workdir, ROTO_WORKER_WAIT_TIME_S="20")
    run.start()
    run.wait_ready()
    # /readyz answers while the workers may still be importing; one killed by SIGTERM before
    # it polls would let the graceful stop finish before the second Ctrl-C arrives.
    run.wait_for_output('"role": "media", "queues"')
    started = run.process_tree()
    assert run.proc is not None

    began = time.monotonic()
    run.proc.send_signal(signal.SIGINT)
    time.sleep(0.5)
    code = run.stop(signal.SIGINT)

    assert code == 0, run.output()
    assert time.monotonic() - began < 15
    assert "S3 changes since the last periodic save are not kept" in run.output()
    assert alive(started) == []


def test_next_start_stops_what_a_killed_stack_left_running(
    workdir: Path, runs: list[StackRun]
) -> None:
    killed = new_run(runs, workdir)
    killed.start()
    killed.wait_ready()
    left = killed.process_tree()
    assert killed.proc is not None
    killed.proc.kill()  # no chance to clean up
    killed.wait_exit()
    assert alive(left) != []

    after = new_run(runs, workdir)
    after.start()
    after.wait_ready()

    assert "left running by a killed stack" in after.output()
    assert alive(left) == []
    assert after.stop(signal.SIGINT) == 0, after.output()


def test_sigint_while_starting_stops_what_was_started(workdir: Path, runs: list[StackRun]) -> None:
    run = new_run(runs, workdir)
    run.start()
    runtime = workdir / "data" / "devstack.json"
    while not runtime.exists():  # written as soon as PostgreSQL runs
        assert run.proc is not None and run.proc.poll() is None, run.output()
        time.sleep(0.02)
    started = run.process_tree()

    assert run.stop(signal.SIGINT) == 0, run.output()
    assert "is ready" not in run.output()
    assert alive(started) == []
    assert processes_mentioning(str(workdir), f"-p {run.aws_port}") == []


@pytest.mark.parametrize(
    "setting", ["ROTO_PORT", "ROTO_DEVSTACK_REDIS_PORT", "ROTO_DEVSTACK_AWS_PORT"]
)
def test_busy_port_fails_fast_naming_the_port_and_the_setting(
    workdir: Path, runs: list[StackRun], setting: str
) -> None:
    run = new_run(runs, workdir)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", int(run.env[setting])))
        squatter.listen()
        run.start()
        code = run.wait_exit(timeout_s=30)
    assert code == 1
    assert f"port {run.env[setting]}" in run.output()
    assert setting in run.output()
    assert not (workdir / "data" / "postgres").exists()
