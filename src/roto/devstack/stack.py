"""The embedded stack behind ``make run``: real PostgreSQL and Redis, moto's S3+SQS endpoint, the
API and the workers, all on this machine, with their state under ``ROTO_DATA_DIR``."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import FrameType
from typing import IO, Any, TypeVar
from urllib.error import HTTPError, URLError
from urllib.request import urlopen

import msgspec

from roto.devstack import state
from roto.devstack.children import (
    app_processes,
    child_env,
    gpu_banner,
    traces_banner,
    use_local_aws_credentials,
)
from roto.devstack.processes import Child, LogSink, route_own_logs, stop_children
from roto.devstack.provision import provision
from roto.devstack.s3mirror import PeriodicSync, S3Mirror, open_s3_client
from roto.devstack.servers import Servers
from roto.devstack.state import StackError
from roto.settings import ENV_PREFIX, Settings, load_settings
from roto.webapp import web_banner

DATABASE = "roto"
READY_TIMEOUT_S = 120.0
SUPERVISE_POLL_S = 0.25
LIVENESS_PATH = ENV_PREFIX + "WORKER_LIVENESS_PATH"
T = TypeVar("T")


class Interrupted(Exception):
    """Ctrl-C or SIGTERM arrived while the stack was starting."""


class Stack:
    """Starts everything in order, watches it, and stops it in the reverse order."""

    def __init__(self, settings: Settings) -> None:
        self.data_dir = Path(settings.data_dir).resolve()
        self.settings = msgspec.structs.replace(settings, data_dir=str(self.data_dir))
        self.redis_port = settings.devstack_redis_port or settings.port + 1
        self.aws_port = settings.devstack_aws_port or settings.port + 2
        self.began = time.monotonic()
        self.first_run = False
        self.timings: dict[str, float] = {}
        self.stop_requested = False
        self.forced = False
        self.sink: LogSink | None = None
        self.lock: IO[str] | None = None
        self.servers: Servers | None = None
        self.children: list[Child] = []
        self.periodic: PeriodicSync | None = None

    def run(self) -> int:
        """Start, serve until a signal or a crash, stop; returns the process exit code."""
        # SIGHUP too: children have their own process groups, so a closed terminal reaches
        # only the stack, which must then stop them.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, self._on_signal)
        code = 1
        try:
            self._start()
            code = self._supervise()
        except Interrupted:
            code = 0
        except StackError as exc:
            self.log(f"cannot start: {exc}")
        except Exception:
            if self.stop_requested:  # e.g. initdb, killed by the same Ctrl-C
                code = 0
            else:
                self.log("failed to start:\n" + traceback.format_exc())
        finally:
            self._shutdown()
        return code

    def log(self, message: str) -> None:
        if self.sink is None:
            print(message, file=sys.stderr, flush=True)
            return
        for line in message.splitlines() or [""]:
            self.sink.write("devstack", line)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        # Flags only: raising here could leave a just-started process unrecorded, hence orphaned.
        if self.stop_requested:
            self.forced = True
        self.stop_requested = True

    def _check_stop(self) -> None:
        if self.stop_requested:
            raise Interrupted

    def _start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.sink = LogSink(self.data_dir / "logs")
        route_own_logs(self.sink)
        self.lock = state.lock_data_dir(self.data_dir)
        state.stop_leftovers(self.data_dir, self.log)
        state.ensure_port_free(self.settings.host, self.settings.port, "the API", "ROTO_PORT")
        state.ensure_port_free("127.0.0.1", self.redis_port, "Redis", "ROTO_DEVSTACK_REDIS_PORT")
        state.ensure_port_free("127.0.0.1", self.aws_port, "S3+SQS", "ROTO_DEVSTACK_AWS_PORT")
        use_local_aws_credentials()

        servers = self.servers = Servers(self.data_dir, self.sink)
        self.first_run = servers.is_first_run()
        self.log("starting PostgreSQL" + (" (first run: initdb)" if self.first_run else ""))
        # moto takes seconds to import: it starts while PostgreSQL does.
        with ThreadPoolExecutor(1, thread_name_prefix="start-moto") as pool:
            moto_started = pool.submit(self._timed, "moto", servers.start_moto, self.aws_port)
            postgres = self._timed("postgres", servers.start_postgres)
            self._record()
            self._check_stop()
            redis = self._timed("redis", servers.start_redis, self.redis_port)
        moto = moto_started.result()
        self._record()
        self._check_stop()

        self.settings = msgspec.structs.replace(
            self.settings,
            database_url=postgres.dsn(DATABASE),
            redis_url=redis.url,
            aws_endpoint_url=moto.endpoint,
            jwt_secret=self.settings.jwt_secret or state.jwt_secret(self.data_dir),
        )
        done = self._timed(
            "provision", asyncio.run, provision(self.settings, postgres.dsn(), DATABASE)
        )
        if done.migrations:
            self.log(f"applied migrations: {', '.join(done.migrations)}")
        if done.requeued:
            self.log(f"requeued {done.requeued} unfinished job(s): the local queues start empty")
        self._timed("s3 restore", self._start_s3_mirror, moto.endpoint)
        self._check_stop()

        env = child_env(self.settings)
        for spec in app_processes(self.settings):
            self.children.append(Child.start(spec, env, self.sink))
            self._record()
        self._timed("api ready", self._wait_ready)
        self.log(self._banner())

    def _timed(self, phase: str, step: Callable[..., T], *args: Any) -> T:
        began = time.monotonic()
        result = step(*args)
        self.timings[phase] = time.monotonic() - began
        return result

    def _start_s3_mirror(self, endpoint: str) -> None:
        client = open_s3_client(endpoint, self.settings.aws_region)
        mirror = S3Mirror(client, self.settings.s3_bucket, self.data_dir / "s3")
        restored = mirror.restore()
        if restored:
            self.log(f"restored {restored} S3 object(s) from {mirror.root}")
        self.periodic = PeriodicSync(
            mirror,
            self.settings.devstack_s3_sync_interval_s,
            lambda exc: self.log(f"saving S3 objects failed, will retry: {exc!r}"),
        )
        self.periodic.start()

    def _wait_ready(self) -> None:
        wildcard = self.settings.host in ("0.0.0.0", "::")  # noqa: S104
        host = "127.0.0.1" if wildcard else self.settings.host
        url = f"http://{host}:{self.settings.port}/readyz"
        deadline = time.monotonic() + READY_TIMEOUT_S
        last = "no answer yet"
        while time.monotonic() < deadline:
            self._check_stop()
            dead = self._dead_process()
            if dead:
                raise StackError(f"{dead} while starting")
            try:
                with urlopen(url, timeout=2) as answer:
                    if answer.status == 200:
                        return
            except HTTPError as exc:
                last = f"{exc.code} {exc.read()[:300].decode(errors='replace')}"
            except (URLError, OSError) as exc:
                last = str(exc)
            time.sleep(0.2)
        raise StackError(f"{url} did not answer 200 within {READY_TIMEOUT_S:.0f} s: {last}")

    def _supervise(self) -> int:
        awaited = self._workers()
        while not self.stop_requested:
            dead = self._dead_process()
            if dead:
                self.log("!" * 72)
                self.log(f"!!! {dead}: stopping the whole stack")
                self.log("!" * 72)
                return 1
            if awaited:
                self._announce_ready_workers(awaited)
            time.sleep(SUPERVISE_POLL_S)
        return 0

    def _workers(self) -> dict[Child, Path]:
        """The stack's workers, each with the liveness file its spec gives it."""
        return {
            child: Path(child.spec.env[LIVENESS_PATH])
            for child in self.children
            if LIVENESS_PATH in child.spec.env
        }

    def _announce_ready_workers(self, awaited: dict[Child, Path]) -> None:
        """Say once when each worker in ``awaited`` first beats as ready, and stop awaiting it:
        the banner comes when the API answers, and the GPU daemon still loads its model then
        (a click before this line waits in its queue)."""
        for child, path in list(awaited.items()):
            try:
                beat = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):  # not written yet
                continue
            # A file left by an earlier run names another pid.
            if beat.get("pid") == child.pid and beat.get("state") == "ready":
                took = time.monotonic() - self.began
                self.log(f"{child.name} takes jobs ({took:.1f} s after the stack started)")
                del awaited[child]

    def _dead_process(self) -> str | None:
        """A sentence about the first process that is no longer running, if any."""
        assert self.sink is not None and self.servers is not None
        for child in self.children:
            code = child.exit_code()
            if code is not None:
                return f"{child.name} exited with code {code} (log: {self.sink.path(child.name)})"
        return self.servers.dead()

    def _record(self) -> None:
        """Write ``devstack.json`` so a later stack can stop what this one leaves if killed."""
        assert self.servers is not None
        apps = [state.describe_process(child.name, child.pid) for child in self.children]
        s = self.settings
        state.write_runtime(
            self.data_dir,
            state.RuntimeInfo(
                stack_pid=os.getpid(),
                api_url=f"http://{s.host}:{s.port}",
                database_url=self.servers.postgres.dsn(DATABASE) if self.servers.postgres else "",
                redis_url=self.servers.redis.url if self.servers.redis else "",
                aws_endpoint_url=self.servers.moto.endpoint if self.servers.moto else "",
                processes=apps + self.servers.processes(),
            ),
        )

    def _banner(self) -> str:
        """What is where, printed once the stack answers."""
        assert self.servers is not None and self.sink is not None
        s = self.settings
        took = time.monotonic() - self.began
        kind = "first run, initdb included" if self.first_run else "restart"
        pids = {info.name: info.pid for info in self.servers.processes()}
        apps = ", ".join(f"{child.name} (pid {child.pid})" for child in self.children)
        lines = [
            "=" * 72,
            f"Megaton Roto dev stack is ready in {took:.1f} s ({kind})",
            "  took         " + ", ".join(f"{k} {v:.1f} s" for k, v in self.timings.items()),
            f"  web app      http://{s.host}:{s.port}/   {web_banner()}",
            f"  API          http://{s.host}:{s.port}/v1   docs /schema/swagger, /readyz, /metrics",
            f"  data dir     {self.data_dir}",
            f"  PostgreSQL   {s.database_url}   pid {pids['postgres']}",
            f"  Redis        {s.redis_url}   pid {pids['redis']}",
            f"  S3 + SQS     {s.aws_endpoint_url}   moto, pid {pids['moto']}, bucket {s.s3_bucket}",
            f"  S3 saved to  {self.data_dir / 's3'} every "
            f"{s.devstack_s3_sync_interval_s:g} s and on stop",
            f"  processes    {apps}",
            f"  GPU daemon   {gpu_banner(s)}",
            f"  logs         {self.sink.log_dir}/ (servers log only there)",
            f"  traces       {traces_banner(s)}",
            "  Ctrl-C stops everything (press it again to force)",
            "=" * 72,
        ]
        return "\n".join(lines)

    def _shutdown(self) -> None:
        if self.stop_requested:
            self.log("stopping" + (" (forced)" if self.forced else "; Ctrl-C again to force"))

        began = time.monotonic()

        def forced() -> bool:
            return self.forced

        stop_children(self.children, forced, self.log)
        servers = self.servers
        if self.periodic is not None:
            self.periodic.stop()
            if servers is not None and servers.is_moto_running():
                self._final_s3_save(self.periodic.mirror)
        if servers is not None:
            servers.stop(forced, self.log)
            self.log(f"stopped in {time.monotonic() - began:.1f} s")
        if self.lock is not None:
            state.remove_runtime(self.data_dir)
            self.lock.close()
        if self.sink is not None:
            self.sink.close()

    def _final_s3_save(self, mirror: S3Mirror) -> None:
        if self.forced:
            self.log("forced: S3 changes since the last periodic save are not kept")
            return
        try:
            saved = mirror.sync()
        except Exception as exc:
            self.log(f"could not save S3 objects: {exc!r}")
            return
        self.log(f"saved S3 objects: {saved.total} kept, {saved.saved} new or changed")


def main() -> int:
    """Entry point of ``python -m roto.devstack``."""
    try:
        settings = load_settings()
    except ValueError as exc:
        print(f"devstack: {exc}", file=sys.stderr)
        return 2
    return Stack(settings).run()
