"""Unit tests of the runtime's pure parts: slot splitting, retry backoff, roles, errors."""

from __future__ import annotations

import asyncio

import pytest

from roto.worker.jobrun import describe_error
from roto.worker.main import run_event_loop
from roto.worker.receiver import retry_backoff_s
from roto.worker.registry import build_role, role_names


def test_retry_backoff_doubles_and_stops_at_the_cap() -> None:
    assert [retry_backoff_s(n, 60) for n in (1, 2, 3, 4, 5)] == [5, 10, 20, 40, 60]
    assert retry_backoff_s(1, 2) == 2


def test_unknown_role_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"installed: .*media"):
        build_role("nope")


def test_media_role_runs_ingest_and_export_from_the_media_queue() -> None:
    role = build_role("media")
    assert "media" in role_names()
    assert role.queues == ("media",)
    assert set(role.job_types) == {"ingest", "export"}


def test_unexpected_error_reason_names_the_exception() -> None:
    assert describe_error(RuntimeError("disk full")) == "RuntimeError: disk full"
    assert describe_error(KeyError()) == "KeyError"


def test_a_worker_process_runs_its_event_loop_on_uvloop() -> None:
    """uvloop is a dependency (as uvicorn runs the API on it): the worker's loop is libuv's."""
    loops: list[str] = []

    async def probe() -> None:
        loops.append(type(asyncio.get_running_loop()).__module__.split(".")[0])

    run_event_loop(probe())
    assert loops == ["uvloop"]
