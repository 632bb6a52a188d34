#!/usr/bin/env python3
"""Ship one environment: `make deploy ENV=dev|prod` (and `make deploy-plan`, i.e. --dry-run).

1. Build the api, media and gpu images, push them to the registry stack's repositories and take
   their digests (a release already pushed is reused: tags are immutable).
2. Package the nested templates (`aws cloudformation package`) into the artifacts bucket.
3. Make a change set of the root stack: params/<env>.json plus the three image digests.
4. Run the new release's migrations as a one-off ECS task, before anything rolls; stop at a
   non-zero exit (on a first deploy they run right after the stack is created).
5. Execute the change set and wait: ECS rolls the services (circuit breaker with rollback), the
   GPU group rolls one instance at a time on boot signals, and a failure rolls the stack back.
6. Publish the web app, then wait for health: services stable and /readyz answering 200.

--dry-run needs no AWS account and no Docker: it prints the change set inputs and every command
it would run, with <placeholders> for values only known while it runs. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TEMPLATES = REPO / "infra" / "cloudformation"
BUILD = REPO / "build" / "deploy"
TARGETS = ("api", "media", "gpu")
REGISTRY_STACK = "roto-registry"
CAPABILITIES = ["CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]


class DeployError(RuntimeError):
    """A step failed; the message says which and what to look at."""


@dataclass
class Shell:
    """Runs commands, or in a dry run prints them and answers with a placeholder."""

    dry_run: bool
    printed: list[str] = field(default_factory=list)

    def show(self, args: Sequence[str], note: str = "") -> None:
        line = "$ " + shlex.join(args) + (f"    # {note}" if note else "")
        self.printed.append(line)
        print(line, flush=True)

    def run(
        self,
        args: Sequence[str],
        *,
        placeholder: str = "",
        note: str = "",
        stdin: str | None = None,
    ) -> str:
        """Run ``args`` and return its stdout (stripped); a dry run returns ``placeholder``."""
        self.show(args, note)
        if self.dry_run:
            return placeholder
        result = subprocess.run(
            list(args), input=stdin, capture_output=True, text=True, cwd=REPO, check=False
        )
        if result.returncode != 0:
            raise DeployError(
                f"{shlex.join(args)} failed ({result.returncode}): {result.stderr.strip()}"
            )
        return result.stdout.strip()

    def attempt(self, args: Sequence[str], *, assume: bool, note: str = "") -> tuple[bool, str]:
        """Whether ``args`` exits 0, and its stdout; a dry run assumes ``assume`` and no output."""
        self.show(args, note)
        if self.dry_run:
            return assume, ""
        result = subprocess.run(list(args), capture_output=True, text=True, cwd=REPO, check=False)
        return result.returncode == 0, result.stdout.strip()


def load_params(env: str) -> dict[str, str]:
    rows = json.loads((TEMPLATES / "params" / f"{env}.json").read_text())
    return {row["ParameterKey"]: row["ParameterValue"] for row in rows}


def release_params(env: str, digests: dict[str, str], *, creating: bool) -> dict[str, str]:
    """The root stack's parameters for this release: the env file plus the image digests. A
    creation turns deletion protection off, so that a failed first creation can roll back."""
    params = load_params(env)
    params.update({f"{t.capitalize()}ImageDigest": digests[t] for t in TARGETS})
    if creating:
        params["DeletionProtection"] = "false"
    return params


def as_cli_params(params: dict[str, str]) -> list[dict[str, str]]:
    return [{"ParameterKey": k, "ParameterValue": v} for k, v in sorted(params.items())]


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


@dataclass
class Deploy:
    env: str
    region: str
    shell: Shell
    assume_new: bool = False
    skip_web: bool = False

    @property
    def stack(self) -> str:
        return f"roto-{self.env}"

    @property
    def role(self) -> list[str]:
        """--role-arn for stack operations when CI hands CloudFormation its own role (ci.yaml)."""
        arn = os.environ.get("CFN_EXECUTION_ROLE_ARN", "")
        return ["--role-arn", arn] if arn else []

    def aws(self, *args: str, placeholder: str = "", note: str = "") -> str:
        return self.shell.run(
            ["aws", "--region", self.region, *args], placeholder=placeholder, note=note
        )

    def stack_output(self, stack: str, key: str) -> str:
        return self.aws(
            "cloudformation",
            "describe-stacks",
            "--stack-name",
            stack,
            "--query",
            f"Stacks[0].Outputs[?OutputKey=='{key}'].OutputValue",
            "--output",
            "text",
            placeholder=f"<{stack} output {key}>",
        )

    # --- 1. images ----------------------------------------------------------------------------
    def images(self, release: str) -> dict[str, str]:
        account = self.aws(
            "sts",
            "get-caller-identity",
            "--query",
            "Account",
            "--output",
            "text",
            placeholder="<account>",
        )
        registry = f"{account}.dkr.ecr.{self.region}.amazonaws.com"
        self.aws(
            "cloudformation",
            "deploy",
            "--stack-name",
            REGISTRY_STACK,
            "--template-file",
            "infra/cloudformation/registry.yaml",
            *self.role,
            "--no-fail-on-empty-changeset",
            note="repositories and the artifacts bucket, once per account",
        )
        password = self.aws("ecr", "get-login-password", placeholder="<password>")
        self.shell.run(
            ["docker", "login", "--username", "AWS", "--password-stdin", registry],
            stdin=password,
            note="password on stdin",
        )
        digests = {}
        for target in TARGETS:
            repository = f"roto-{target}"
            pushed, digest = self.shell.attempt(
                [
                    "aws",
                    "--region",
                    self.region,
                    "ecr",
                    "describe-images",
                    "--repository-name",
                    repository,
                    "--image-ids",
                    f"imageTag={release}",
                    "--query",
                    "imageDetails[0].imageDigest",
                    "--output",
                    "text",
                ],
                assume=False,
                note="a retried release reuses the image it pushed",
            )
            if pushed and digest.startswith("sha256:"):
                digests[target] = digest
                continue
            metadata = BUILD / f"{target}-image.json"
            args = [
                "docker",
                "buildx",
                "build",
                "--target",
                target,
                "--tag",
                f"{registry}/{repository}:{release}",
                "--push",
                "--provenance=false",
                "--metadata-file",
                str(metadata.relative_to(REPO)),
            ]
            if target == "gpu":
                args += ["--build-arg", f"SAM2_CHECKPOINT_SHA256={self._checkpoint_sha256()}"]
            self.shell.run([*args, "."])
            digests[target] = (
                f"<digest of {repository}:{release}>"
                if self.shell.dry_run
                else json.loads(metadata.read_text())["containerimage.digest"]
            )
        return {t: digests[t] for t in TARGETS} | {"registry": registry}

    def _checkpoint_sha256(self) -> str:
        value = os.environ.get("SAM2_CHECKPOINT_SHA256", "")
        if not value and not self.shell.dry_run:
            raise DeployError(
                "set SAM2_CHECKPOINT_SHA256 (the sha256 of the SAM2 checkpoint you verified)"
            )
        return value or "<SAM2_CHECKPOINT_SHA256>"

    # --- 2-5. templates, change set, migrations, roll -----------------------------------------
    def run(self) -> None:
        BUILD.mkdir(parents=True, exist_ok=True)
        release = "git-" + _git_head()
        print(f"# release {release} to {self.stack} in {self.region}", flush=True)
        images = self.images(release)
        bucket = self.stack_output(REGISTRY_STACK, "ArtifactsBucketName")
        packaged = BUILD / f"root-{self.env}.packaged.yaml"
        self.aws(
            "cloudformation",
            "package",
            "--template-file",
            "infra/cloudformation/root.yaml",
            "--s3-bucket",
            bucket,
            "--s3-prefix",
            f"roto/{self.env}/{release}",
            "--output-template-file",
            str(packaged.relative_to(REPO)),
        )

        exists, _ = self.shell.attempt(
            [
                "aws",
                "--region",
                self.region,
                "cloudformation",
                "describe-stacks",
                "--stack-name",
                self.stack,
            ],
            assume=not self.assume_new,
            note="does the stack exist?",
        )
        creating = not exists
        params = release_params(self.env, {t: images[t] for t in TARGETS}, creating=creating)
        params_file = BUILD / f"params-{self.env}.json"
        params_file.write_text(json.dumps(as_cli_params(params), indent=2) + "\n")
        print("# change set inputs:", flush=True)
        print(f"#   template: {packaged.relative_to(REPO)} (from infra/cloudformation/root.yaml)")
        print(f"#   capabilities: {' '.join(CAPABILITIES)}")
        print(f"#   parameters ({params_file.relative_to(REPO)}):")
        for key, value in sorted(params.items()):
            print(f"#     {key}={value}")

        change_set = f"release-{release}"
        self.aws(
            "cloudformation",
            "create-change-set",
            "--stack-name",
            self.stack,
            "--change-set-name",
            change_set,
            "--change-set-type",
            "CREATE" if creating else "UPDATE",
            "--template-body",
            f"file://{packaged.relative_to(REPO)}",
            "--parameters",
            f"file://{params_file.relative_to(REPO)}",
            "--capabilities",
            *CAPABILITIES,
            "--include-nested-stacks",
            *self.role,
            "--tags",
            f"Key=roto:release,Value={release}",
        )
        self.aws(
            "cloudformation",
            "wait",
            "change-set-create-complete",
            "--stack-name",
            self.stack,
            "--change-set-name",
            change_set,
        )
        changes = self.aws(
            "cloudformation",
            "describe-change-set",
            "--stack-name",
            self.stack,
            "--change-set-name",
            change_set,
            "--query",
            "Changes[].ResourceChange.[Action,LogicalResourceId,ResourceType,Replacement]",
            "--output",
            "table",
            placeholder="<the change set's resource changes>",
        )
        if not self.shell.dry_run:
            print(changes, flush=True)

        api_image = f"{images['registry']}/roto-api@{images['api']}"
        if not creating:
            self.migrate(api_image)
        self.aws(
            "cloudformation",
            "execute-change-set",
            "--stack-name",
            self.stack,
            "--change-set-name",
            change_set,
        )
        done = "stack-create-complete" if creating else "stack-update-complete"
        self.aws(
            "cloudformation",
            "wait",
            done,
            "--stack-name",
            self.stack,
            note="a failure rolls the stack back; see describe-stack-events",
        )
        if creating:
            self.migrate(api_image)
            if load_params(self.env).get("DeletionProtection", "true") == "true":
                self.protect()
        if not self.skip_web:
            self.publish_web()
        self.wait_healthy(params["DomainName"])
        print(f"# {self.stack} runs {release}", flush=True)

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

    def protect(self) -> None:
        """After a first creation: turn deletion protection on, every other value kept."""
        keep = [
            f"ParameterKey={k},UsePreviousValue=true"
            for k in sorted(load_params(self.env))
            + [f"{t.capitalize()}ImageDigest" for t in TARGETS]
            if k != "DeletionProtection"
        ]
        self.aws(
            "cloudformation",
            "update-stack",
            "--stack-name",
            self.stack,
            "--use-previous-template",
            *self.role,
            "--capabilities",
            *CAPABILITIES,
            "--parameters",
            *sorted(keep),
            "ParameterKey=DeletionProtection,ParameterValue=true",
            note="first creation done: deletion protection on",
        )
        self.aws("cloudformation", "wait", "stack-update-complete", "--stack-name", self.stack)

    def publish_web(self) -> None:
        self.shell.run(["make", "web"], note="npm ci + vite build into web/dist")
        bucket = self.stack_output(self.stack, "FrontendBucketName")
        distribution = self.stack_output(self.stack, "DistributionId")
        self.aws(
            "s3",
            "sync",
            "web/dist/assets",
            f"s3://{bucket}/assets",
            "--cache-control",
            "public,max-age=31536000,immutable",
        )
        self.aws(
            "s3",
            "sync",
            "web/dist",
            f"s3://{bucket}",
            "--exclude",
            "assets/*",
            "--exclude",
            ".built",
            "--delete",
            "--cache-control",
            "no-cache",
        )
        self.aws(
            "cloudfront",
            "create-invalidation",
            "--distribution-id",
            distribution,
            "--paths",
            "/index.html",
        )

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

    # --- the baked AMI ------------------------------------------------------------------------
    def bake_ami(self, gpu_digest: str) -> None:
        """An AMI that already holds the gpu image's layers, published as /roto/<env>/gpu/ami-id.
        Set GpuAmiParameter to that name in params/<env>.json to boot from it."""
        account = self.aws(
            "sts",
            "get-caller-identity",
            "--query",
            "Account",
            "--output",
            "text",
            placeholder="<account>",
        )
        image = f"{account}.dkr.ecr.{self.region}.amazonaws.com/roto-gpu@{gpu_digest}"
        base = self.aws(
            "ssm",
            "get-parameter",
            "--name",
            "/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-amazon-linux-2023/latest/ami-id",
            "--query",
            "Parameter.Value",
            "--output",
            "text",
            placeholder="<base ami>",
        )
        subnet = self.stack_output(self.stack, "PrivateSubnetIds").split(",")[0]
        group = self.stack_output(self.stack, "GpuSecurityGroupId")
        profile = self.stack_output(self.stack, "GpuInstanceProfileArn")
        user_data = BUILD / "bake-user-data.sh"
        user_data.write_text(
            "#!/bin/bash\nset -euo pipefail\n"
            f"aws ecr get-login-password --region {self.region} | docker login --username AWS "
            f"--password-stdin {image.split('/')[0]}\n"
            f"docker pull {image}\nshutdown -h now\n"
        )
        instance = self.aws(
            "ec2",
            "run-instances",
            "--image-id",
            base,
            "--instance-type",
            "g4dn.xlarge",
            "--subnet-id",
            subnet,
            "--security-group-ids",
            group,
            "--iam-instance-profile",
            f"Arn={profile}",
            "--metadata-options",
            "HttpTokens=required,HttpPutResponseHopLimit=2",
            "--block-device-mappings",
            "DeviceName=/dev/xvda,Ebs={VolumeSize=200,VolumeType=gp3,Encrypted=true}",
            "--user-data",
            f"file://{user_data.relative_to(REPO)}",
            "--query",
            "Instances[0].InstanceId",
            "--output",
            "text",
            placeholder="<bake instance>",
        )
        self.aws(
            "ec2",
            "wait",
            "instance-stopped",
            "--instance-ids",
            instance,
            note="the user data pulls the image, then shuts the instance down",
        )
        ami = self.aws(
            "ec2",
            "create-image",
            "--instance-id",
            instance,
            "--name",
            f"roto-{self.env}-gpu-{gpu_digest.removeprefix('sha256:')[:16]}",
            "--query",
            "ImageId",
            "--output",
            "text",
            placeholder="<ami>",
        )
        self.aws("ec2", "wait", "image-available", "--image-ids", ami)
        self.aws("ec2", "terminate-instances", "--instance-ids", instance)
        self.aws(
            "ssm",
            "put-parameter",
            "--name",
            f"/roto/{self.env}/gpu/ami-id",
            "--type",
            "String",
            "--data-type",
            "aws:ec2:image",
            "--value",
            ami,
            "--overwrite",
        )


def _git_head() -> str:
    result = subprocess.run(
        ["git", "rev-parse", "--short=12", "HEAD"],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    return result.stdout.strip() or "unknown"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", nargs="?", default="deploy", choices=["deploy", "bake-ami"])
    parser.add_argument("--env", required=True, choices=["dev", "prod"])
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--dry-run", action="store_true", help="print the plan; run nothing remote")
    parser.add_argument(
        "--assume-new",
        action="store_true",
        help="dry run: plan a first creation instead of an update",
    )
    parser.add_argument(
        "--skip-web", action="store_true", help="leave the frontend bucket as it is"
    )
    parser.add_argument("--gpu-digest", help="bake-ami: the gpu image digest to bake in")
    args = parser.parse_args(argv[1:])
    deploy = Deploy(args.env, args.region, Shell(args.dry_run), args.assume_new, args.skip_web)
    try:
        if args.command == "bake-ami":
            if not args.gpu_digest and not args.dry_run:
                parser.error(
                    "bake-ami needs --gpu-digest sha256:... (the release's GpuImageDigest)"
                )
            deploy.bake_ami(args.gpu_digest or "<gpu digest>")
        else:
            deploy.run()
    except DeployError as exc:
        print(f"deploy FAILED: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
