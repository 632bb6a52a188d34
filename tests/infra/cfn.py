"""Reads the CloudFormation templates and follows a value through the nested stacks to its origin.

Short-form tags (!Ref, !Sub, !GetAtt...) load as their long form ({"Ref": ...}, {"Fn::Sub": ...}).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
TEMPLATES = REPO / "infra" / "cloudformation"
ROOT = "root"
#: A Secrets Manager reference to one JSON key of a secret: ``${SecretArn}:key::``.
SECRET_JSON_KEY = re.compile(r"\$\{(\w+)\}:\w+::")
SETTING_RE = re.compile(r"\bROTO_[A-Z0-9_]*[A-Z0-9]")
SUB_VAR_RE = re.compile(r"\$\{([A-Za-z0-9:.]+)\}")
USER_DATA_SETTING_RE = re.compile(r"^(ROTO_[A-Z0-9_]+)=(.*)$", re.MULTILINE)
USER_DATA_SECRET_FETCH_RE = re.compile(r"^\s*(\w+)=\$\(secret \$\{(\w+)\}\)", re.MULTILINE)
USER_DATA_SECRET_WRITE_RE = re.compile(r"printf '(ROTO_[A-Z0-9_]+)=%s\\n' \"\$(\w+)\"")


class CfnLoader(yaml.SafeLoader):
    """A YAML loader that accepts any ``!Tag`` and turns it into CloudFormation's long form."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:
        raise yaml.constructor.ConstructorError(None, None, f"unexpected node {node!r}")
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    key = suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}"
    return {key: value}


CfnLoader.add_multi_constructor("!", _intrinsic)


@functools.cache
def load(stem: str) -> dict[str, Any]:
    """The template ``infra/cloudformation/<stem>.yaml``."""
    with (TEMPLATES / f"{stem}.yaml").open(encoding="utf-8") as handle:
        template: dict[str, Any] = yaml.load(handle, Loader=CfnLoader)
    return template


def template_stems() -> list[str]:
    return sorted(path.stem for path in TEMPLATES.glob("*.yaml"))


def nested_stacks() -> dict[str, tuple[str, dict[str, Any]]]:
    """Root stack resources: logical id -> (template stem, parameters passed to it)."""
    found = {}
    for logical_id, resource in load(ROOT)["Resources"].items():
        if resource["Type"] != "AWS::CloudFormation::Stack":
            continue
        url = resource["Properties"]["TemplateURL"]
        url = url["Fn::Sub"] if isinstance(url, dict) else url
        found[logical_id] = (Path(url).stem, resource["Properties"].get("Parameters", {}))
    return found


def passed_parameters(stem: str) -> dict[str, Any]:
    """What the root stack passes to the nested stack made from ``stem``."""
    matches = [params for s, params in nested_stacks().values() if s == stem]
    assert len(matches) == 1, f"{stem}.yaml is nested {len(matches)} times in root.yaml"
    return matches[0]


@dataclass(frozen=True)
class Origin:
    """Where a value comes from: a resource attribute, a root parameter, a literal..."""

    kind: str
    stack: str = ""
    name: str = ""
    attribute: str = ""


def trace(stem: str, node: Any) -> Origin:
    """Follow ``node`` (a value in template ``stem``) through parameters and outputs."""
    if not isinstance(node, dict):
        return Origin("literal", name=str(node))
    if "Ref" in node:
        name = node["Ref"]
        if name.startswith("AWS::"):
            return Origin("pseudo", name=name)
        if name in load(stem).get("Resources", {}):
            return Origin("resource", stem, name, "Ref")
        assert name in load(stem).get("Parameters", {}), f"{stem}.yaml: !Ref {name} names nothing"
        if stem == ROOT:
            return Origin("root-parameter", ROOT, name)
        passed = passed_parameters(stem)
        assert name in passed, f"root.yaml does not pass {name} to {stem}.yaml"
        return trace(ROOT, passed[name])
    if "Fn::GetAtt" in node:
        resource, attribute = node["Fn::GetAtt"]
        if stem == ROOT and attribute.startswith("Outputs."):
            child = nested_stacks()[resource][0]
            output = attribute.removeprefix("Outputs.")
            outputs = load(child).get("Outputs", {})
            assert output in outputs, f"{child}.yaml has no output {output}"
            return trace(child, outputs[output]["Value"])
        return Origin("resource", stem, resource, attribute)
    if "Fn::ImportValue" in node:
        return Origin("import", name=str(node["Fn::ImportValue"]))
    secret_key = SECRET_JSON_KEY.fullmatch(str(node.get("Fn::Sub", "")))
    if secret_key:
        # "${Arn}:key::" is one JSON key of the secret Arn: it is that secret that is read.
        return trace(stem, {"Ref": secret_key.group(1)})
    return Origin("expression", stem, repr(node))


