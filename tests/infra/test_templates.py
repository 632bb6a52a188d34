"""The root stack's wiring, the per-environment parameters, and the places where a template
names something of the code: commands, health paths, the S3 key layout."""

from __future__ import annotations

import ast
import importlib
import json
import re
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from roto.exports.plan import archive_key
from roto.health.controller import healthz, readyz
from roto.videos import storage
from roto.worker.registry import role_names
from tests.infra import cfn

# Values that change with every release, given by scripts/deploy.py (see infra/README.md).
PER_RELEASE = {"ApiImageDigest", "MediaImageDigest", "GpuImageDigest"}


@pytest.mark.parametrize("logical_id", sorted(cfn.nested_stacks()))
def test_root_passes_each_nested_stack_exactly_its_parameters(logical_id: str) -> None:
    stem, passed = cfn.nested_stacks()[logical_id]
    declared = cfn.load(stem).get("Parameters", {})
    assert sorted(set(passed) - set(declared)) == [], f"{stem}.yaml does not declare these"
    required = {name for name, spec in declared.items() if "Default" not in spec}
    assert sorted(required - set(passed)) == [], f"root.yaml leaves these of {stem}.yaml unset"
    for value in passed.values():
        # Tracing fails loudly on an output or parameter that does not exist.
        cfn.trace(cfn.ROOT, value)


def test_every_template_is_nested_in_root_except_the_per_account_ones() -> None:
    nested = {stem for stem, _ in cfn.nested_stacks().values()}
    assert nested == set(cfn.template_stems()) - {"root", "registry", "ci"}


def test_nested_templates_are_local_paths_that_package_uploads() -> None:
    for logical_id, resource in cfn.load(cfn.ROOT)["Resources"].items():
        if resource["Type"] == "AWS::CloudFormation::Stack":
            url = resource["Properties"]["TemplateURL"]
            assert isinstance(url, str) and (cfn.TEMPLATES / url).is_file(), logical_id


def test_registry_exports_are_the_ones_root_imports() -> None:
    exported = {output["Export"]["Name"] for output in cfn.load("registry")["Outputs"].values()}
    imported = set(
        re.findall(r"roto-registry-[a-z]+-(?:uri|arn)", (cfn.TEMPLATES / "root.yaml").read_text())
    )
    assert imported and imported <= exported


def params_file(env: str) -> dict[str, str]:
    rows = json.loads((cfn.TEMPLATES / "params" / f"{env}.json").read_text())
    values = {row["ParameterKey"]: row["ParameterValue"] for row in rows}
    assert len(values) == len(rows), f"{env}.json repeats a key"
    return values


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_params_file_gives_every_root_parameter_but_the_per_release_ones(env: str) -> None:
    declared: dict[str, Any] = cfn.load(cfn.ROOT)["Parameters"]
    values = params_file(env)
    assert sorted(set(values) - set(declared)) == []
    required = {name for name, spec in declared.items() if "Default" not in spec}
    assert sorted(required - set(values) - PER_RELEASE) == []
    assert not set(values) & PER_RELEASE
    assert values["EnvName"] == env
    for name, value in values.items():
        allowed = declared[name].get("AllowedValues")
        assert allowed is None or value in allowed, (name, value)
        if declared[name]["Type"] == "Number":
            float(value)


def test_no_template_takes_a_secret_as_a_parameter() -> None:
    # Secrets come from Secrets Manager by ARN; a parameter holding one would show in the console.
    secretish = re.compile(r"password|token|secret|apikey|api_key", re.IGNORECASE)
    for stem in cfn.template_stems():
        for name in cfn.load(stem).get("Parameters", {}):
            assert not secretish.search(name) or name.endswith("Arn"), f"{stem}.yaml: {name}"


def test_api_command_runs_the_app_factory() -> None:
    api = cfn.container("api", "ApiTaskDefinition", "api")
    command = api["Command"]
    assert command[:3] == ["uvicorn", "roto.app:create_app", "--factory"]
    module, attribute = command[1].split(":")
    assert callable(getattr(importlib.import_module(module), attribute))
    port = api["PortMappings"][0]["ContainerPort"]
    assert command[command.index("--port") + 1] == str(port)
    assert cfn.properties("api", "ApiTargetGroup")["Port"] == port


def test_media_worker_command_and_role_setting_agree_with_the_code() -> None:
    media = cfn.container("api", "MediaTaskDefinition", "media")
    assert media["Command"] == ["python", "-m", "roto.worker", "--role", "media"]
    assert "media" in role_names()
    settings = cfn.container_settings("api", "MediaTaskDefinition", "media")
    assert settings["ROTO_WORKER_ROLE"].value == "media"


def test_gpu_user_data_runs_the_daemon_in_the_gpu_role() -> None:
    script = cfn.user_data("gpu", "LaunchTemplate")
    assert re.search(r'"\$image" python -m roto\.worker --role gpu$', script, re.MULTILINE)
    assert cfn.user_data_settings("gpu", "LaunchTemplate")["ROTO_WORKER_ROLE"].value == "gpu"


