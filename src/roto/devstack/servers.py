"""The three servers of the dev stack (PostgreSQL, Redis, moto's S3+SQS) as one unit: started in
order, watched, and stopped so that none outlives the stack."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import psutil

from roto.devstack.processes import LogSink, stop_server
from roto.devstack.services import MotoServer, Postgres, RedisServer, kill_tree
from roto.devstack.state import ProcessInfo, describe_process, forget_dead_postgres_handles

STOP_TIMEOUT_S = 30.0


class Servers:
    """Whatever has been started so far; ``stop`` handles a partial start too."""

    def __init__(self, data_dir: Path, sink: LogSink) -> None:
        self.data_dir = data_dir
        self.sink = sink
        self.postgres: Postgres | None = None
        self.redis: RedisServer | None = None
        self.moto: MotoServer | None = None

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "postgres"

    def is_first_run(self) -> bool:
        return not (self.pgdata / "PG_VERSION").exists()

    def start_postgres(self) -> Postgres:
        forget_dead_postgres_handles(self.pgdata)
        self.postgres = Postgres.start(self.pgdata)
        return self.postgres

    def start_redis(self, port: int) -> RedisServer:
        # Its own process group: a terminal's Ctrl-C must not stop it before the app has drained.
        self.redis = RedisServer.start(
            self.data_dir / "redis", port, log_path=self.sink.path("redis"), own_process_group=True
        )
        return self.redis

    def start_moto(self, port: int) -> MotoServer:
        self.moto = MotoServer.start(port, log_path=self.sink.path("moto"), own_process_group=True)
        return self.moto

    def postmaster_pid(self) -> int:
        assert self.postgres is not None
        pid: int = self.postgres.server.get_pid()
        return pid

    def processes(self) -> list[ProcessInfo]:
        """The running servers, in stop order."""
        found = []
        if self.moto is not None:
            found.append(describe_process("moto", self.moto.proc.pid))
        if self.redis is not None:
            found.append(describe_process("redis", self.redis.proc.pid))
        if self.postgres is not None:
            found.append(describe_process("postgres", self.postmaster_pid()))
        return found

    def dead(self) -> str | None:
        """A sentence about the first server that is no longer running, if any."""
        procs = [("moto", self.moto.proc if self.moto else None)]
        procs.append(("redis", self.redis.proc if self.redis else None))
        for name, proc in procs:
            if proc is not None and proc.poll() is not None:
                return f"{name} exited with code {proc.returncode} (log: {self.sink.path(name)})"
        if self.postgres is not None and not self._postgres_running():
            return f"PostgreSQL stopped (log: {self.pgdata / 'log'})"
        return None

    def is_moto_running(self) -> bool:
        return self.moto is not None and self.moto.proc.poll() is None

    def stop(self, forced: Callable[[], bool], log: Callable[[str], None]) -> None:
        """S3+SQS first, then Redis (it saves its snapshot on SIGTERM), then PostgreSQL."""
        for name, server in (("moto", self.moto), ("redis", self.redis)):
            if server is not None:
                _stop_popen(name, server.proc, forced, log)
        if self.postgres is not None:
            self._stop_postgres(forced, log)

    def _postgres_running(self) -> bool:
        try:
            return psutil.Process(self.postmaster_pid()).status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    def _stop_postgres(self, forced: Callable[[], bool], log: Callable[[str], None]) -> None:
        assert self.postgres is not None
        pid = self.postmaster_pid()
        if not forced():
            self.postgres.stop()  # pg_ctl's fast shutdown, unless another process holds the server

        def send(sig: signal.Signals) -> None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

        # What pg_ctl left running: SIGINT is PostgreSQL's fast shutdown, SIGQUIT its immediate one.
        stop_server(
            "postgres",
            terminate=lambda: send(signal.SIGINT),
            kill=lambda: send(signal.SIGQUIT),
            is_running=self._postgres_running,
            timeout_s=STOP_TIMEOUT_S,
            should_force=forced,
            log=log,
        )
        # Also drops this process from pgserver's handles, so its exit hook leaves it alone.
        self.postgres.stop()


def _stop_popen(
    name: str, proc: subprocess.Popen[bytes], forced: Callable[[], bool], log: Callable[[str], None]
) -> None:
    stop_server(
        name,
        terminate=proc.terminate,
        kill=lambda: kill_tree(proc),
        is_running=lambda: proc.poll() is None,
        timeout_s=STOP_TIMEOUT_S,
        should_force=forced,
        log=log,
    )
