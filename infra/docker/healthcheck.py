#!/usr/bin/env python3
"""Container health check: ``api`` asks the local /healthz; ``worker`` checks the worker process.

Exit status 0 means healthy. Uses only the standard library so it runs in every image target.
"""

from __future__ import annotations

import os
import sys
import urllib.request
from pathlib import Path

TIMEOUT_S = 3.0


def api_is_healthy() -> bool:
    port = os.environ.get("ROTO_PORT", "8000")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=TIMEOUT_S) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


def worker_is_healthy() -> bool:
    # The worker has no HTTP port: healthy while a `roto.worker` process runs and is not a zombie.
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if b"roto.worker" in cmdline and state != "Z":
            return True
    return False


def main(argv: list[str]) -> int:
    checks = {"api": api_is_healthy, "worker": worker_is_healthy}
    if len(argv) != 2 or argv[1] not in checks:
        print(f"usage: {argv[0]} api|worker", file=sys.stderr)
        return 2
    return 0 if checks[argv[1]]() else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
