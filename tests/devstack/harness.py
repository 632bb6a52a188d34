"""Runs ``python -m roto.devstack`` as a real subprocess, as `make run` does, on free ports."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil

from roto.devstack import state
from roto.devstack.services import free_port

READY_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 90.0


class StackRun:
    """One run of the dev stack on ``data_dir``; its output goes to ``log_path``."""

    def __init__(self, data_dir: Path, log_path: Path, **settings: str) -> None:
        self.data_dir = data_dir
        self.log_path = log_path
        self.port, self.redis_port, self.aws_port = distinct_free_ports(3)
        # Nor OTEL_*: the stack's spans go to its data dir, not to a collector this shell names.
        self.env = {
            k: v for k, v in os.environ.items() if not k.startswith(("ROTO_", "AWS_", "OTEL_"))
        }
        self.env.update(
            ROTO_DATA_DIR=str(data_dir),
            ROTO_PORT=str(self.port),
            ROTO_DEVSTACK_REDIS_PORT=str(self.redis_port),
            ROTO_DEVSTACK_AWS_PORT=str(self.aws_port),
            ROTO_WORKER_WAIT_TIME_S="1",
        )
        self.env.update(settings)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def aws_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.aws_port}"

    def start(self) -> None:
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "roto.devstack"],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self) -> float:
        """Seconds from ``start`` until /readyz answers 200."""
        assert self.proc is not None
        began = time.monotonic()
        while time.monotonic() - began < READY_TIMEOUT_S:
            if self.proc.poll() is not None:
                raise AssertionError(f"stack exited with {self.proc.returncode}:\n{self.output()}")
            try:
                if httpx.get(self.api + "/readyz", timeout=2).status_code == 200:
                    return time.monotonic() - began
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"not ready after {READY_TIMEOUT_S}s:\n{self.output()}")

    def wait_for_output(self, text: str, timeout_s: float = READY_TIMEOUT_S) -> None:
        """Until ``text`` appears in the stack's output (e.g. a worker's first log line)."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout_s
        while text not in self.output():
            if self.proc.poll() is not None:
                raise AssertionError(f"stack exited with {self.proc.returncode}:\n{self.output()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {text!r} after {timeout_s}s:\n{self.output()}")
            time.sleep(0.1)

    def runtime(self) -> dict[str, Any]:
        info: dict[str, Any] = json.loads((self.data_dir / state.RUNTIME_FILE).read_text())
        return info

    def pid_of(self, name: str) -> int:
        return next(p["pid"] for p in self.runtime()["processes"] if p["name"] == name)

    def process_tree(self) -> list[psutil.Process]:
        """Every process the stack started: its descendants, plus PostgreSQL, which pg_ctl
        detaches from the stack, and PostgreSQL's own children."""
        assert self.proc is not None
        postmaster = psutil.Process(self.pid_of("postgres"))
        stack = psutil.Process(self.proc.pid)
        return [
            *stack.children(recursive=True),
            postmaster,
            *postmaster.children(recursive=True),
        ]

    def wait_exit(self, timeout_s: float = STOP_TIMEOUT_S) -> int:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"stack still running:\n{self.output()}") from None

    def stop(self, sig: signal.Signals = signal.SIGINT) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.wait_exit()

    def kill(self) -> None:
        """Teardown after a failed test: the stack, then whatever it recorded as running."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        state.stop_leftovers(self.data_dir, lambda message: None)


@contextlib.contextmanager
def ready_stack(prefix: str, **settings: str) -> Iterator[StackRun]:
    """A whole embedded stack in a fresh data dir, ready; killed and removed afterwards."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    run = StackRun(workdir / "data", workdir / "stack.log", **settings)
    run.start()
    try:
        run.wait_ready()
        yield run
    finally:
        run.kill()
        shutil.rmtree(workdir, ignore_errors=True)


def distinct_free_ports(count: int) -> list[int]:
    ports: set[int] = set()
    while len(ports) < count:
        ports.add(free_port())
    return sorted(ports)


def alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    """Those still running (zombies count as gone), after up to a few seconds."""
    deadline = time.monotonic() + 5.0
    while True:
        running = [p for p in processes if _is_running(p)]
        if not running or time.monotonic() > deadline:
            return running
        time.sleep(0.1)


def processes_mentioning(*needles: str) -> list[str]:
    """Command lines of running processes that contain any of ``needles``."""
    found = []
    for process in psutil.process_iter(["cmdline", "status"]):
        line = " ".join(process.info["cmdline"] or [])
        if process.info["status"] != psutil.STATUS_ZOMBIE and any(n in line for n in needles):
            found.append(line)
    return found


def _is_running(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
