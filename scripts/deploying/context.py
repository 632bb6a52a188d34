"""What every phase of a deploy works with: the environment and its stack, and `aws` in its region.

Each phase (images.py, migrations.py, web.py, health.py, ami.py) is a subclass of
``DeployContext``; release.py's ``Deploy`` combines them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .shell import Shell


@dataclass
class DeployContext:
    """One environment's deploy: its stack, its region, the shell every command goes through."""

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

    def account(self) -> str:
        """The AWS account id the credentials belong to."""
        return self.aws(
            "sts",
            "get-caller-identity",
            "--query",
            "Account",
            "--output",
            "text",
            placeholder="<account>",
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
