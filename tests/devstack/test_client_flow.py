"""The README's promise: a client following api.md against `make run` registers, uploads, sees
the video ready with exact metadata, gets its frames, and clicks an object into a mask."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.devstack.harness import StackRun, ready_stack
from tests.media import make_video

pytestmark = pytest.mark.slow
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "client_flow.py"


@pytest.fixture
def stack() -> Iterator[StackRun]:
    # The smallest image size keeps the CPU model fast; the flow is about the plumbing.
    with ready_stack("roto-flow-", ROTO_MODEL_IMAGE_SIZE="256") as run:
        yield run


def test_client_flow_script_succeeds_against_the_embedded_stack(
    stack: StackRun, tmp_path: Path
) -> None:
    video = make_video(tmp_path / "clip.mp4", frames=20, width=192, height=108, fps=25)
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--api", stack.api, "--video", str(video), "--click"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    steps = {json.loads(line)["step"]: json.loads(line) for line in result.stdout.splitlines()}
    assert result.returncode == 0, result.stdout + result.stderr + stack.output()[-3000:]
    assert steps["ready"] == {
        "step": "ready",
        "width": 192,
        "height": 108,
        "fps": 25.0,
        "frame_count": 20,
        "codec": "h264",
    }
    assert "frames_served" in steps
    assert 0.0 <= steps["clicked"]["score"] <= 1.0
