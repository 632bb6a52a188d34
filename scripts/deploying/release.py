"""A release of one environment, its phases in order (``Deploy.run``):

1. Build the api, media and gpu images, push them to the registry stack's repositories and take
   their digests (a release already pushed is reused: tags are immutable).
2. Package the nested templates (`aws cloudformation package`) into the artifacts bucket.
3. Make a change set of the root stack: params/<env>.json plus the three image digests.
4. Run the new release's migrations as a one-off ECS task, before anything rolls; stop at a
   non-zero exit (on a first deploy they run right after the stack is created).
5. Execute the change set and wait: ECS rolls the services (circuit breaker with rollback), the
   GPU group rolls one instance at a time on boot signals, and a failure rolls the stack back.
6. Publish the web app, then wait for health: services stable and /readyz answering 200.
"""

from __future__ import annotations

import json
import subprocess

from .ami import AmiSteps
from .constants import BUILD, CAPABILITIES, REGISTRY_STACK, REPO, TARGETS
from .health import HealthSteps
from .images import ImageSteps
from .migrations import MigrationSteps
from .params import as_cli_params, load_params, release_params
from .web import WebSteps


class Deploy(ImageSteps, MigrationSteps, WebSteps, HealthSteps, AmiSteps):
    """One environment's deploy: ``run`` ships a release, ``bake_ami`` bakes the gpu AMI."""

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


def _git_head() -> str:
    result = subprocess.run(
        ["git", "rev-parse", "--short=12", "HEAD"],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    return result.stdout.strip() or "unknown"
