"""The GPU drain function (gpu.yaml DrainFunction, inline code) run against moto's EC2, SSM and
Auto Scaling: which instances it drains, what it runs on them, and when it lets termination go on
at once. moto has no CompleteLifecycleAction, so that one call is recorded instead."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.infra import cfn

REGION = "us-east-1"
GROUP = "roto-dev-gpu"
HOOK = {"LifecycleHookName": "drain", "LifecycleActionToken": "token-1"}


def drain_source() -> str:
    code: str = cfn.properties("gpu", "DrainFunction")["Code"]["ZipFile"]
    return code


def test_inline_code_fits_cloudformation_zipfile_limit() -> None:
    assert len(drain_source()) <= 4096


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "GROUP_NAME": GROUP,
        "DRAIN_SECONDS": "30",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield


@pytest.fixture
def drain(aws: None, tmp_path: Path) -> ModuleType:
    path = tmp_path / "index.py"
    path.write_text(drain_source())
    spec = importlib.util.spec_from_file_location("drain_index", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    completed: list[dict[str, Any]] = []
    module.completed = completed  # type: ignore[attr-defined]
    module.autoscaling.complete_lifecycle_action = lambda **kw: completed.append(kw)
    sys.modules.pop("drain_index", None)
    return module


def make_group(name: str, size: int = 1) -> list[str]:
    """A moto Auto Scaling group with ``size`` running instances; their ids."""
    ec2 = boto3.client("ec2", region_name=REGION)
    image = ec2.describe_images()["Images"][0]["ImageId"]
    ec2.create_launch_template(
        LaunchTemplateName=f"{name}-lt",
        LaunchTemplateData={"ImageId": image, "InstanceType": "g4dn.xlarge"},
    )
    autoscaling = boto3.client("autoscaling", region_name=REGION)
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=name,
        LaunchTemplate={"LaunchTemplateName": f"{name}-lt"},
        MinSize=size,
        MaxSize=size + 1,
        DesiredCapacity=size,
        AvailabilityZones=[f"{REGION}a"],
    )
    found = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])
    return [i["InstanceId"] for i in found["AutoScalingGroups"][0]["Instances"]]


def lifecycle_event(instance: str, group: str = GROUP) -> dict[str, Any]:
    return {
        "region": REGION,
        "detail-type": "EC2 Instance-terminate Lifecycle Action",
        "detail": {"AutoScalingGroupName": group, "EC2InstanceId": instance, **HOOK},
    }


def spot_event(instance: str) -> dict[str, Any]:
    return {
        "region": REGION,
        "detail-type": "EC2 Spot Instance Interruption Warning",
        "detail": {"instance-id": instance, "instance-action": "terminate"},
    }


def sent_commands() -> list[dict[str, Any]]:
    commands: list[dict[str, Any]] = boto3.client("ssm", region_name=REGION).list_commands()[
        "Commands"
    ]
    return commands


def test_termination_hook_drains_the_daemon_then_completes_the_hook_from_the_instance(
    drain: ModuleType,
) -> None:
    (instance,) = make_group(GROUP)
    assert drain.handler(lifecycle_event(instance), None) == {"draining": instance}
    (command,) = sent_commands()
    assert command["InstanceIds"] == [instance]
    assert command["DocumentName"] == "AWS-RunShellScript"
    lines = command["Parameters"]["commands"]
    assert lines[0] == "docker stop roto-gpu-watchdog || true"
    assert lines[1] == "docker stop --time 30 roto-gpu || true"
    assert lines[2].startswith("aws autoscaling complete-lifecycle-action --region us-east-1")
    assert "--lifecycle-action-token token-1" in lines[2] and "CONTINUE" in lines[2]
    assert command["Parameters"]["executionTimeout"] == ["90"]
    # The instance completes its own hook once drained; the function does not cut it short.
    assert drain.completed == []


def test_spot_warning_drains_an_instance_of_the_group(drain: ModuleType) -> None:
    (instance,) = make_group(GROUP)
    assert drain.handler(spot_event(instance), None) == {"draining": instance}
    (command,) = sent_commands()
    assert command["Parameters"]["commands"] == [
        "docker stop roto-gpu-watchdog || true",
        "docker stop --time 30 roto-gpu || true",
    ]


def test_spot_warning_for_an_instance_of_another_group_is_ignored(drain: ModuleType) -> None:
    make_group(GROUP)
    (stranger,) = make_group("someone-else")
    assert drain.handler(spot_event(stranger), None) == {"ignored": stranger}
    assert sent_commands() == []


def test_hook_of_another_group_is_ignored(drain: ModuleType) -> None:
    (stranger,) = make_group("someone-else")
    assert drain.handler(lifecycle_event(stranger, "someone-else"), None) == {"ignored": stranger}
    assert sent_commands() == [] and drain.completed == []


def test_stopped_instance_lets_termination_go_on_at_once(drain: ModuleType) -> None:
    (instance,) = make_group(GROUP)
    boto3.client("ec2", region_name=REGION).stop_instances(InstanceIds=[instance])
    assert drain.handler(lifecycle_event(instance), None) == {"unreachable": instance}
    assert sent_commands() == []
    assert drain.completed == [
        {
            "AutoScalingGroupName": GROUP,
            "LifecycleHookName": "drain",
            "LifecycleActionToken": "token-1",
            "LifecycleActionResult": "CONTINUE",
        }
    ]


def test_instance_unknown_to_systems_manager_lets_termination_go_on(drain: ModuleType) -> None:
    (instance,) = make_group(GROUP)

    def refuse(**_: Any) -> None:
        raise drain.ssm.exceptions.InvalidInstanceId(
            {"Error": {"Code": "InvalidInstanceId", "Message": "not managed"}}, "SendCommand"
        )

    drain.ssm.send_command = refuse
    assert drain.handler(lifecycle_event(instance), None) == {"unreachable": instance}
    assert len(drain.completed) == 1


def test_drain_timeout_fits_spot_notice_and_termination_hook() -> None:
    # The drain must finish inside a Spot notice (120 s) and the termination hook's timeout.
    gpu = cfn.load("gpu")
    drain_max = gpu["Parameters"]["WorkerDrainTimeoutSeconds"]["MaxValue"]
    hooks = cfn.properties("gpu", "AutoScalingGroup")["LifecycleHookSpecificationList"]
    (terminate,) = [h for h in hooks if h["LifecycleTransition"].endswith("TERMINATING")]
    assert drain_max + 15 < 120 <= terminate["HeartbeatTimeout"]
