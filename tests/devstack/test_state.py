"""The dev stack's own files and checks: lock, JWT secret, busy ports, leftovers of a killed run."""

from __future__ import annotations

import json
import socket
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from roto.devstack import state
from roto.devstack.state import StackError


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(["sleep", "60"])
    yield proc
    proc.kill()
    proc.wait()


def runtime_naming(proc: subprocess.Popen[bytes], create_time: float) -> state.RuntimeInfo:
    return state.RuntimeInfo(
        stack_pid=1,
        api_url="",
        database_url="",
        redis_url="",
        aws_endpoint_url="",
        processes=[state.ProcessInfo(name="api", pid=proc.pid, create_time=create_time)],
    )


def test_jwt_secret_is_made_once_and_kept_private(tmp_path: Path) -> None:
    first = state.jwt_secret(tmp_path)
    (tmp_path / state.JWT_SECRET_FILE).chmod(0o644)

    second = state.jwt_secret(tmp_path)

    assert len(first) >= 32
    assert second == first
    assert stat.S_IMODE((tmp_path / state.JWT_SECRET_FILE).stat().st_mode) == 0o600


def test_empty_jwt_secret_file_is_replaced(tmp_path: Path) -> None:
    (tmp_path / state.JWT_SECRET_FILE).write_text("\n")

    assert state.jwt_secret(tmp_path).strip()


def test_second_lock_on_a_data_dir_is_refused_naming_the_setting(tmp_path: Path) -> None:
    held = state.lock_data_dir(tmp_path)
    try:
        with pytest.raises(StackError, match="ROTO_DATA_DIR") as refused:
            state.lock_data_dir(tmp_path)
    finally:
        held.close()
    assert str(psutil.Process().pid) in str(refused.value)
    state.lock_data_dir(tmp_path).close()  # free again once the holder is gone


def test_busy_port_error_names_the_port_and_the_setting() -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        with pytest.raises(StackError, match=f"port {port}.*ROTO_DEVSTACK_REDIS_PORT"):
            state.ensure_port_free("127.0.0.1", port, "Redis", "ROTO_DEVSTACK_REDIS_PORT")


def test_leftovers_of_a_killed_stack_are_stopped(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    created = psutil.Process(sleeper.pid).create_time()
    state.write_runtime(tmp_path, runtime_naming(sleeper, created))
    said: list[str] = []

    state.stop_leftovers(tmp_path, said.append)

    assert sleeper.wait(timeout=5) is not None
    assert said and f"pid {sleeper.pid}" in said[0]
    assert state.read_runtime(tmp_path) is None


def test_a_reused_pid_is_not_taken_for_a_leftover(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    created = psutil.Process(sleeper.pid).create_time()
    state.write_runtime(tmp_path, runtime_naming(sleeper, created - 100))

    state.stop_leftovers(tmp_path, lambda message: None)

    assert sleeper.poll() is None


def test_dead_postgres_handles_are_forgotten(tmp_path: Path) -> None:
    finished = subprocess.Popen(["true"])
    finished.wait()
    live = psutil.Process().pid
    (tmp_path / ".handle_pids.json").write_text(json.dumps([finished.pid, live]))

    state.forget_dead_postgres_handles(tmp_path)

    assert json.loads((tmp_path / ".handle_pids.json").read_text()) == [live]
