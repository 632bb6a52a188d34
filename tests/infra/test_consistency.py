"""The ROTO_* settings the templates give each service are settings the code reads, and the
queue, bucket and secret names they carry are the ones the other stacks create."""

from __future__ import annotations

import pytest

from roto import aws
from roto.settings import settings_field_names
from tests.infra import cfn
from tests.infra.cfn import Origin, Setting

REQUIRED = {
    "ROTO_DATABASE_URL",
    "ROTO_REDIS_URL",
    "ROTO_S3_BUCKET",
    "ROTO_QUEUE_INTERACTIVE",
    "ROTO_QUEUE_BATCH",
    "ROTO_QUEUE_MEDIA",
    "ROTO_AWS_REGION",
}
#: Only the API signs and verifies tokens; the workers are never given the key.
JWT_SECRET = "ROTO_JWT_SECRET"
# Settings held in Secrets Manager, and the secret resource each one must come from.
SECRETS = {
    "ROTO_DATABASE_URL": Origin("resource", "data", "DatabaseUrlSecret", "Ref"),
    "ROTO_REDIS_URL": Origin("resource", "data", "RedisUrlSecret", "Ref"),
}
SECRETS_BY_SERVICE = {
    "api": {**SECRETS, JWT_SECRET: Origin("resource", "security", "JwtSecret", "Ref")},
    "media": SECRETS,
    "gpu": SECRETS,
}
QUEUES = {
    "ROTO_QUEUE_INTERACTIVE": "interactive",
    "ROTO_QUEUE_BATCH": "batch",
    "ROTO_QUEUE_MEDIA": "media",
}


def service_settings() -> dict[str, tuple[str, dict[str, Setting]]]:
    """Each long-running service: (template stem, its ROTO_* settings)."""
    return {
        "api": ("api", cfn.container_settings("api", "ApiTaskDefinition", "api")),
        "media": ("api", cfn.container_settings("api", "MediaTaskDefinition", "media")),
        "gpu": ("gpu", cfn.user_data_settings("gpu", "LaunchTemplate")),
    }


def every_setting_source() -> dict[str, set[str]]:
    """ROTO_* names written anywhere in the templates or the images, by file."""
    paths = [*cfn.TEMPLATES.glob("**/*.yaml"), *cfn.TEMPLATES.glob("**/*.json")]
    paths += [cfn.REPO / "Dockerfile", *(cfn.REPO / "infra" / "docker").glob("*")]
    return {str(p.relative_to(cfn.REPO)): set(cfn.SETTING_RE.findall(p.read_text())) for p in paths}


def test_every_roto_name_in_the_infrastructure_is_a_setting_the_code_reads() -> None:
    known = settings_field_names()
    for path, names in every_setting_source().items():
        assert cfn.unknown_settings(names, known) == [], f"{path} sets settings the code lacks"


def test_the_check_rejects_a_setting_the_code_does_not_read() -> None:
    # The comparison the test above relies on, fed a template fragment with a made-up name.
    fragment = "ROTO_S3_BUCKET=media\nROTO_FOO=1\n"
    names = set(cfn.SETTING_RE.findall(fragment))
    assert cfn.unknown_settings(names, settings_field_names()) == ["ROTO_FOO"]


def test_the_services_set_settings_the_code_reads() -> None:
    known = set(settings_field_names())
    for service, (_, settings) in service_settings().items():
        assert set(settings) <= known, f"{service}: {sorted(set(settings) - known)}"


@pytest.mark.parametrize("service", ["api", "media", "gpu"])
def test_each_service_gets_the_required_settings(service: str) -> None:
    _, settings = service_settings()[service]
    assert sorted(REQUIRED - set(settings)) == []
    # In AWS the clients must talk to the real endpoints.
    assert "ROTO_AWS_ENDPOINT_URL" not in settings
    # Only the API needs the token signing key; a worker that leaked it could forge any user.
    assert (JWT_SECRET in settings) == (service == "api")


@pytest.mark.parametrize("service", ["api", "media", "gpu"])
def test_secret_settings_come_from_the_secrets_that_hold_them(service: str) -> None:
    stem, settings = service_settings()[service]
    secrets = SECRETS_BY_SERVICE[service]
    for name, origin in secrets.items():
        assert settings[name].secret, f"{service}: {name} must come from Secrets Manager"
        assert cfn.trace(stem, settings[name].value) == origin, f"{service}: {name}"
    plain = {name for name, setting in settings.items() if not setting.secret}
    assert not plain & set(secrets)


def test_api_reads_lagging_data_from_the_read_url_secret() -> None:
    stem, settings = service_settings()["api"]
    read = settings["ROTO_DATABASE_READ_URL"]
    assert read.secret
    assert cfn.trace(stem, read.value) == Origin("resource", "data", "DatabaseReadUrlSecret", "Ref")