@dataclass(frozen=True)
class Setting:
    """One ROTO_* variable a service gets: its value node, and whether Secrets Manager holds it."""

    value: Any
    secret: bool


def properties(stem: str, logical_id: str) -> dict[str, Any]:
    """The Properties of one resource."""
    found: dict[str, Any] = load(stem)["Resources"][logical_id]["Properties"]
    return found


def container(stem: str, task_definition: str, name: str) -> dict[str, Any]:
    """One container definition of an ECS task definition."""
    definitions = properties(stem, task_definition)["ContainerDefinitions"]
    (definition,) = [c for c in definitions if isinstance(c, dict) and c.get("Name") == name]
    assert isinstance(definition, dict)
    return definition


def _branches(entry: Any) -> list[dict[str, Any]]:
    """A list item, or the items of both branches of an ``Fn::If`` (``AWS::NoValue`` left out)."""
    if isinstance(entry, dict) and "Fn::If" in entry:
        return [b for b in entry["Fn::If"][1:] if isinstance(b, dict) and "Name" in b]
    return [entry]


def container_settings(stem: str, task_definition: str, name: str) -> dict[str, Setting]:
    """ROTO_* settings of one container of an ECS task definition."""
    definition = container(stem, task_definition, name)
    settings: dict[str, Setting] = {}
    environment = [e for entry in definition.get("Environment", []) for e in _branches(entry)]
    entries = [(e["Name"], Setting(e["Value"], False)) for e in environment]
    entries += [(e["Name"], Setting(e["ValueFrom"], True)) for e in definition.get("Secrets", [])]
    for name, setting in entries:
        assert name not in settings, f"{task_definition}/{definition['Name']} sets {name} twice"
        if name.startswith("ROTO_"):
            settings[name] = setting
    return settings


def user_data(stem: str, launch_template: str) -> str:
    data = properties(stem, launch_template)["LaunchTemplateData"]
    script = data["UserData"]["Fn::Base64"]["Fn::Sub"]
    assert isinstance(script, str)
    return script


def user_data_settings(stem: str, launch_template: str) -> dict[str, Setting]:
    """ROTO_* settings the user data writes: plain ``ROTO_X=${Value}`` lines of the settings
    file, and secrets, fetched as ``var=$(secret ${Arn})`` and written with
    ``printf 'ROTO_X=%s\\n' "$var"``."""
    script = user_data(stem, launch_template)
    settings: dict[str, Setting] = {}
    fetched = dict(USER_DATA_SECRET_FETCH_RE.findall(script))
    for name, raw in USER_DATA_SETTING_RE.findall(script):
        assert name not in settings, f"{launch_template} user data sets {name} twice"
        variables = SUB_VAR_RE.findall(raw)
        if raw == f"${{{variables[0] if variables else ''}}}":
            settings[name] = Setting({"Ref": variables[0]}, False)
        else:
            settings[name] = Setting(raw, False)
    for name, variable in USER_DATA_SECRET_WRITE_RE.findall(script):
        assert name not in settings, f"{launch_template} user data sets {name} twice"
        assert variable in fetched, f"{launch_template} user data writes ${variable}, never fetched"
        settings[name] = Setting({"Ref": fetched[variable]}, True)
    return settings


def statement_resources(stem: str, policy: str, sid: str) -> list[Any]:
    """The Resource list of statement ``sid`` of an AWS::IAM::Policy."""
    document = properties(stem, policy)["PolicyDocument"]
    (statement,) = [s for s in document["Statement"] if s.get("Sid") == sid]
    resources = statement["Resource"]
    return resources if isinstance(resources, list) else [resources]


def unknown_settings(names: set[str], known: list[str]) -> list[str]:
    """The names the code does not read (ROTO_* that load_settings would reject at start)."""
    return sorted(names - set(known))


def render_sub(text: str, values: dict[str, str]) -> str:
    """Fn::Sub of ``text``: ``${Name}`` becomes ``values[Name]`` (a missing name is a KeyError),
    ``${!Name}`` the literal ``${Name}``."""
    rendered = re.sub(r"\$\{(?!!)([A-Za-z0-9:.]+)\}", lambda m: values[m.group(1)], text)
    return rendered.replace("${!", "${")
