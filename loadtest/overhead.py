"""What our stack costs per request, and which ASGI server serves it faster.

For each server it starts two apps with the same command line: a second API process next to a
running embedded stack (same environment as the stack's own API, read from /proc, so Linux only)
and scripts/bare_app.py. Then it runs loadtest/hotpath.py against one endpoint at a time, at a
fixed number of users with no think time, and prints sustained req/s and p50/p99 per endpoint,
with the ratio of the API to the bare app. The stack's GPU daemon is paused (SIGSTOP) meanwhile,
so that the clicks queued at full speed wait in SQS instead of taking the API's CPU:

    python loadtest/overhead.py --stack-data-dir .roto --servers uvicorn granian --users 10
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import report

ROOT = Path(__file__).resolve().parents[1]
HOTPATH = ROOT / "loadtest" / "hotpath.py"
CLIP = ROOT / "loadtest" / "clip.mp4"
PASSWORD = "load test password 1"  # noqa: S105 (common.py's; importing it would start gevent)
# (task tag, stats name) of each phase; the bare twin runs right before the API's endpoint.
PHASES = [
    ("bare_job_read", "bare: GET job"),
    ("job_read", "GET /v1/jobs/[id]"),
    ("bare_prompt", "bare: POST prompts"),
    ("prompt", "POST /v1/videos/[id]/prompts?wait=0"),
]
UVICORN_GRACE = ["--timeout-graceful-shutdown", "5"]
PAIRS = {"job_read": "bare_job_read", "prompt": "bare_prompt"}


def server_command(server: str, app: str, port: int) -> list[str]:
    """Each server as the embedded stack would run it: one process, default settings."""
    python = sys.executable
    where = ["--host", "127.0.0.1", "--port", str(port)]
    if server == "uvicorn":  # src/roto/devstack/children.py's command
        return [python, "-m", "uvicorn", app, "--factory", *where, *UVICORN_GRACE]
    if server == "uvicorn-quiet":  # the same without the access log
        return [*server_command("uvicorn", app, port), "--no-access-log"]
    if server == "granian":
        granian = str(Path(python).with_name("granian"))
        return [granian, "--interface", "asgi", "--factory", *where, app]
    raise SystemExit(f"unknown server {server!r}: uvicorn, uvicorn-quiet or granian")


def stack_pid(data_dir: Path, name: str) -> int:
    info = json.loads((data_dir / "devstack.json").read_text())
    return int(next(p["pid"] for p in info["processes"] if p["name"] == name))


def stack_api_environment(data_dir: Path) -> dict[str, str]:
    """The environment of the running stack's API process (its database, Redis, S3, secret)."""
    pid = stack_pid(data_dir, "api")
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{proc.args} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 (local URL)
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not answer within {timeout_s}s")


def call(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})  # noqa: S310
    if body is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 (local URL)
        payload = answer.read()
    return json.loads(payload) if payload else None


