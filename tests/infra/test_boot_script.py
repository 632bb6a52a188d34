"""The GPU instance's boot script (gpu.yaml user data), run for real under bash with stub `aws`,
`docker` and `curl` on PATH: it stops loudly on a secret it cannot read, abandons the instance and
signals failure, and reports the instance up only once the daemon's heartbeat is fresh."""

from __future__ import annotations

import os
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.infra import cfn

INSTANCE = "i-0123456789abcdef0"
DIGEST = "sha256:" + "ab" * 32
SECRETS = {
    "arn:db": "postgresql://roto:pw@proxy.example:5432/roto?sslmode=require",
    "arn:redis": "rediss://:token@redis.example:6379/0",
}
VALUES = {
    "AWS::Region": "us-east-1",
    "AWS::StackName": "roto-dev-Gpu-ABC",
    "EnvName": "dev",
    "GpuImageUri": f"123456789012.dkr.ecr.us-east-1.amazonaws.com/roto-gpu@{DIGEST}",
    "ReadyTimeoutSeconds": "60",
    "HeartbeatStaleSeconds": "90",
    "DatabaseUrlSecretArn": "arn:db",
    "RedisUrlSecretArn": "arn:redis",
    "LogLevel": "INFO",
    "MediaBucketName": "media-bucket",
    "InteractiveQueueName": "roto-dev-interactive",
    "BatchQueueName": "roto-dev-batch",
    "MediaQueueName": "roto-dev-media",
    "WorkerConcurrency": "8",
    "WorkerVisibilityTimeoutSeconds": "60",
    "WorkerMaxReceives": "3",
    "WorkerDrainTimeoutSeconds": "30",
    "BatchMaxSize": "8",
    "BatchMaxWaitMs": "5",
    "EnableTracing": "false",
    "CollectorImage": "collector:1",
    "GpuLogGroup": "gpu-log-group",
}

# Each stub appends one line per call ("<tool> <args...>") to $STUB_LOG.
AWS_STUB = r"""#!/bin/bash
echo "aws $*" >> "$STUB_LOG"
case "$1 $2" in
  "secretsmanager get-secret-value")
    while [[ $1 != --secret-id ]]; do shift; done
    id=$2
    if [[ ! -f $STUB_SECRETS/$id ]]; then
      echo "An error occurred (AccessDeniedException) when calling GetSecretValue" >&2; exit 254
    fi
    cat "$STUB_SECRETS/$id"; echo;;
  "ecr get-login-password") echo password;;
  "cloudformation signal-resource") [[ -z ${STUB_SIGNAL_REFUSED:-} ]] || exit 254;;
esac
"""
DOCKER_STUB = r"""#!/bin/bash
echo "docker $*" >> "$STUB_LOG"
case "$1" in
  login) cat > /dev/null;;
  network) [[ $2 != inspect ]];;
  inspect) echo "${STUB_RUNNING:-true}";;
  run)
    if [[ " $* " == *" --name roto-gpu "* ]]; then
      beat="$BOOT_ROOT/scratch/roto/heartbeat"
      case "${STUB_DAEMON:-beats}" in
        beats) echo '{"state": "ready", "in_flight": 0}' > "$beat";;
        beat-before-start) echo '{}' > "$beat"; touch -d '-1 hour' "$beat";;
      esac
    fi
    echo container-id;;
esac
"""
CURL_STUB = rf"""#!/bin/bash
echo "curl $*" >> "$STUB_LOG"
case "$*" in
  *api/token*) echo metadata-token;;
  *instance-id*) echo {INSTANCE};;
esac
"""


@dataclass
class Boot:
    returncode: int
    stderr: str
    calls: list[str]
    root: Path

    def called(self, prefix: str) -> list[str]:
        return [c for c in self.calls if c.startswith(prefix)]

    def index(self, prefix: str) -> int:
        return next(i for i, c in enumerate(self.calls) if c.startswith(prefix))


