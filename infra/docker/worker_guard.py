#!/usr/bin/env python3
"""Worker guard: reads a worker's heartbeat file and tells the platform what it means.

``asg`` runs on each GPU instance next to the daemon (the boot script starts it once the daemon
beats): a stale or missing heartbeat marks the instance Unhealthy, so the Auto Scaling group
replaces it (its termination hook drains it first); jobs in flight protect the instance from
scale-in, and an idle daemon lifts the protection.

``ecs`` runs as a sidecar of the media worker task: jobs in flight turn on the task's scale-in
protection through the ECS agent (``$ECS_AGENT_URI/task-protection/v1/state``), renewed while
the worker stays busy; an idle or silent worker turns it off.

The heartbeat contract (infra/README.md, "Worker heartbeat"): the worker rewrites
``<ROTO_DATA_DIR>/heartbeat`` at least every 10 s once it can take jobs, as JSON
``{"state": "ready"|"draining", "in_flight": <int>, ...}``. Its modification time is the
liveness; ``in_flight`` is what protection follows. Standard library only, except ``asg``,
which uses boto3 (in the gpu image).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Task protection lasts this long and is renewed well before it lapses while jobs run.
PROTECTION_MINUTES = 60
RENEW_AFTER_S = 30 * 60


@dataclass(frozen=True)
class Beat:
    """What the heartbeat file says now: its age, the jobs in flight and the worker's state."""

    age_s: float
    in_flight: int
    state: str


def read_beat(path: Path, now: float) -> Beat | None:
    """The heartbeat, or None when there is no file. An unreadable body still counts as a beat
    (liveness is the file's modification time) with nothing in flight."""
    try:
        written = path.stat().st_mtime
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        body = json.loads(raw)
        return Beat(
            now - written, max(0, int(body.get("in_flight", 0))), str(body.get("state", ""))
        )
    except (ValueError, TypeError, AttributeError):
        return Beat(now - written, 0, "unreadable")


def log(event: str, **fields: Any) -> None:
    """One JSON line on stdout (the container's log; a metric filter counts some events)."""
    print(json.dumps({"event": event, "env": os.environ.get("ROTO_ENV", ""), **fields}), flush=True)


class AsgGuard:
    """Marks a silent GPU instance Unhealthy and keeps a busy one out of scale-in."""

    def __init__(
        self,
        autoscaling: Any,
        *,
        group: str,
        instance_id: str,
        heartbeat: Path,
        stale_after_s: float,
    ) -> None:
        self._autoscaling = autoscaling
        self._group = group
        self._instance_id = instance_id
        self._heartbeat = heartbeat
        self._stale_after_s = stale_after_s
        self._protected: bool | None = None
        self._unhealthy = False

    def step(self, now: float) -> str:
        """Look at the heartbeat once; returns ``unhealthy``, ``busy`` or ``idle``."""
        beat = read_beat(self._heartbeat, now)
        if beat is None or beat.age_s > self._stale_after_s:
            if not self._unhealthy:
                self._autoscaling.set_instance_health(
                    InstanceId=self._instance_id,
                    HealthStatus="Unhealthy",
                    ShouldRespectGracePeriod=False,
                )
                self._unhealthy = True
                age = None if beat is None else round(beat.age_s)
                log("gpu_marked_unhealthy", instance_id=self._instance_id, heartbeat_age_s=age)
            return "unhealthy"
        busy = beat.in_flight > 0
        if busy != self._protected:
            self._autoscaling.set_instance_protection(
                InstanceIds=[self._instance_id],
                AutoScalingGroupName=self._group,
                ProtectedFromScaleIn=busy,
            )
            self._protected = busy
            log("gpu_scale_in_protection", instance_id=self._instance_id, protected=busy)
        return "busy" if busy else "idle"


class EcsGuard:
    """Keeps a media worker task with jobs in flight out of scale-in and deployments' way."""

    def __init__(self, agent_uri: str, *, heartbeat: Path, stale_after_s: float) -> None:
        if not agent_uri.startswith("http://"):
            raise ValueError(f"ECS_AGENT_URI is not an http:// URL: {agent_uri!r}")
        self._url = agent_uri.rstrip("/") + "/task-protection/v1/state"
        self._heartbeat = heartbeat
        self._stale_after_s = stale_after_s
        self._protected = False
        self._renew_at = 0.0

    def _put(self, enabled: bool) -> None:
        body: dict[str, Any] = {"ProtectionEnabled": enabled}
        if enabled:
            body["ExpiresInMinutes"] = PROTECTION_MINUTES
        request = urllib.request.Request(  # noqa: S310 (http:// checked in __init__)
            self._url,
            data=json.dumps(body).encode(),
            method="PUT",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as reply:  # noqa: S310 (as above)
            reply.read()

    def step(self, now: float) -> str:
        """Look at the heartbeat once; returns ``busy``, ``idle`` or ``silent``."""
        beat = read_beat(self._heartbeat, now)
        alive = beat is not None and beat.age_s <= self._stale_after_s
        busy = alive and beat is not None and beat.in_flight > 0
        if busy and (not self._protected or now >= self._renew_at):
            self._put(True)
            self._protected, self._renew_at = True, now + RENEW_AFTER_S
            log("task_scale_in_protection", protected=True)
        elif not busy and self._protected:
            self._put(False)
            self._protected = False
            log("task_scale_in_protection", protected=False)
        if not alive:
            return "silent"
        return "busy" if busy else "idle"


def run(guard: AsgGuard | EcsGuard, interval_s: float) -> None:
    """Step forever; a failed call is logged and tried again on the next step."""
    while True:
        try:
            guard.step(time.time())
        except Exception as exc:  # a guard that dies protects nothing: log and go on
            log("worker_guard_error", error=f"{type(exc).__name__}: {exc}"[:300])
        time.sleep(interval_s)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="roto-worker-guard", description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["asg", "ecs"])
    parser.add_argument("--heartbeat", type=Path, required=True)
    parser.add_argument("--stale-after", type=float, default=90.0)
    parser.add_argument("--interval", type=float, default=15.0)
    parser.add_argument("--group", help="asg: the Auto Scaling group's name")
    parser.add_argument("--instance-id", help="asg: this instance")
    parser.add_argument("--region", help="asg: the group's region")
    args = parser.parse_args(argv[1:])
    guard: AsgGuard | EcsGuard
    if args.mode == "asg":
        if not (args.group and args.instance_id and args.region):
            parser.error("asg needs --group, --instance-id and --region")
        import boto3  # only the gpu image runs this mode

        guard = AsgGuard(
            boto3.client("autoscaling", region_name=args.region),
            group=args.group,
            instance_id=args.instance_id,
            heartbeat=args.heartbeat,
            stale_after_s=args.stale_after,
        )
    else:
        agent_uri = os.environ.get("ECS_AGENT_URI")
        if not agent_uri:
            parser.error("ecs needs ECS_AGENT_URI (set by ECS in every task container)")
        guard = EcsGuard(agent_uri, heartbeat=args.heartbeat, stale_after_s=args.stale_after)
    log("worker_guard_started", mode=args.mode, heartbeat=str(args.heartbeat))
    run(guard, args.interval)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
