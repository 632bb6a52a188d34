"""What the first deploy, retries, rollbacks and restores depend on in the templates: nothing kept
on a failed creation or carrying a fixed name that a retry would collide with, deletion
protection that cannot strand a rollback, a PostgreSQL version that minor upgrades cannot turn
into a refused downgrade, a Stripe secret no template change can wipe, and the backups."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.infra import cfn

NAME_PROPERTIES = {
    "AWS::S3::Bucket": "BucketName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::SecretsManager::Secret": "Name",
    "AWS::RDS::DBInstance": "DBInstanceIdentifier",
    "AWS::KMS::Key": None,
}


def resources() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (stem, name, resource)
        for stem in cfn.template_stems()
        for name, resource in cfn.load(stem).get("Resources", {}).items()
    ]


def test_nothing_is_kept_when_a_first_creation_rolls_back() -> None:
    # Retain keeps a resource on a rolled-back creation, and the retry then collides with it.
    kept = [f"{s}.{n}" for s, n, r in resources() if r.get("DeletionPolicy") == "Retain"]
    assert kept == [f"registry.{n}" for n in ("ApiRepository", "MediaRepository", "GpuRepository")]


def test_resources_that_outlive_the_stack_have_no_fixed_name() -> None:
    for stem, name, resource in resources():
        if resource.get("DeletionPolicy") not in ("Retain", "RetainExceptOnCreate"):
            continue
        prop = NAME_PROPERTIES.get(resource["Type"])
        value = resource["Properties"].get(prop) if prop else None
        if stem == "registry" and resource["Type"] == "AWS::ECR::Repository":
            continue  # one stack per account, never deleted; the root stack imports the names
        fixed = isinstance(value, (str, dict)) and "AWS::StackId" not in json.dumps(value)
        assert not (value and fixed), f"{stem}.{name} keeps the fixed name {value!r}"


def test_deletion_protection_follows_a_parameter_the_deploy_turns_on_after_creation() -> None:
    database = cfn.properties("data", "Database")
    assert database["DeletionProtection"] == {"Fn::If": ["IsProtected", True, False]}
    attributes = cfn.properties("api", "LoadBalancer")["LoadBalancerAttributes"]
    (protection,) = [a for a in attributes if a["Key"] == "deletion_protection.enabled"]
    assert protection["Value"] == {"Fn::If": ["IsProtected", "true", "false"]}
    root = cfn.nested_stacks()
    for stack in ("Data", "Api"):
        assert root[stack][1]["DeletionProtection"] == {"Ref": "DeletionProtection"}


def test_the_replica_can_be_turned_off() -> None:
    replica = cfn.load("data")["Resources"]["DatabaseReplica"]
    assert replica["Properties"]["DeletionProtection"] is False
    assert "DBInstanceIdentifier" not in replica["Properties"]
    assert replica["DeletionPolicy"] == "Delete"


def test_engine_version_is_a_major_that_minor_upgrades_never_contradict() -> None:
    data = cfn.load("data")
    version = data["Parameters"]["DbEngineVersion"]
    assert version["Default"].isdigit() and version["AllowedPattern"] == "^[0-9]+$"
    family = cfn.properties("data", "DatabaseParameterGroup")["Family"]
    assert family == f"postgres{version['Default']}"
    database = cfn.properties("data", "Database")
    assert database["AllowMajorVersionUpgrade"] is False
    assert database["AutoMinorVersionUpgrade"] is True


def test_stripe_secret_is_generated_once_and_never_written_by_the_template() -> None:
    secret = cfn.load("security")["Resources"]["StripeSecret"]
    assert "SecretString" not in secret["Properties"]
    generated = secret["Properties"]["GenerateSecretString"]
    template = json.loads(generated["SecretStringTemplate"])
    # The API task reads webhook_secret by JSON key: it must exist from the start.
    assert template == {"api_key": "", "webhook_secret": ""}
    assert generated["GenerateStringKey"] not in template
    assert secret["UpdateReplacePolicy"] == "Retain"


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_backups_cover_point_in_time_restore(env: str) -> None:
    rows = json.loads((cfn.TEMPLATES / "params" / f"{env}.json").read_text())
    values = {row["ParameterKey"]: row["ParameterValue"] for row in rows}
    assert int(values["DbBackupRetentionDays"]) >= 7
    data = cfn.load("data")["Resources"]
    assert data["Database"]["DeletionPolicy"] == "Snapshot"
    assert data["Database"]["UpdateReplacePolicy"] == "Snapshot"
    assert data["Database"]["Properties"]["MultiAZ"] is True
    versioning = data["MediaBucket"]["Properties"]["VersioningConfiguration"]
    assert versioning == {"Status": "Enabled"}
    assert data["DatabaseSecret"]["DeletionPolicy"] == "RetainExceptOnCreate"
