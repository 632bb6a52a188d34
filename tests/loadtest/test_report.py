"""The runner's summary and verdict, from CSVs written in locust's format."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]

STATS_HEAD = (
    "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,"
    "Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,"
    "50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%\n"
)
FAILURES_HEAD = "Method,Name,Error,Occurrences\n"


def load_runner() -> ModuleType:
    spec = importlib.util.spec_from_file_location("loadtest_runner", ROOT / "scripts/loadtest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def stats_row(kind: str, name: str, count: int, failures: int, rps: float, p99: int) -> str:
    percentiles = ",".join(str(p99) for _ in range(11))
    return f"{kind},{name},{count},{failures},10,12,1,{p99},100,{rps},0,{percentiles}\n"


def write_run(prefix: Path, rows: list[str], failures: list[str]) -> None:
    Path(f"{prefix}_stats.csv").write_text(STATS_HEAD + "".join(rows))
    Path(f"{prefix}_failures.csv").write_text(FAILURES_HEAD + "".join(failures))


def test_summary_separates_http_rows_from_job_and_flow_events(tmp_path: Path) -> None:
    runner = load_runner()
    report = sys.modules["report"]
    write_run(
        tmp_path / "locust",
        [
            stats_row("GET", "/v1/jobs/[id]", 100, 0, 12.5, 40),
            stats_row("POST", "/v1/videos", 10, 0, 2.5, 90),
            stats_row("JOB", "propagate", 3, 0, 0.1, 21000),
            stats_row("FLOW", "artist", 2, 0, 0.05, 24000),
            stats_row("SESSION", "refresh before expiry", 4, 0, 0.05, 16),
            stats_row("THROTTLE", "/v1/jobs/[id]", 1, 0, 0.01, 41000),
            stats_row("", "Aggregated", 120, 0, 15.26, 21000),
        ],
        [],
    )
    summary = report.read(tmp_path / "locust")
    assert [r.name for r in summary.http()] == ["/v1/jobs/[id]", "/v1/videos"]
    assert summary.http_rps() == 15.0
    assert summary.row("JOB", "propagate").p99 == 21000
    text = report.render(summary)
    assert "Job latency" in text and "propagate" in text and "none" in text
    assert "  SESSION  refresh before expiry" in text
    assert "429s waited out" in text and "  THROTTLE /v1/jobs/[id]" in text
    assert runner.verdict(summary, ["artist"]) == []


def test_verdict_fails_on_any_failure_and_on_a_flow_that_never_completed(tmp_path: Path) -> None:
    runner = load_runner()
    report = sys.modules["report"]
    write_run(
        tmp_path / "locust",
        [
            stats_row("GET", "/v1/me", 10, 2, 1.0, 30),
            stats_row("FLOW", "artist", 1, 1, 0.0, 5000),
        ],
        [
            "GET,/v1/me,CatchResponseError('500 where 200 was expected'),2\n",
            "FLOW,artist,JobFailed('aborted at /v1/me'),1\n",
        ],
    )
    summary = report.read(tmp_path / "locust")
    assert [(f.error, f.occurrences) for f in summary.failures] == [
        ("500 where 200 was expected", 2),
        ("aborted at /v1/me", 1),
    ]
    problems = runner.verdict(summary, ["artist", "batch"])
    assert problems == [
        "3 failures",
        "the artist flow never completed",
        "the batch flow never completed",
    ]
    assert "500 where 200 was expected" in report.render(summary)
