"""CI's smoke load test: the locustfile's three clients against the embedded stack for a minute,
run by the headless runner as a subprocess, as `make loadtest` does against any deployment."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.devstack.harness import StackRun, ready_stack

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
RUNNER = ROOT / "scripts" / "loadtest.py"
CLASSES = ["ArtistUser", "BatchClientUser", "MisbehavingUser"]


@pytest.fixture
def stack() -> Iterator[StackRun]:
    # The smallest image size keeps the CPU model fast; the smoke run is about the plumbing.
    with ready_stack("roto-loadtest-", ROTO_MODEL_IMAGE_SIZE="256") as run:
        yield run


def test_smoke_load_completes_the_artist_flow_without_failures(
    stack: StackRun, tmp_path: Path
) -> None:
    results = tmp_path / "results"
    command = [sys.executable, str(RUNNER), "--host", stack.api, "--users", "3"]
    # The run ends once an artist flow has completed (on a loaded CI machine that can take well
    # over a minute); four minutes is only the ceiling.
    command += ["--spawn-rate", "3", "--duration", "240s", "--results", str(results)]
    command += ["--require-flow", "artist", "--until-flow", "artist", "--", *CLASSES]
    result = subprocess.run(command, capture_output=True, text=True, timeout=420, check=False)
    report = result.stdout + result.stderr
    log = (results / "locust.log").read_text(errors="replace")[-4000:]
    assert result.returncode == 0, report + log + stack.output()[-3000:]

    summary = json.loads((results / "summary.json").read_text())
    rows = {(r["type"], r["name"]): r for r in summary["rows"]}
    assert summary["failures"] == []
    artist = rows[("FLOW", "artist")]
    assert artist["count"] - artist["failures"] >= 1
    for job_type in ("ingest", "propagate", "export"):
        assert rows[("JOB", job_type)]["count"] >= 1, job_type
    # The misbehaving client ran, and its 4xx answers were the expected ones.
    assert any(name.startswith("bad: ") for _, name in rows)
    assert (results / "report.html").stat().st_size > 0
    assert "p99 ms" in result.stdout
