"""What the dev stack keeps in its data dir besides the servers' own data: a lock (one stack per
data dir), the JWT secret, and ``devstack.json`` naming the running processes."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import signal
import socket
import stat
from collections.abc import Callable
from pathlib import Path
from typing import IO

import msgspec
import psutil

LOCK_FILE = "devstack.lock"
RUNTIME_FILE = "devstack.json"
JWT_SECRET_FILE = "jwt_secret"  # noqa: S105 (a file name, not a secret)
LEFTOVER_STOP_TIMEOUT_S = 10.0
# How to stop what a killed stack left: servers cleanly (PostgreSQL's fast shutdown, Redis saves
# on SIGTERM); app processes at once, since their output pipe is gone and the next start
# requeues whatever jobs they were running.
LEFTOVER_SIGNALS = {"postgres": signal.SIGINT, "redis": signal.SIGTERM, "moto": signal.SIGTERM}


class StackError(Exception):
    """An expected failure to start, with a message for the person at the terminal."""


class ProcessInfo(msgspec.Struct, frozen=True):
    name: str
    pid: int
    create_time: float


class RuntimeInfo(msgspec.Struct, frozen=True):
    """Where everything runs; written when the stack is ready, removed when it stops."""

    stack_pid: int
    api_url: str
    database_url: str
    redis_url: str
    aws_endpoint_url: str
    # In stop order: app processes first, then the servers.
    processes: list[ProcessInfo]


def describe_process(name: str, pid: int) -> ProcessInfo:
    return ProcessInfo(name=name, pid=pid, create_time=psutil.Process(pid).create_time())


def lock_data_dir(data_dir: Path) -> IO[str]:
    """Hold an exclusive lock on the data dir for the life of the process."""
    handle = open(data_dir / LOCK_FILE, "a+", encoding="utf-8")  # noqa: SIM115
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "?"
        handle.close()
        raise StackError(
            f"another dev stack (pid {holder}) is running on ROTO_DATA_DIR={data_dir}; "
            "stop it, or set ROTO_DATA_DIR to another folder"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def write_runtime(data_dir: Path, info: RuntimeInfo) -> None:
    tmp = data_dir / (RUNTIME_FILE + ".tmp")
    tmp.write_bytes(msgspec.json.format(msgspec.json.encode(info)))
    os.replace(tmp, data_dir / RUNTIME_FILE)


def read_runtime(data_dir: Path) -> RuntimeInfo | None:
    path = data_dir / RUNTIME_FILE
    try:
        return msgspec.json.decode(path.read_bytes(), type=RuntimeInfo)
    except (FileNotFoundError, msgspec.DecodeError, msgspec.ValidationError):
        return None


def remove_runtime(data_dir: Path) -> None:
    (data_dir / RUNTIME_FILE).unlink(missing_ok=True)


def stop_leftovers(data_dir: Path, log: Callable[[str], None]) -> None:
    """Stop processes that a killed stack left running (its lock is free, so it is gone)."""
    info = read_runtime(data_dir)
    if info is None:
        return
    found = []
    for recorded in info.processes:
        try:
            proc = psutil.Process(recorded.pid)
            if proc.create_time() != recorded.create_time:
                continue  # the pid now belongs to someone else
        except psutil.NoSuchProcess:
            continue
        log(f"stopping {recorded.name} (pid {recorded.pid}) left running by a killed stack")
        with contextlib.suppress(psutil.NoSuchProcess):
            # Its own children too (moto serves from a worker process), should it need a kill.
            found.extend(proc.children(recursive=True))
            proc.send_signal(LEFTOVER_SIGNALS.get(recorded.name, signal.SIGKILL))
        found.append(proc)
    _, still_running = psutil.wait_procs(found, timeout=LEFTOVER_STOP_TIMEOUT_S)
    for proc in still_running:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(still_running, timeout=LEFTOVER_STOP_TIMEOUT_S)
    remove_runtime(data_dir)


def forget_dead_postgres_handles(pgdata: Path) -> None:
    """pgserver stops the server only when the last process that opened it exits, counting
    pids in ``.handle_pids.json``; a killed stack leaves its pid there, so drop dead pids."""
    path = pgdata / ".handle_pids.json"
    with contextlib.suppress(FileNotFoundError, ValueError):
        pids = json.loads(path.read_text())
        path.write_text(json.dumps([pid for pid in pids if psutil.pid_exists(pid)]))


def jwt_secret(data_dir: Path) -> str:
    """The stack's JWT signing secret: made once, kept (mode 0600) so tokens outlive a restart."""
    path = data_dir / JWT_SECRET_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if stat.S_IMODE(path.stat().st_mode) != 0o600:
            path.chmod(0o600)
        secret = path.read_text(encoding="utf-8").strip()
        if secret:
            return secret
        path.unlink()
        return jwt_secret(data_dir)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        secret = secrets.token_urlsafe(48)
        out.write(secret + "\n")
    return secret


def ensure_port_free(host: str, port: int, what: str, setting: str) -> None:
    """Fail early, naming the setting to change, when something already listens on ``port``."""
    with socket.socket() as sock:
        # Same option the servers set, so a port left in TIME_WAIT by the last run is not "busy".
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise StackError(
                f"port {port} on {host} is in use ({exc.strerror}); the dev stack needs it for "
                f"{what}: stop whatever listens there, or set {setting} to another port"
            ) from None
