#!/usr/bin/env python3
"""Ship one environment: `make deploy ENV=dev|prod` (and `make deploy-plan`, i.e. --dry-run).

This file is the command line. The deploy itself is the deploying package beside it: its
phases, in order, are listed in deploying/release.py, and deploying/__init__.py maps the modules.

--dry-run needs no AWS account and no Docker: it prints the change set inputs and every command
it would run, with <placeholders> for values only known while it runs. Standard library only.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# `python3 scripts/deploy.py` already has this folder first on sys.path; loaded by its path (as
# tests/infra/test_deploy.py does) it has not, and it goes last, where scripts/loadtest.py cannot
# shadow the repository's loadtest package.
HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.append(HERE)

from deploying.constants import (  # noqa: E402
    BUILD,
    CAPABILITIES,
    REGISTRY_STACK,
    REPO,
    TARGETS,
    TEMPLATES,
)
from deploying.migrations import migrate_task_definition  # noqa: E402
from deploying.params import as_cli_params, load_params, release_params  # noqa: E402
from deploying.release import Deploy  # noqa: E402
from deploying.shell import DeployError, Shell  # noqa: E402

# What this module offered before the deploy moved into deploying/: the tests load it by path.
__all__ = [
    "BUILD",
    "CAPABILITIES",
    "REGISTRY_STACK",
    "REPO",
    "TARGETS",
    "TEMPLATES",
    "Deploy",
    "DeployError",
    "Shell",
    "as_cli_params",
    "load_params",
    "main",
    "migrate_task_definition",
    "release_params",
]


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
