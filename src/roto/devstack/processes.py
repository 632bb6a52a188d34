"""Child processes of the dev stack: each in its own process group, its output prefixed on stdout
and copied to ``logs/<name>.log``."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import structlog

NAME_WIDTH = 12
POLL_S = 0.1
KILL_WAIT_S = 10.0


class LogSink:
    """Writes whole lines to stdout (prefixed by the writer's name) and to one file per name."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        log_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._console = True
        self._files: dict[str, IO[str]] = {}

    def path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def write(self, name: str, line: str) -> None:
        line = line.rstrip("\n")
        with self._lock:
            log_file = self._files.get(name)
            if log_file is None:
                log_file = self._files[name] = open(self.path(name), "a", encoding="utf-8")  # noqa: SIM115
            log_file.write(line + "\n")
            log_file.flush()
            if not self._console:
                return
            try:
                sys.stdout.write(f"{name:<{NAME_WIDTH}}| {line}\n")
                sys.stdout.flush()
            except OSError:
                # stdout went away (a closed pipe or terminal): keep the files, and keep reading
                # the children's output so that they never block on a full pipe.
                self._console = False

    def close(self) -> None:
        with self._lock:
            for log_file in self._files.values():
                log_file.close()
            self._files.clear()


class SinkStream:
    """A text stream that hands whole lines to a ``LogSink`` (for loggers that want a file)."""

    def __init__(self, sink: LogSink, name: str) -> None:
        self.sink = sink
        self.name = name
        self._partial = ""

    def write(self, text: str) -> int:
        *lines, self._partial = (self._partial + text).split("\n")
        for line in lines:
            self.sink.write(self.name, line)
        return len(text)

    def flush(self) -> None:
        """Lines are written as they complete."""


@dataclass(frozen=True)
class ChildSpec:
    """A long-running process of the stack: its name (in logs) and its command line."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str] = field(default_factory=dict)
    stop_timeout_s: float = 20.0


class Child:
    """A started ``ChildSpec``; its process group is its own, so a terminal's Ctrl-C reaches only
    the stack, which stops children in order."""

    def __init__(self, spec: ChildSpec, proc: subprocess.Popen[bytes], pump: threading.Thread):
        self.spec = spec
        self.proc = proc
        self._pump = pump

    @classmethod
    def start(cls, spec: ChildSpec, env: Mapping[str, str], sink: LogSink) -> Child:
        proc = subprocess.Popen(
            list(spec.argv),
            env={**env, **spec.env},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            process_group=0,
        )
        assert proc.stdout is not None
        pump = threading.Thread(
            target=_pump_lines, args=(proc.stdout, spec.name, sink), name=f"log-{spec.name}"
        )
        pump.daemon = True
        pump.start()
        return cls(spec, proc, pump)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def pid(self) -> int:
        return self.proc.pid

    def exit_code(self) -> int | None:
        """None while it runs."""
        return self.proc.poll()

    def signal_group(self, sig: signal.Signals) -> None:
        """Signal the child and anything it spawned (its whole process group)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)

    def finish(self) -> None:
        """Reap the process, kill leftovers of its group and drain its output."""
        self.signal_group(signal.SIGKILL)
        self.proc.wait()
        self._pump.join(timeout=2.0)


def stop_children(
    children: Sequence[Child], should_force: Callable[[], bool], log: Callable[[str], None]
) -> None:
    """SIGTERM every child at once, wait for each up to its timeout (or until forced), then
    SIGKILL what is left, so none outlives the stack."""
    for child in children:
        if child.exit_code() is None:
            child.signal_group(signal.SIGTERM)
    started = time.monotonic()
    for child in children:
        deadline = started + child.spec.stop_timeout_s
        while child.exit_code() is None and time.monotonic() < deadline and not should_force():
            time.sleep(POLL_S)
        if child.exit_code() is None:
            log(f"killing {child.name} ({_why_kill(should_force)})")
        child.finish()


def stop_server(
    name: str,
    *,
    terminate: Callable[[], None],
    kill: Callable[[], None],
    is_running: Callable[[], bool],
    timeout_s: float,
    should_force: Callable[[], bool],
    log: Callable[[str], None],
) -> None:
    """Ask a server to stop, wait up to ``timeout_s`` (or until forced), then kill it."""
    if not is_running():
        return
    if should_force():
        kill()
    else:
        terminate()
    deadline = time.monotonic() + timeout_s
    while is_running() and time.monotonic() < deadline and not should_force():
        time.sleep(POLL_S)
    if is_running():
        log(f"killing {name} ({_why_kill(should_force)})")
        kill()
        deadline = time.monotonic() + KILL_WAIT_S
        while is_running() and time.monotonic() < deadline:
            time.sleep(POLL_S)
        if is_running():
            log(f"{name} is still running after being killed")


def route_own_logs(sink: LogSink) -> None:
    """Route this process's own structlog output (warnings and worse) through the sink."""
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.dev.ConsoleRenderer(colors=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(SinkStream(sink, "devstack")),  # type: ignore[arg-type]
    )
    # pgserver asks platformdirs for a runtime dir, which warns where XDG_RUNTIME_DIR is unset
    # (containers, CI); its fallback under /tmp is fine for a socket and a lock file.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")


def _why_kill(should_force: Callable[[], bool]) -> str:
    return "forced" if should_force() else "it did not stop in time"


def _pump_lines(stream: IO[bytes], name: str, sink: LogSink) -> None:
    for raw in iter(stream.readline, b""):
        sink.write(name, raw.decode("utf-8", errors="replace"))
    stream.close()