def wait_for_outbox(api: str, timeout_s: float = 900.0) -> float:
    """Seconds until a new ingest job succeeds: the outbox relays in order, so the clicks that
    the last phase queued by the thousand are all sent by then."""
    began = time.monotonic()
    email = f"drain-{uuid.uuid4().hex[:12]}@loadtest.example.com"
    tokens = call("POST", f"{api}/v1/auth/register", {"email": email, "password": PASSWORD})
    auth = {"Authorization": f"Bearer {tokens['access_token']}"}
    clip = CLIP.read_bytes()
    announce = {"filename": CLIP.name, "content_type": "video/mp4", "size_bytes": len(clip)}
    created = call("POST", f"{api}/v1/videos", announce, auth)
    upload = created["upload"]
    put = urllib.request.Request(upload["url"], data=clip, method="PUT", headers=upload["headers"])  # noqa: S310
    urllib.request.urlopen(put, timeout=60).close()  # noqa: S310 (local URL)
    video_id = created["video"]["id"]
    job = call("POST", f"{api}/v1/videos/{video_id}/upload-complete", {}, auth)["job"]
    while job["status"] not in ("succeeded", "failed", "canceled"):
        if time.monotonic() - began > timeout_s:
            raise SystemExit(f"the outbox did not drain within {timeout_s}s")
        time.sleep(1.0)
        job = call("GET", f"{api}/v1/jobs/{job['id']}", headers=auth)
    return time.monotonic() - began


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def measure(args: argparse.Namespace, server: str, env: dict[str, str], out: Path) -> dict:
    """Start both apps with ``server``, run every phase, stop them; figures per phase."""
    api_port, bare_port = free_port(), free_port()
    logs = open(out / f"{server}-servers.log", "wb")  # noqa: SIM115 (open while they run)
    # One account sends every request: the per-caller limit still runs but never trips.
    api_env = {**env, "ROTO_PORT": str(api_port), "ROTO_RATE_LIMIT_PER_MINUTE": "1000000000"}
    api_command = server_command(server, "roto.app:create_app", api_port)
    bare_command = server_command(server, "scripts.bare_app:create_app", bare_port)
    api = subprocess.Popen(api_command, env=api_env, stdout=logs, stderr=logs, cwd=ROOT)
    bare = subprocess.Popen(bare_command, env=api_env, stdout=logs, stderr=logs, cwd=ROOT)
    figures = {}
    try:
        wait_for(f"http://127.0.0.1:{api_port}/readyz", api)
        wait_for(f"http://127.0.0.1:{bare_port}/v1/jobs/x", bare)
        wait_for_outbox(f"http://127.0.0.1:{api_port}")  # what earlier runs left behind
        for tag, name in PHASES:
            prefix = out / f"{server}-{tag}"
            command = [sys.executable, "-m", "locust", "-f", str(HOTPATH), "--headless"]
            command += ["--host", f"http://127.0.0.1:{api_port}", "--tags", tag]
            command += ["--bare-host", f"http://127.0.0.1:{bare_port}"]
            command += ["--users", str(args.users), "--spawn-rate", str(args.users)]
            command += ["--run-time", args.duration, "--csv", str(prefix), "--only-summary"]
            with open(f"{prefix}.log", "wb") as log:
                subprocess.call(command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
            row = report.read(prefix).row("GET" if "job" in tag else "POST", name)
            failures = report.read(prefix).failure_count()
            figures[tag] = {
                "rps": row.rps if row else 0.0,
                "p50": row.p50 if row else 0.0,
                "p99": row.p99 if row else 0.0,
                "failures": failures,
            }
            print(server, tag, figures[tag], flush=True)
        # The clicks queued at full speed wait in the outbox; how long until it is empty again.
        try:
            if args.drain_timeout > 0:
                api_url = f"http://127.0.0.1:{api_port}"
                figures["prompt"]["drain_s"] = wait_for_outbox(api_url, args.drain_timeout)
        except SystemExit as exc:
            figures["prompt"]["drain_s"] = -1.0
            print(f"{server}: {exc}", flush=True)
    finally:
        stop(api)
        stop(bare)
        logs.close()
    return figures


def render(results: dict[str, dict]) -> str:
    lines = [f"{'server':<15}{'endpoint':<16}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'fail':>7}"]
    for server, figures in results.items():
        for tag, f in figures.items():
            lines.append(
                f"{server:<15}{tag:<16}{f['rps']:>9.1f}{f['p50']:>9.0f}{f['p99']:>9.0f}"
                f"{f['failures']:>7}"
            )
        drain = figures["prompt"].get("drain_s", 0.0)
        lines.append(f"{server:<15}{'outbox drained':<16}{drain:>8.0f}s after the prompt phase")
        for tag, bare in PAIRS.items():
            ours, base = figures[tag], figures[bare]
            if ours["rps"] and base["p99"]:
                lines.append(
                    f"{server:<15}{tag + ' ratio':<16}{base['rps'] / ours['rps']:>8.1f}x"
                    f"{'':>9}{ours['p99'] / base['p99']:>8.1f}x   (bare/ours req/s, ours/bare p99)"
                )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack-data-dir", type=Path, default=ROOT / ".roto")
    parser.add_argument("--servers", nargs="+", default=["uvicorn", "granian"])
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--duration", default="20s", help="per endpoint and server")
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=300.0,
        help="seconds to wait for the outbox after the prompt phase (0: do not wait)",
    )
    parser.add_argument("--results", type=Path, default=ROOT / "loadtest" / "results" / "overhead")
    args = parser.parse_args()
    args.results.mkdir(parents=True, exist_ok=True)
    env = stack_api_environment(args.stack_data_dir)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    # In production the GPU daemon has its own machine; here it would take the CPU that the
    # API needs, working off thousands of queued clicks. Paused, it leaves them in the queue.
    daemon = stack_pid(args.stack_data_dir, "worker-gpu")
    os.kill(daemon, signal.SIGSTOP)
    try:
        results = {server: measure(args, server, env, args.results) for server in args.servers}
    finally:
        os.kill(daemon, signal.SIGCONT)
    (args.results / "overhead.json").write_text(json.dumps(results, indent=2))
    print(render(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
