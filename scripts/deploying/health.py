"""Phase 6, second half: wait for health, i.e. services stable and /readyz answering 200."""

from __future__ import annotations

import subprocess

from .context import DeployContext
from .shell import DeployError


class HealthSteps(DeployContext):
    """Phase 6 of ``Deploy``: the wait for health."""

    def wait_healthy(self, domain: str) -> None:
        cluster = self.stack_output(self.stack, "ClusterName")
        services = [
            self.stack_output(self.stack, "ApiServiceName"),
            self.stack_output(self.stack, "MediaServiceName"),
        ]
        self.aws("ecs", "wait", "services-stable", "--cluster", cluster, "--services", *services)
        probe_arn = self.stack_output(self.stack, "ReadinessProbeSecretArn")
        probe = self.aws(
            "secretsmanager",
            "get-secret-value",
            "--secret-id",
            probe_arn,
            "--query",
            "SecretString",
            "--output",
            "text",
            placeholder="<probe secret>",
        )
        curl = ["curl", "-fsS", "--retry", "10", "--retry-delay", "6", "--retry-all-errors", "-H"]
        url = f"https://{domain}/readyz"
        # The probe secret is never printed: the plan shows a placeholder in its place.
        self.shell.show(
            [*curl, "X-Roto-Probe: <probe secret>", url],
            note="readiness: PostgreSQL, Redis, S3 and the queues, from a running task",
        )
        if self.shell.dry_run:
            return
        result = subprocess.run(
            [*curl, f"X-Roto-Probe: {probe}", url], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise DeployError(f"/readyz did not answer 200: {result.stdout or result.stderr}")
        print(result.stdout, flush=True)
