"""Locust's CSV statistics as a summary: rates, percentiles, failures by kind, job latency."""

from __future__ import annotations

import csv
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

JOB_TYPE, FLOW_TYPE, CHECK_TYPE = "JOB", "FLOW", "CHECK"  # our own events, as in common.py
SESSION_TYPE, THROTTLE_TYPE = "SESSION", "THROTTLE"  # as in session.py and common.py
MEASUREMENT_TYPES = (JOB_TYPE, FLOW_TYPE, CHECK_TYPE, SESSION_TYPE, THROTTLE_TYPE)
# Locust writes our failure messages wrapped in their exception's repr; the message is the kind.
_OWN_WRAPPER = re.compile(r"^(?:CatchResponseError|JobFailed)\(['\"](.*)['\"]\)$")


@dataclass(frozen=True)
class Row:
    """One line of ``<prefix>_stats.csv``; times in milliseconds."""

    type: str
    name: str
    count: int
    failures: int
    rps: float
    p50: float
    p95: float
    p99: float
    max: float


@dataclass(frozen=True)
class Failure:
    type: str
    name: str
    error: str
    occurrences: int


@dataclass(frozen=True)
class Summary:
    rows: list[Row]
    failures: list[Failure]

    def http(self) -> list[Row]:
        return [r for r in self.rows if r.type not in MEASUREMENT_TYPES and r.name != "Aggregated"]

    def of_type(self, kind: str) -> list[Row]:
        return [r for r in self.rows if r.type == kind]

    def row(self, kind: str, name: str) -> Row | None:
        return next((r for r in self.rows if r.type == kind and r.name == name), None)

    def http_rps(self) -> float:
        return sum(r.rps for r in self.http())

    def failure_count(self) -> int:
        return sum(f.occurrences for f in self.failures)

    def to_json(self) -> dict[str, Any]:
        return {
            "http_requests_per_s": round(self.http_rps(), 2),
            "rows": [asdict(r) for r in self.rows],
            "failures": [asdict(f) for f in self.failures],
        }


def _number(value: str) -> float:
    try:
        return float(value)
    except ValueError:  # locust writes "N/A" for a row without samples
        return 0.0


def read(prefix: Path) -> Summary:
    """The summary of the run whose CSVs start with ``prefix`` (locust's ``--csv``)."""
    rows = []
    with open(f"{prefix}_stats.csv", newline="") as handle:
        for line in csv.DictReader(handle):
            rows.append(
                Row(
                    type=line["Type"],
                    name=line["Name"],
                    count=int(line["Request Count"]),
                    failures=int(line["Failure Count"]),
                    rps=_number(line["Requests/s"]),
                    p50=_number(line["50%"]),
                    p95=_number(line["95%"]),
                    p99=_number(line["99%"]),
                    max=_number(line["Max Response Time"]),
                )
            )
    failures = []
    with open(f"{prefix}_failures.csv", newline="") as handle:
        for line in csv.DictReader(handle):
            error = _OWN_WRAPPER.sub(r"\1", line["Error"])
            failures.append(Failure(line["Method"], line["Name"], error, int(line["Occurrences"])))
    failures.sort(key=lambda f: -f.occurrences)
    return Summary(rows, failures)


def render(summary: Summary) -> str:
    """The summary as plain text tables."""
    out = [f"HTTP requests/s (all endpoints): {summary.http_rps():.1f}", ""]
    out += _table("HTTP", summary.http(), with_rate=True)
    out += _table("Job latency (submit to terminal status)", summary.of_type("JOB"))
    out += _table("Whole flows", summary.of_type("FLOW"))
    out += _table("Token renewals (time: the renewal's calls)", summary.of_type(SESSION_TYPE))
    out += _table("429s waited out (time: the wait)", summary.of_type(THROTTLE_TYPE))
    checks = summary.of_type(CHECK_TYPE)
    if checks:
        out += _table("Failed content checks", checks)
    out.append(f"Failures by kind ({summary.failure_count()} in all):")
    if not summary.failures:
        out.append("  none")
    for f in summary.failures:
        out.append(f"  {f.occurrences:>6}  {f.type} {f.name}: {f.error}")
    return "\n".join(out)


def _table(title: str, rows: list[Row], *, with_rate: bool = False) -> list[str]:
    head = f"  {'type':<9}{'name':<46}{'count':>7}{'fail':>6}"
    head += f"{'req/s':>8}" if with_rate else ""
    head += f"{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}"
    lines = [title + ":", head]
    for r in sorted(rows, key=lambda r: (r.name, r.type)):
        line = f"  {r.type:<9}{r.name[:45]:<46}{r.count:>7}{r.failures:>6}"
        line += f"{r.rps:>8.1f}" if with_rate else ""
        line += f"{r.p50:>9.0f}{r.p95:>9.0f}{r.p99:>9.0f}{r.max:>9.0f}"
        lines.append(line)
    if not rows:
        lines.append("  (none)")
    return [*lines, ""]
