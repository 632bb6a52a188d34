"""Phase 3's inputs: the root stack's parameters, from params/<env>.json plus the image digests."""

from __future__ import annotations

import json

from .constants import TARGETS, TEMPLATES


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
