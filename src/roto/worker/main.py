"""The worker process: ``python -m roto.worker --role media``."""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import Coroutine
from typing import Any

import structlog

from roto.logging import configure_logging
from roto.resources import open_resources
from roto.settings import Settings, get_settings
from roto.tracing import start_tracing, stop_tracing
from roto.worker.contract import Role
from roto.worker.registry import build_role, role_names
from roto.worker.runtime import WorkerRuntime
from roto.worker.scratch import scratch_dir

log = structlog.get_logger(__name__)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m roto.worker", description=__doc__)
    parser.add_argument(
        "--role",
        choices=role_names(),
        default=None,
        help="which jobs to run (default: ROTO_WORKER_ROLE)",
    )
    return parser.parse_args(argv)


async def serve(settings: Settings, role_name: str) -> None:
    """Run the worker until SIGTERM or SIGINT, then drain; its temp files live in its own
    scratch directory, and those of workers that were killed are removed first."""
    role = build_role(role_name)
    with scratch_dir():
        await _serve(settings, role)


async def _serve(settings: Settings, role: Role) -> None:
    async with open_resources(settings) as resources:
        runtime = WorkerRuntime(resources, role)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, runtime.request_stop)
        try:
            await runtime.run()
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)


def run_event_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run ``main`` on uvloop (libuv's event loop, as uvicorn runs the API) where it is
    installed, else on asyncio's own loop."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
        return
    uvloop.run(main)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = get_settings()
    configure_logging(settings.log_level, json_lines=settings.log_json)
    role_name = args.role or settings.worker_role
    log.info("worker_process_starting", role=role_name, env=settings.env)
    # Service roto-<env>-<role>, unless OTEL_SERVICE_NAME names it.
    traced = start_tracing(settings, role_name)
    try:
        run_event_loop(serve(settings, role_name))
    finally:
        if traced:
            stop_tracing()  # exports the spans still waiting
    return 0