def test_migration_task_calls_the_migration_runner() -> None:
    migrate = cfn.container("api", "MigrateTaskDefinition", "migrate")
    assert migrate["Command"][:2] == ["python", "-c"]
    code = migrate["Command"][2]
    assert "from roto.db import migrate_dsn" in code
    assert callable(importlib.import_module("roto.db").migrate_dsn)
    compile(code, "<migrate>", "exec")


def test_health_paths_are_routes_of_the_app() -> None:
    # The load balancer checks liveness: a dependency's failover must not fail every task.
    assert {cfn.properties("api", "ApiTargetGroup")["HealthCheckPath"]} == healthz.paths
    distribution = cfn.properties("edge", "Distribution")["DistributionConfig"]
    behaviours = distribution["CacheBehaviors"]
    paths = {b["PathPattern"] for b in behaviours if b["TargetOriginId"] == "api"}
    assert paths == {"/v1/*"} | healthz.paths | readyz.paths


def test_readiness_is_forwarded_only_with_the_probe_secret() -> None:
    probe = cfn.properties("api", "ReadinessProbeRule")
    hidden = cfn.properties("api", "ReadinessHiddenRule")
    main = cfn.properties("api", "FromCloudFrontRule")
    assert probe["Priority"] < hidden["Priority"] < main["Priority"]
    conditions = {c["Field"]: c for c in probe["Conditions"] if c["Field"] != "http-header"}
    assert conditions["path-pattern"]["PathPatternConfig"]["Values"] == sorted(readyz.paths)
    headers = {
        c["HttpHeaderConfig"]["HttpHeaderName"]: c["HttpHeaderConfig"]["Values"][0]["Fn::Sub"]
        for c in probe["Conditions"]
        if c["Field"] == "http-header"
    }
    assert headers["X-Roto-Probe"].startswith("{{resolve:secretsmanager:${ReadinessProbeSecretArn}")
    assert headers["X-Origin-Verify"].startswith(
        "{{resolve:secretsmanager:${OriginVerifySecretArn}"
    )
    assert hidden["Actions"][0]["FixedResponseConfig"]["StatusCode"] == "404"


def test_media_lifecycle_rules_match_the_app_key_layout() -> None:
    rules = cfn.properties("data", "MediaBucket")["LifecycleConfiguration"]["Rules"]
    by_id = {rule["Id"]: rule for rule in rules}
    videos = by_id["videos-intelligent-tiering"]
    assert storage.frame_key(uuid.uuid4(), 0).startswith(videos["Prefix"])
    assert storage.source_key(uuid.uuid4()).startswith(videos["Prefix"])
    assert videos["Transitions"] == [{"StorageClass": "INTELLIGENT_TIERING", "TransitionInDays": 0}]
    exports = by_id["exports-to-ia-then-expire"]
    assert exports["Transitions"] == [{"StorageClass": "STANDARD_IA", "TransitionInDays": 30}]
    # The expiry covers where the export job writes archives, and only that.
    archive = archive_key(uuid.uuid4(), uuid.uuid4(), "shot_png_sequence.zip")
    assert archive.startswith(exports["Prefix"])
    assert not archive.startswith(videos["Prefix"])
    assert not storage.frame_key(uuid.uuid4(), 0).startswith(exports["Prefix"])


def test_dashboard_body_is_json_once_substituted() -> None:
    dashboard = cfn.properties("observability", "Dashboard")
    body, variables = dashboard["DashboardBody"]["Fn::Sub"]
    parameters = cfn.load("observability")["Parameters"]
    for name in cfn.SUB_VAR_RE.findall(body):
        assert name in parameters or name in variables or name.startswith("AWS::"), name
    widgets = json.loads(cfn.SUB_VAR_RE.sub("x", body))["widgets"]
    assert len(widgets) >= 8


def test_drain_function_code_defines_the_configured_handler() -> None:
    function = cfn.properties("gpu", "DrainFunction")
    module = ast.parse(function["Code"]["ZipFile"])
    handlers = [
        node.name
        for node in module.body
        if isinstance(node, ast.FunctionDef)
        and [a.arg for a in node.args.args] == ["event", "context"]
    ]
    assert function["Handler"] == f"index.{handlers[0]}"
    variables = set(function["Environment"]["Variables"])
    used = set(re.findall(r'os\.environ\["([A-Z_]+)"\]', function["Code"]["ZipFile"]))
    assert used == variables


def test_gpu_user_data_is_valid_bash(tmp_path: Path) -> None:
    script = cfn.user_data("gpu", "LaunchTemplate")
    # Fn::Sub: ${Name} becomes a value, ${!Name} the literal ${Name}.
    rendered = cfn.SUB_VAR_RE.sub("value", script).replace("${!", "${")
    assert rendered.startswith("#!/bin/bash\n")
    path = tmp_path / "user-data.sh"
    path.write_text(rendered)
    result = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
