"""bench/gpu.py --smoke on the CPU: every section runs and the JSON holds its figures, so the
GPU benchmark does not rot between the GPU runs (it uses the propagation engine's API)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sam2", reason="the gpu extra is not installed: no sam2")

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_smoke_run_measures_every_section(tmp_path: Path) -> None:
    out = tmp_path / "gpu.json"
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "gpu.py"), "--smoke", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    tiny = report["results"]["tiny"]
    assert tiny["model"]["backend"] == "eager"
    propagation = tiny["propagation"]
    assert propagation["ours_1"] > 0 and propagation["eager_4_sequential"] > 0
    assert propagation["iou_vs_eager_mean"] >= 0.99
    assert tiny["clicks"]["cached_idle_p50_ms"] > 0
    assert tiny["clicks"]["uncached_4_propagations_p99_ms"] > 0
    assert tiny["encoder"]["eager"]["batch_8_ms"] > 0
    assert "| propagation fps, ours, 1 video |" in done.stdout
