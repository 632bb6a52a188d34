"""Phase 4: run the new release's migrations as a one-off ECS task, before anything rolls; stop at
a non-zero exit (on a first deploy they run right after the stack is created)."""

from __future__ import annotations

import json

from .constants import BUILD, REPO
from .context import DeployContext
from .shell import DeployError


def migrate_task_definition(current: dict, image: str) -> dict:
    """A revision of the migrate family that runs ``image`` (the new release's api image)."""
    keep = (
        "family",
        "executionRoleArn",
        "networkMode",
        "containerDefinitions",
        "requiresCompatibilities",
        "cpu",
        "memory",
        "runtimePlatform",
    )
    revision = {k: current[k] for k in keep if k in current}
    revision["containerDefinitions"] = [dict(c) for c in revision["containerDefinitions"]]
    revision["containerDefinitions"][0]["image"] = image
    return revision


class MigrationSteps(DeployContext):
    """Phase 4 of ``Deploy``: the migrations, before the roll."""

    def migrate(self, api_image: str) -> None:
        """The release's migrations, as a one-off task of the migrate family with the new image."""
        family = f"roto-{self.env}-migrate"
        current = self.aws(
            "ecs",
            "describe-task-definition",
            "--task-definition",
            family,
            "--query",
            "taskDefinition",
            placeholder="{}",
        )
        revision_file = BUILD / "migrate-task-definition.json"
        if not self.shell.dry_run:
            revision_file.write_text(
                json.dumps(migrate_task_definition(json.loads(current), api_image))
            )
        arn = self.aws(
            "ecs",
            "register-task-definition",
            "--cli-input-json",
            f"file://{revision_file.relative_to(REPO)}",
            "--query",
            "taskDefinition.taskDefinitionArn",
            "--output",
            "text",
            placeholder=f"<{family} revision running {api_image}>",
            note="the migrate family, image replaced by the new api image",
        )
        cluster = self.stack_output(self.stack, "ClusterName")
        subnets = self.stack_output(self.stack, "PrivateSubnetIds")
        group = self.stack_output(self.stack, "ApiSecurityGroupId")
        network = (
            f"awsvpcConfiguration={{subnets=[{subnets}],securityGroups=[{group}],"
            "assignPublicIp=DISABLED}"
        )
        task = self.aws(
            "ecs",
            "run-task",
            "--cluster",
            cluster,
            "--task-definition",
            arn,
            "--launch-type",
            "FARGATE",
            "--network-configuration",
            network,
            "--started-by",
            "deploy",
            "--query",
            "tasks[0].taskArn",
            "--output",
            "text",
            placeholder="<migrate task arn>",
        )
        self.aws("ecs", "wait", "tasks-stopped", "--cluster", cluster, "--tasks", task)
        code = self.aws(
            "ecs",
            "describe-tasks",
            "--cluster",
            cluster,
            "--tasks",
            task,
            "--query",
            "tasks[0].containers[0].exitCode",
            "--output",
            "text",
            placeholder="0",
        )
        if code != "0":
            raise DeployError(
                f"migrations exited {code}: nothing rolled; read /roto/{self.env}/migrate"
            )
