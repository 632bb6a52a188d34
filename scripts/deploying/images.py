"""Phase 1: build the api, media and gpu images, push them to the registry stack's repositories and
take their digests (a release already pushed is reused: tags are immutable)."""

from __future__ import annotations

import json
import os

from .constants import BUILD, REGISTRY_STACK, REPO, TARGETS
from .context import DeployContext
from .shell import DeployError


class ImageSteps(DeployContext):
    """Phase 1 of ``Deploy``: the images, by digest."""

    def images(self, release: str) -> dict[str, str]:
        account = self.account()
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
