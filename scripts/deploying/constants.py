"""Where the deploy reads and writes, and the names it deploys under."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TEMPLATES = REPO / "infra" / "cloudformation"
BUILD = REPO / "build" / "deploy"
TARGETS = ("api", "media", "gpu")
REGISTRY_STACK = "roto-registry"
CAPABILITIES = ["CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
