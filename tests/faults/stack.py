"""Real processes for the fault-injection tests: the API (uvicorn), the media worker and the GPU
daemon (``python -m roto.worker``), each started with the test's settings on the session's
PostgreSQL, Redis and moto, and killed with SIGKILL when a test says so. Workers are started
without the JWT secret: they must not need it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec

from roto.devstack.services import LOCAL_AWS_ENV, free_port
from roto.settings import ENV_PREFIX, Settings
from tests.conftest import Services
from tests.worker.support import REPO_ROOT, log_lines, settings_env

START_TIMEOUT_S = 120.0
#: The GPU daemon on a CPU, as the model tests run it: SAM2 tiny, random weights, 256 px.
CPU_MODEL = {
    "model_image_size": 256,
    "model_device": "cpu",
    "model_allow_random_weights": True,
    "batch_max_size": 4,
}


class Process:
    """One started process and its log file."""

    def __init__(self, name: str, proc: subprocess.Popen[bytes], log_path: Path) -> None:
        self.name = name
        self.proc = proc
        self.log_path = log_path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill9(self) -> None:
        """SIGKILL: no drain, no cleanup, as the OOM killer or a lost host does it."""
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self, timeout_s: float = 60.0) -> int | None:
        if not self.alive():
            return self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill9()
            return None

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def events(self) -> list[str]:
        return [str(line.get("event")) for line in log_lines(self.log_path)]

    async def wait_for_event(self, event: str, timeout_s: float = START_TIMEOUT_S) -> None:
        """Until the process logs ``event`` (a structlog event name)."""
        deadline = time.monotonic() + timeout_s
        while event not in self.events():
            if not self.alive():
                raise AssertionError(f"{self.name} exited:\n{self.output()[-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {event} from {self.name}:\n{self.output()[-3000:]}")
            await asyncio.sleep(0.1)


class Processes:
    """Starts processes for one test and kills whatever is left at its end."""

    def __init__(self, settings: Settings, workdir: Path) -> None:
        self.settings = settings
        self.workdir = workdir
        self.started: list[Process] = []
        self.scratch = workdir / "scratch"  # the workers' TMPDIR
        self.scratch.mkdir(parents=True, exist_ok=True)

    def env(self, settings: Settings, *, jwt: bool) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
        env.update(LOCAL_AWS_ENV)
        env.update(settings_env(settings))
        env.update({"ROTO_LOG_JSON": "true", "ROTO_LOG_LEVEL": "INFO", "TMPDIR": str(self.scratch)})
        if not jwt:
            env.pop(ENV_PREFIX + "JWT_SECRET")
        return env

    def _start(self, name: str, argv: list[str], env: dict[str, str]) -> Process:
        log_path = self.workdir / f"{name}-{len(self.started)}.log"
        with log_path.open("ab") as out:
            proc = subprocess.Popen(
                argv, cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        process = Process(name, proc, log_path)
        self.started.append(process)
        return process

    async def worker(self, role: str, **overrides: Any) -> Process:
        """``python -m roto.worker --role <role>``, once it has started receiving."""
        settings = msgspec.structs.replace(self.settings, **overrides)
        argv = [sys.executable, "-m", "roto.worker", "--role", role]
        process = self._start(f"worker-{role}", argv, self.env(settings, jwt=False))
        await process.wait_for_event("worker_started")
        return process

    async def api(self, **overrides: Any) -> tuple[Process, str]:
        """The API under uvicorn on a free port, once /healthz answers; (process, base URL)."""
        settings = msgspec.structs.replace(self.settings, **overrides)
        port = free_port()
        argv = [sys.executable, "-m", "uvicorn", "roto.app:create_app", "--factory"]
        argv += ["--host", "127.0.0.1", "--port", str(port), "--timeout-graceful-shutdown", "3"]
        process = self._start("api", argv, self.env(settings, jwt=True))
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + START_TIMEOUT_S
        async with httpx.AsyncClient(base_url=url, timeout=5) as http:
            while True:
                if not process.alive():
                    raise AssertionError(f"the API exited:\n{process.output()[-3000:]}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get("/healthz")).status_code == 200:
                        return process, url
                assert time.monotonic() < deadline, process.output()[-3000:]
                await asyncio.sleep(0.1)

    def kill_all(self) -> None:
        for process in self.started:
            if process.alive():
                process.kill9()


@contextlib.contextmanager
def processes(settings: Settings, workdir: Path) -> Iterator[Processes]:
    running = Processes(settings, workdir)
    try:
        yield running
    finally:
        running.kill_all()


def restart_postgres(services: Services) -> None:
    """``pg_ctl restart -m fast``: every connection is cut, and new ones are refused until the
    server is back (a few seconds), as in a failover or a maintenance restart."""
    from pgserver._commands import pg_ctl  # the wheel's own pg_ctl, as it started the server

    server = services.postgres.server
    pg_ctl(["-w", "-m", "fast", "restart"], pgdata=server.pgdata, user=server.system_user)
