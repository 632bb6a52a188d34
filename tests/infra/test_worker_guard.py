"""The worker guard (infra/docker/worker_guard.py): on a GPU instance against moto's Auto Scaling,
and as the media task's sidecar against a local stand-in for the ECS agent's protection endpoint."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.infra import cfn

SCRIPT = cfn.REPO / "infra" / "docker" / "worker_guard.py"
REGION = "us-east-1"
GROUP = "roto-dev-gpu"
NOW = 1_800_000_000.0


@pytest.fixture(scope="module")
def guard() -> ModuleType:
    spec = importlib.util.spec_from_file_location("roto_worker_guard", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


def beat(path: Path, *, age_s: float, in_flight: int = 0, body: str | None = None) -> None:
    path.write_text(
        body if body is not None else json.dumps({"state": "ready", "in_flight": in_flight})
    )
    os.utime(path, (NOW - age_s, NOW - age_s))


@pytest.fixture
def autoscaling(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        image = ec2.describe_images()["Images"][0]["ImageId"]
        ec2.create_launch_template(
            LaunchTemplateName="gpu-lt",
            LaunchTemplateData={"ImageId": image, "InstanceType": "g4dn.xlarge"},
        )
        client = boto3.client("autoscaling", region_name=REGION)
        client.create_auto_scaling_group(
            AutoScalingGroupName=GROUP,
            LaunchTemplate={"LaunchTemplateName": "gpu-lt"},
            MinSize=1,
            MaxSize=2,
            AvailabilityZones=[f"{REGION}a"],
        )
        yield client


def instance_state(client: Any) -> dict[str, Any]:
    (instance,) = client.describe_auto_scaling_instances()["AutoScalingInstances"]
    return dict(instance)


def asg_guard(guard: ModuleType, client: Any, heartbeat: Path) -> Any:
    instance_id = instance_state(client)["InstanceId"]
    return guard.AsgGuard(
        client, group=GROUP, instance_id=instance_id, heartbeat=heartbeat, stale_after_s=90
    )


def test_busy_daemon_protects_its_instance_and_idle_one_lifts_it(
    guard: ModuleType, autoscaling: Any, tmp_path: Path
) -> None:
    heartbeat = tmp_path / "heartbeat"
    watchdog = asg_guard(guard, autoscaling, heartbeat)
    beat(heartbeat, age_s=5, in_flight=3)
    assert watchdog.step(NOW) == "busy"
    assert instance_state(autoscaling)["ProtectedFromScaleIn"] is True
    beat(heartbeat, age_s=5, in_flight=0)
    assert watchdog.step(NOW) == "idle"
    assert instance_state(autoscaling)["ProtectedFromScaleIn"] is False
    assert instance_state(autoscaling)["HealthStatus"].upper() == "HEALTHY"


@pytest.mark.parametrize("age_s", [91, None], ids=["stale", "missing"])
def test_silent_daemon_marks_its_instance_unhealthy_once(
    guard: ModuleType, autoscaling: Any, tmp_path: Path, age_s: float | None, capsys: Any
) -> None:
    heartbeat = tmp_path / "heartbeat"
    if age_s is not None:
        beat(heartbeat, age_s=age_s, in_flight=2)
    watchdog = asg_guard(guard, autoscaling, heartbeat)
    assert watchdog.step(NOW) == "unhealthy"
    assert instance_state(autoscaling)["HealthStatus"].upper() == "UNHEALTHY"
    assert watchdog.step(NOW) == "unhealthy"
    events = [json.loads(line)["event"] for line in capsys.readouterr().out.splitlines()]
    # Exactly what the gpu.yaml metric filter counts, once per instance.
    assert events.count("gpu_marked_unhealthy") == 1


def test_metric_filter_counts_the_event_the_guard_logs() -> None:
    pattern = cfn.properties("gpu", "HeartbeatLostMetric")["FilterPattern"]
    assert pattern == '{ $.event = "gpu_marked_unhealthy" }'


def test_unreadable_heartbeat_is_alive_with_nothing_in_flight(
    guard: ModuleType, tmp_path: Path
) -> None:
    heartbeat = tmp_path / "heartbeat"
    beat(heartbeat, age_s=1, body="not json")
    assert guard.read_beat(heartbeat, NOW) == guard.Beat(1.0, 0, "unreadable")


class Agent:
    """Records the PUTs the ECS agent's task-protection endpoint receives."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, Any]]] = []
        agent = self

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                length = int(self.headers["Content-Length"])
                agent.requests.append((self.path, json.loads(self.rfile.read(length))))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/api/task-id"


@pytest.fixture
def agent() -> Iterator[Agent]:
    stand_in = Agent()
    yield stand_in
    stand_in.server.shutdown()
    stand_in.thread.join()


def test_media_task_is_protected_while_busy_renewed_and_released(
    guard: ModuleType, agent: Agent, tmp_path: Path
) -> None:
    heartbeat = tmp_path / "heartbeat"
    sidecar = guard.EcsGuard(agent.uri, heartbeat=heartbeat, stale_after_s=90)
    beat(heartbeat, age_s=2, in_flight=1)
    assert sidecar.step(NOW) == "busy"
    assert sidecar.step(NOW + 10) == "busy"  # already protected: no second call
    os.utime(heartbeat, (NOW + guard.RENEW_AFTER_S, NOW + guard.RENEW_AFTER_S))
    assert sidecar.step(NOW + guard.RENEW_AFTER_S) == "busy"  # renewed before it lapses
    beat(heartbeat, age_s=-guard.RENEW_AFTER_S, in_flight=0)
    assert sidecar.step(NOW + guard.RENEW_AFTER_S + 1) == "idle"
    on = {"ProtectionEnabled": True, "ExpiresInMinutes": guard.PROTECTION_MINUTES}
    assert agent.requests == [
        ("/api/task-id/task-protection/v1/state", on),
        ("/api/task-id/task-protection/v1/state", on),
        ("/api/task-id/task-protection/v1/state", {"ProtectionEnabled": False}),
    ]


def test_silent_media_worker_loses_its_protection(
    guard: ModuleType, agent: Agent, tmp_path: Path
) -> None:
    heartbeat = tmp_path / "heartbeat"
    sidecar = guard.EcsGuard(agent.uri, heartbeat=heartbeat, stale_after_s=90)
    beat(heartbeat, age_s=2, in_flight=4)
    sidecar.step(NOW)
    beat(heartbeat, age_s=300, in_flight=4)
    assert sidecar.step(NOW) == "silent"
    assert agent.requests[-1][1] == {"ProtectionEnabled": False}
