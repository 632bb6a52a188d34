"""The README's promise: a client following api.md against `make run` registers, uploads, sees
the video ready with exact metadata, gets its frames, and clicks an object into a mask; and the
click can be read back from ``<data dir>/traces/`` as one trace through the API, the job's
hand-over on the fast lane (the stack's default; through SQS it is the relay's send), the worker and
the model."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.devstack.harness import StackRun, ready_stack
from tests.media import make_video
from tests.tracing_support import trace_tree

pytestmark = pytest.mark.slow
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "client_flow.py"
CLICK_ROUTE = "POST /v1/videos/{video_id}/prompts"
# The job's hand-over to the daemon: its offer on the fast lane, or, when the lane did not deliver
# it in time (the daemon still loading its model when the click came), the outbox relay's send.
HAND_OVERS = ("lane interactive", "send interactive")
# The stack's processes export their spans every half second; a loaded machine may take longer.
TRACE_TIMEOUT_S = 60.0


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
    assert_click_is_one_trace(stack.data_dir / "traces", stack)


def click_trace(spans: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """The spans of the click's trace, once its request, hand-over, job and model spans are
    there."""
    requests = [s for s in spans if s["name"] == CLICK_ROUTE]
    if not requests:
        return None
    assert len(requests) == 1, requests
    trace = [s for s in spans if s["traceId"] == requests[0]["traceId"]]
    names = {s["name"] for s in trace}
    wanted = {CLICK_ROUTE, "job segment"}
    if (
        wanted <= names
        and names & set(HAND_OVERS)
        and any(name.startswith("model ") for name in names)
    ):
        return trace
    return None


def assert_click_is_one_trace(directory: Path, stack: StackRun) -> None:
    deadline = time.monotonic() + TRACE_TIMEOUT_S
    read_spans = trace_tree().read_spans
    while (trace := click_trace(spans := read_spans(directory))) is None:
        assert time.monotonic() < deadline, (
            f"no whole click trace after {TRACE_TIMEOUT_S}s: "
            f"{sorted({(s['service'], s['name']) for s in spans})}\n{stack.output()[-3000:]}"
        )
        time.sleep(0.2)
    # Exactly one trace holds the click: no part of it started a trace of its own.
    parts = (*HAND_OVERS, "job segment")
    assert {s["traceId"] for s in spans if s["name"] in parts} == {trace[0]["traceId"]}
    models = [s for s in trace if s["name"].startswith("model ")]
    assert {s["service"] for s in models} == {"roto-dev-gpu"}
    # The delivery that ran the job holds the model spans (a later one found it done).
    (job,) = [
        s for s in trace if s["name"] == "job segment" and s["spanId"] == models[0]["parentSpanId"]
    ]
    assert {s["parentSpanId"] for s in models} == {job["spanId"]}
    (request,) = [s for s in trace if s["name"] == CLICK_ROUTE]
    sends = [s for s in trace if s["name"] in HAND_OVERS]
    delivered = [s for s in sends if s["spanId"] == job["parentSpanId"]]
    assert delivered, f"the job's parent is no hand-over: {job}, {sends}"
    assert (request["service"], delivered[0]["service"], job["service"]) == (
        "roto-dev-api",
        "roto-dev-api",
        "roto-dev-gpu",
    )
    assert {s["parentSpanId"] for s in sends} == {request["spanId"]}
    assert any(s["name"] == "model keyframe" for s in models), [s["name"] for s in models]
    status = {a["key"]: a["value"] for a in request["attributes"]}["http.response.status_code"]
    assert status == {"intValue": "200"}
