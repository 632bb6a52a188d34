"""The root template rendered with each environment's parameter file: every value the root stack
passes to a nested stack meets that stack's own constraints (AllowedValues, AllowedPattern,
MinValue/MaxValue, MinLength/MaxLength, Number), so a bad value fails here, not halfway through a
stack update. Values that only exist in AWS (other stacks' resource ids) are left unknown, except
the registry's exports, which get values of their real shape."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.infra import cfn

ACCOUNT = "123456789012"
REGION = "us-east-1"
PSEUDO = {
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT,
    "AWS::Partition": "aws",
    "AWS::StackName": "roto-env",
    "AWS::URLSuffix": "amazonaws.com",
}
# The registry stack's exports, in their real shape.
IMPORTS = {
    f"roto-registry-{name}-uri": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/roto-{name}"
    for name in ("api", "media", "gpu")
} | {
    f"roto-registry-{name}-arn": f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/roto-{name}"
    for name in ("api", "media", "gpu")
}
DIGEST = "sha256:" + "0123456789abcdef" * 4


class Unknown:
    """A value only known in AWS (a resource id, an ARN)."""

    def __init__(self, why: str) -> None:
        self.why = why

    def __repr__(self) -> str:
        return f"<unknown: {self.why}>"


def root_values(env: str) -> dict[str, str]:
    rows = json.loads((cfn.TEMPLATES / "params" / f"{env}.json").read_text())
    values = {row["ParameterKey"]: row["ParameterValue"] for row in rows}
    values |= {f"{t}ImageDigest": DIGEST for t in ("Api", "Media", "Gpu")}
    for name, spec in cfn.load(cfn.ROOT)["Parameters"].items():
        if name not in values and "Default" in spec:
            values[name] = str(spec["Default"])
    return values


def literal_leaves(node: Any) -> list[Any] | None:
    """Every value an output can take when it is literals under Fn::If, else None."""
    if isinstance(node, (str, int, float)):
        return [node]
    if isinstance(node, dict) and "Fn::If" in node:
        branches = [literal_leaves(b) for b in node["Fn::If"][1:]]
        if all(b is not None for b in branches):
            return [leaf for b in branches if b for leaf in b]
    return None


def render(node: Any, values: dict[str, str]) -> Any:
    """A root-stack expression with the root parameters given ``values``."""
    if isinstance(node, (str, int, float)):
        return str(node)
    if isinstance(node, list):
        return [render(item, values) for item in node]
    if "Ref" in node:
        name = node["Ref"]
        return PSEUDO[name] if name.startswith("AWS::") else values[name]
    if "Fn::ImportValue" in node:
        return IMPORTS[node["Fn::ImportValue"]]
    if "Fn::GetAtt" in node:
        stack, attribute = node["Fn::GetAtt"]
        child = cfn.nested_stacks()[stack][0]
        output = cfn.load(child)["Outputs"][attribute.removeprefix("Outputs.")]["Value"]
        leaves = literal_leaves(output)
        return [str(v) for v in leaves] if leaves else Unknown(f"{stack}.{attribute}")
    if "Fn::Sub" in node:
        sub = node["Fn::Sub"]
        text, local = (sub, {}) if isinstance(sub, str) else (sub[0], sub[1])
        scope = {k: render(v, values) for k, v in local.items()}
        scope |= {k: v for k, v in {**values, **PSEUDO}.items() if k not in scope}
        parts = {name: scope.get(name) for name in cfn.SUB_VAR_RE.findall(text)}
        if any(not isinstance(v, str) for v in parts.values()):
            return Unknown(f"Sub of {text}")
        return cfn.render_sub(text, parts)
    raise AssertionError(f"the test cannot render {node!r}")


def violations(name: str, spec: dict[str, Any], value: str) -> list[str]:
    """How ``value`` breaks parameter ``name``'s constraints (empty when it meets them)."""
    found = []
    kind = spec["Type"]
    if kind.startswith("List<") or kind == "CommaDelimitedList":
        return found
    if kind == "Number":
        try:
            number = float(value)
        except ValueError:
            return [f"{name}={value!r} is not a Number"]
        if "MinValue" in spec and number < float(spec["MinValue"]):
            found.append(f"{name}={value} < MinValue {spec['MinValue']}")
        if "MaxValue" in spec and number > float(spec["MaxValue"]):
            found.append(f"{name}={value} > MaxValue {spec['MaxValue']}")
    allowed = spec.get("AllowedValues")
    if allowed is not None and value not in [str(a) for a in allowed]:
        found.append(f"{name}={value!r} not in AllowedValues {allowed}")
    pattern = spec.get("AllowedPattern")
    if pattern and not re.fullmatch(pattern, value):
        found.append(f"{name}={value!r} does not match {pattern}")
    if "MinLength" in spec and len(value) < int(spec["MinLength"]):
        found.append(f"{name}={value!r} shorter than {spec['MinLength']}")
    if "MaxLength" in spec and len(value) > int(spec["MaxLength"]):
        found.append(f"{name}={value!r} longer than {spec['MaxLength']}")
    return found


def nested_values(env: str) -> list[tuple[str, str, dict[str, Any], Any]]:
    """(stack, parameter, its spec, the rendered value) for every parameter root passes."""
    values = root_values(env)
    rows = []
    for stack, (stem, passed) in cfn.nested_stacks().items():
        declared = cfn.load(stem)["Parameters"]
        for name, node in passed.items():
            rows.append((stack, name, declared[name], render(node, values)))
    return rows


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_root_values_meet_the_root_constraints(env: str) -> None:
    declared = cfn.load(cfn.ROOT)["Parameters"]
    problems = [
        p
        for name, value in root_values(env).items()
        for p in violations(name, declared[name], value)
    ]
    assert problems == []


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_every_nested_parameter_meets_its_stack_constraints(env: str) -> None:
    problems, checked = [], 0
    for stack, name, spec, value in nested_values(env):
        for candidate in value if isinstance(value, list) else [value]:
            if isinstance(candidate, Unknown):
                continue
            checked += 1
            problems += [f"{stack}: {p}" for p in violations(name, spec, candidate)]
    assert problems == []
    # Most of what root passes is known here (parameters, literals, registry exports).
    assert checked >= 70


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_constrained_nested_parameters_are_all_checked(env: str) -> None:
    # A constraint that only an unknown value meets is a constraint nobody checked.
    unchecked = [
        f"{stack}.{name} <- {value!r}"
        for stack, name, spec, value in nested_values(env)
        if isinstance(value, Unknown)
        and ({"AllowedValues", "AllowedPattern", "MinValue", "MaxValue"} & set(spec))
    ]
    assert unchecked == []


def test_the_check_catches_a_value_out_of_range() -> None:
    spec = cfn.load("gpu")["Parameters"]["WorkerDrainTimeoutSeconds"]
    assert violations("WorkerDrainTimeoutSeconds", spec, "100") != []
    image = cfn.load("gpu")["Parameters"]["GpuImageUri"]
    assert violations("GpuImageUri", image, f"{IMPORTS['roto-registry-gpu-uri']}:latest") != []


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_scaled_groups_have_room_above_their_minimum(env: str) -> None:
    values = root_values(env)
    # A rolling update of the GPU group needs one instance above MinInstancesInService.
    assert int(values["GpuMinInstances"]) < int(values["GpuMaxInstances"])
    assert int(values["GpuOnDemandBaseCapacity"]) <= int(values["GpuMaxInstances"])
    assert int(values["ApiMinTasks"]) <= int(values["ApiMaxTasks"])
    assert int(values["MediaMinTasks"]) <= int(values["MediaMaxTasks"])
