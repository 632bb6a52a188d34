"""The deploy script's plan (scripts/deploy.py --dry-run, as `make deploy-plan` runs it): without
an AWS account or Docker it prints the change set inputs and, in order, every command a deploy
runs. `aws`, `docker`, `curl` and `make` are stubs that record any call: a plan makes none."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.infra import cfn

SCRIPT = cfn.REPO / "scripts" / "deploy.py"


@pytest.fixture(scope="module")
def deploy() -> ModuleType:
    spec = importlib.util.spec_from_file_location("roto_deploy", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def plan(tmp_path: Path, *args: str) -> tuple[list[str], list[str]]:
    """The plan's output lines, and the calls any stub received."""
    calls = tmp_path / "calls"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in ("aws", "docker", "curl", "make"):
        stub = bin_dir / tool
        stub.write_text(f'#!/bin/sh\necho "{tool} $*" >> "{calls}"\nexit 99\n')
        stub.chmod(stub.stat().st_mode | stat.S_IXUSR)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["PATH"] = f"{bin_dir}:{env['PATH']}"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), *args, "--dry-run"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    made = calls.read_text().splitlines() if calls.exists() else []
    return result.stdout.splitlines(), made


def commands(lines: list[str]) -> list[str]:
    return [line[2:] for line in lines if line.startswith("$ ")]


def position(found: list[str], fragment: str) -> int:
    matches = [i for i, command in enumerate(found) if fragment in command]
    assert matches, f"the plan never runs {fragment!r}"
    return matches[0]


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_plan_needs_no_account_and_runs_nothing(tmp_path: Path, env: str) -> None:
    lines, calls = plan(tmp_path, "--env", env)
    assert calls == []
    assert commands(lines)


def test_update_builds_by_digest_migrates_before_the_roll_and_waits_for_health(
    tmp_path: Path,
) -> None:
    lines, _ = plan(tmp_path, "--env", "prod")
    found = commands(lines)
    builds = [c for c in found if c.startswith("docker buildx build")]
    assert [c.split("--target ")[1].split()[0] for c in builds] == ["api", "media", "gpu"]
    assert all("--push" in c for c in builds)
    order = [
        position(found, "cloudformation package --template-file infra/cloudformation/root.yaml"),
        position(found, "--change-set-type UPDATE"),
        position(found, "ecs register-task-definition"),
        position(found, "ecs run-task"),
        position(found, "ecs wait tasks-stopped"),
        position(found, "exitCode"),
        position(found, "cloudformation execute-change-set"),
        position(found, "cloudformation wait stack-update-complete"),
        position(found, "ecs wait services-stable"),
        position(found, "/readyz"),
    ]
    assert order == sorted(order)
    change_set = found[position(found, "create-change-set")]
    assert "CAPABILITY_NAMED_IAM CAPABILITY_AUTO_EXPAND" in change_set
    assert "--include-nested-stacks" in change_set
    # The probe secret is fetched, never printed.
    assert "X-Roto-Probe: <probe secret>" in found[position(found, "/readyz")]


def test_plan_prints_the_change_set_parameters_with_the_release_digests(tmp_path: Path) -> None:
    lines, _ = plan(tmp_path, "--env", "dev")
    printed = dict(
        line.removeprefix("#     ").split("=", 1) for line in lines if line.startswith("#     ")
    )
    file_values = {
        row["ParameterKey"]: row["ParameterValue"]
        for row in json.loads((cfn.TEMPLATES / "params" / "dev.json").read_text())
    }
    assert {k: printed[k] for k in file_values} == file_values
    for target in ("Api", "Media", "Gpu"):
        assert printed[f"{target}ImageDigest"].startswith(f"<digest of roto-{target.lower()}:git-")


def test_first_deploy_creates_unprotected_then_migrates_then_protects(tmp_path: Path) -> None:
    lines, _ = plan(tmp_path, "--env", "prod", "--assume-new")
    found = commands(lines)
    assert "#     DeletionProtection=false" in lines
    order = [
        position(found, "--change-set-type CREATE"),
        position(found, "cloudformation wait stack-create-complete"),
        position(found, "ecs run-task"),
        position(found, "ParameterKey=DeletionProtection,ParameterValue=true"),
    ]
    assert order == sorted(order)


def test_release_params_cover_every_root_parameter_without_a_default(deploy: ModuleType) -> None:
    digests = {t: "sha256:" + "0" * 64 for t in deploy.TARGETS}
    for env in ("dev", "prod"):
        params = deploy.release_params(env, digests, creating=False)
        declared = cfn.load(cfn.ROOT)["Parameters"]
        required = {name for name, spec in declared.items() if "Default" not in spec}
        assert required <= set(params) <= set(declared)


def test_migration_revision_only_swaps_the_image(deploy: ModuleType) -> None:
    current = {
        "family": "roto-prod-migrate",
        "taskDefinitionArn": "arn:old",
        "revision": 7,
        "status": "ACTIVE",
        "networkMode": "awsvpc",
        "containerDefinitions": [{"name": "migrate", "image": "old", "command": ["python"]}],
    }
    revision = deploy.migrate_task_definition(current, "repo/roto-api@sha256:abc")
    assert revision["containerDefinitions"] == [
        {"name": "migrate", "image": "repo/roto-api@sha256:abc", "command": ["python"]}
    ]
    assert "taskDefinitionArn" not in revision and "revision" not in revision
    assert current["containerDefinitions"][0]["image"] == "old"


def test_bake_plan_publishes_the_ami_where_the_gpu_stack_reads_it(tmp_path: Path) -> None:
    lines, calls = plan(tmp_path, "bake-ami", "--env", "prod")
    found = commands(lines)
    assert calls == []
    assert "--name /roto/prod/gpu/ami-id" in found[-1]
    pattern = cfn.load(cfn.ROOT)["Parameters"]["GpuAmiParameter"]["AllowedPattern"]
    assert re.fullmatch(pattern, "/roto/prod/gpu/ami-id")