def boot(tmp_path: Path, *, secrets: dict[str, str] = SECRETS, **env: str) -> Boot:
    values = dict(VALUES)
    for key in ("ReadyTimeoutSeconds",):
        if key in env:
            values[key] = env.pop(key)
    script = cfn.render_sub(cfn.user_data("gpu", "LaunchTemplate"), values)
    bin_dir, root = tmp_path / "bin", tmp_path / "root"
    bin_dir.mkdir()
    root.mkdir()
    for name, body in {"aws": AWS_STUB, "docker": DOCKER_STUB, "curl": CURL_STUB}.items():
        path = bin_dir / name
        path.write_text(body)
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    (tmp_path / "secrets").mkdir()
    for secret_id, value in secrets.items():
        (tmp_path / "secrets" / secret_id).write_text(value)
    (tmp_path / "user-data.sh").write_text(script)
    log = tmp_path / "calls.log"
    log.touch()
    result = subprocess.run(
        ["bash", str(tmp_path / "user-data.sh")],
        env={
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "BOOT_ROOT": str(root),
            "STUB_LOG": str(log),
            "STUB_SECRETS": str(tmp_path / "secrets"),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return Boot(result.returncode, result.stderr, log.read_text().splitlines(), root)


def assert_abandoned(result: Boot) -> None:
    assert result.returncode != 0
    assert "roto-boot: FAILED" in result.stderr
    (signal,) = result.called("aws cloudformation signal-resource")
    assert "--status FAILURE" in signal and f"--unique-id {INSTANCE}" in signal
    (hook,) = result.called("aws autoscaling complete-lifecycle-action")
    assert "--lifecycle-action-result ABANDON" in hook
    assert not any("CONTINUE" in c or "SUCCESS" in c for c in result.calls)
    assert not result.called("docker run -d --name roto-gpu-watchdog")


def test_boot_reports_the_instance_up_only_after_the_daemon_beats(tmp_path: Path) -> None:
    result = boot(tmp_path)
    assert result.returncode == 0, result.stderr
    daemon = result.index("docker run -d --name roto-gpu ")
    watchdog = result.index("docker run -d --name roto-gpu-watchdog")
    hook = result.index("aws autoscaling complete-lifecycle-action")
    signal = result.index("aws cloudformation signal-resource")
    assert daemon < watchdog < hook < signal
    assert "--lifecycle-action-result CONTINUE" in result.calls[hook]
    assert "--status SUCCESS" in result.calls[signal]
    assert f"roto-gpu@{DIGEST} python -m roto.worker --role gpu" in result.calls[daemon]
    assert "--stale-after 90" in result.calls[watchdog]


def test_settings_file_is_root_only_and_holds_the_fetched_secrets(tmp_path: Path) -> None:
    result = boot(tmp_path)
    env_file = result.root / "etc" / "roto" / "env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(env_file.parent.stat().st_mode) == 0o700
    lines = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
    assert lines["ROTO_DATABASE_URL"] == SECRETS["arn:db"]
    assert lines["ROTO_REDIS_URL"] == SECRETS["arn:redis"]
    # The daemon verifies no tokens: it is not given the key that signs them.
    assert "ROTO_JWT_SECRET" not in lines
    assert lines["ROTO_QUEUE_BATCH"] == "roto-dev-batch"
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" not in lines


@pytest.mark.parametrize(
    ("secrets", "message"),
    [
        ({k: v for k, v in SECRETS.items() if k != "arn:db"}, "cannot read ROTO_DATABASE_URL"),
        ({**SECRETS, "arn:redis": ""}, "cannot read ROTO_REDIS_URL"),
        ({**SECRETS, "arn:redis": "None"}, "cannot read ROTO_REDIS_URL"),
        ({**SECRETS, "arn:db": "mysql://x"}, "ROTO_DATABASE_URL is not a postgresql:// URL"),
    ],
    ids=["fetch-fails", "empty", "none", "wrong-scheme"],
)
def test_a_bad_secret_stops_the_boot_and_abandons_the_instance(
    tmp_path: Path, secrets: dict[str, str], message: str
) -> None:
    result = boot(tmp_path, secrets=secrets)
    assert_abandoned(result)
    assert message in result.stderr
    # Nothing ran, and no settings file with a missing value was left behind.
    assert not result.called("docker")
    assert not (result.root / "etc" / "roto" / "env").exists()


def test_a_daemon_that_exits_before_beating_abandons_the_instance(tmp_path: Path) -> None:
    result = boot(tmp_path, STUB_DAEMON="silent", STUB_RUNNING="false")
    assert_abandoned(result)
    assert "the daemon exited before its first heartbeat" in result.stderr


def test_a_daemon_that_never_beats_abandons_the_instance_at_the_timeout(tmp_path: Path) -> None:
    result = boot(tmp_path, STUB_DAEMON="silent", ReadyTimeoutSeconds="0")
    assert_abandoned(result)
    assert "no heartbeat" in result.stderr


def test_a_heartbeat_older_than_the_daemon_does_not_count(tmp_path: Path) -> None:
    result = boot(tmp_path, STUB_DAEMON="beat-before-start", ReadyTimeoutSeconds="0")
    assert_abandoned(result)
    assert "no heartbeat" in result.stderr


def test_a_refused_signal_outside_an_update_does_not_fail_the_boot(tmp_path: Path) -> None:
    result = boot(tmp_path, STUB_SIGNAL_REFUSED="1")
    assert result.returncode == 0, result.stderr
    assert "no signal expected now" in result.stderr


def test_tracing_runs_the_collector_and_points_the_daemon_at_it(tmp_path: Path) -> None:
    values = {**VALUES, "EnableTracing": "true"}
    script = cfn.render_sub(cfn.user_data("gpu", "LaunchTemplate"), values)
    assert "docker run -d --name otel-collector" in script
    assert "OTEL_EXPORTER_OTLP_ENDPOINT=http://otel-collector:4317" in script