@pytest.mark.parametrize("service", ["api", "media", "gpu"])
def test_queue_settings_name_the_queues_the_queue_stack_creates(service: str) -> None:
    stem, settings = service_settings()[service]
    queues = cfn.load("queues")["Resources"]
    for name, role in QUEUES.items():
        origin = cfn.trace(stem, settings[name].value)
        assert origin.stack == "queues" and origin.attribute == "QueueName", (service, name, origin)
        queue = queues[origin.name]["Properties"]
        assert queue["QueueName"] == {"Fn::Sub": f"roto-${{EnvName}}-{role}"}
        # The dead-letter queue is the queue's name plus the suffix the local stack uses.
        dlq_id = queue["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        dlq_name = queues[dlq_id]["Properties"]["QueueName"]["Fn::Sub"]
        assert dlq_name == f"roto-${{EnvName}}-{role}{aws.DLQ_SUFFIX}"


@pytest.mark.parametrize("service", ["api", "media", "gpu"])
def test_bucket_setting_names_the_media_bucket(service: str) -> None:
    stem, settings = service_settings()[service]
    origin = cfn.trace(stem, settings["ROTO_S3_BUCKET"].value)
    assert origin == Origin("resource", "data", "MediaBucket", "Ref")
    region = cfn.trace(stem, settings["ROTO_AWS_REGION"].value)
    assert region == Origin("pseudo", name="AWS::Region")


@pytest.mark.parametrize(
    ("service", "setting", "queue_property"),
    [
        ("media", "ROTO_WORKER_MAX_RECEIVES", ("RedrivePolicy", "maxReceiveCount")),
        ("gpu", "ROTO_WORKER_MAX_RECEIVES", ("RedrivePolicy", "maxReceiveCount")),
        ("media", "ROTO_WORKER_VISIBILITY_TIMEOUT_S", ("VisibilityTimeout",)),
        ("gpu", "ROTO_WORKER_VISIBILITY_TIMEOUT_S", ("VisibilityTimeout",)),
    ],
)
def test_worker_retry_settings_and_queue_redrive_share_one_root_parameter(
    service: str, setting: str, queue_property: tuple[str, ...]
) -> None:
    # A worker marks a job failed on its last receive; the queue must not dead-letter it before.
    stem, settings = service_settings()[service]
    worker_origin = cfn.trace(stem, settings[setting].value)
    assert worker_origin.kind == "root-parameter"
    for role in ("Interactive", "Batch", "Media"):
        value = cfn.properties("queues", f"{role}Queue")
        for key in queue_property:
            value = value[key]
        assert cfn.trace("queues", value) == worker_origin, (role, setting)


def resource_origins(stem: str, policy: str, sid: str) -> set[Origin]:
    return {cfn.trace(stem, r) for r in cfn.statement_resources(stem, policy, sid)}


def test_roles_may_read_exactly_the_secrets_their_services_get() -> None:
    ecs_secrets = {
        cfn.trace("api", s.value)
        for service in ("api", "media")
        for s in service_settings()[service][1].values()
        if s.secret
    }
    migrate = cfn.container_settings("api", "MigrateTaskDefinition", "migrate")
    ecs_secrets |= {cfn.trace("api", s.value) for s in migrate.values() if s.secret}
    assert resource_origins("api", "TaskExecutionPolicy", "ReadSettingsSecrets") == ecs_secrets
    gpu_settings = service_settings()["gpu"][1].values()
    gpu_secrets = {cfn.trace("gpu", s.value) for s in gpu_settings if s.secret}
    assert resource_origins("gpu", "GpuInstancePolicy", "ReadSettingsSecrets") == gpu_secrets


@pytest.mark.parametrize(
    ("stem", "policy", "sid", "queues"),
    [
        ("api", "ApiTaskPolicy", "EnqueueJobs", {"Interactive", "Batch", "Media"}),
        ("api", "MediaTaskPolicy", "WorkMediaQueue", {"Media"}),
        ("gpu", "GpuInstancePolicy", "WorkModelQueues", {"Interactive", "Batch"}),
    ],
)
def test_roles_reach_the_queues_their_service_uses(
    stem: str, policy: str, sid: str, queues: set[str]
) -> None:
    expected = {Origin("resource", "queues", f"{q}Queue", "Arn") for q in queues}
    assert resource_origins(stem, policy, sid) == expected


@pytest.mark.parametrize(
    ("stem", "policy"),
    [("api", "ApiTaskPolicy"), ("api", "MediaTaskPolicy"), ("gpu", "GpuInstancePolicy")],
)
def test_roles_reach_the_bucket_the_services_are_given(stem: str, policy: str) -> None:
    (objects,) = cfn.statement_resources(stem, policy, "MediaObjects")
    assert objects == {"Fn::Sub": "${MediaBucketArn}/*"}
    bucket = cfn.trace(stem, {"Ref": "MediaBucketArn"})
    assert bucket == Origin("resource", "data", "MediaBucket", "Arn")
    assert resource_origins(stem, policy, "MediaBucket") == {bucket}


@pytest.mark.parametrize(
    ("task_definition", "role"),
    [("ApiTaskDefinition", "ApiTaskRole"), ("MediaTaskDefinition", "MediaTaskRole")],
)
def test_task_policies_attach_to_the_role_the_task_runs_as(task_definition: str, role: str) -> None:
    task_role = cfn.trace("api", cfn.properties("api", task_definition)["TaskRoleArn"])
    assert task_role == Origin("resource", "security", role, "Arn")
    policy = f"{role.removesuffix('Role')}Policy"
    (attached,) = cfn.properties("api", policy)["Roles"]
    assert cfn.trace("api", attached) == Origin("resource", "security", role, "Ref")
