"""Run the load test headless against a deployment and print what it sustained.

    python scripts/loadtest.py --host http://127.0.0.1:8000 --users 6 --spawn-rate 1 --duration 5m

Writes locust's CSV statistics (``locust_stats.csv``, ``locust_failures.csv``, ...), its HTML
report (``report.html``), its log and ``summary.json`` into ``--results`` (default
``loadtest/results/<UTC time>``), then prints requests/s, p50/p95/p99 per endpoint, failures by
kind and job latency. Exits 1 on any failure, or when a ``--require-flow`` never completed.
Arguments after ``--`` go to locust (for instance user class names).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "loadtest"))

import report  # noqa: E402  (loadtest/ is a folder of locust modules, not a package)
import rss  # noqa: E402

STOP_TIMEOUT_S = 20  # users finish or drop their current step within this at the end


def locust_command(args: argparse.Namespace, results: Path, extra: list[str]) -> list[str]:
    command = [sys.executable, "-m", "locust", "-f", str(args.locustfile), "--headless"]
    command += ["--host", args.host, "--users", str(args.users)]
    command += ["--spawn-rate", str(args.spawn_rate), "--run-time", args.duration]
    command += ["--csv", str(results / "locust"), "--html", str(results / "report.html")]
    command += ["--only-summary", "--stop-timeout", str(STOP_TIMEOUT_S)]
    command += ["--exit-code-on-error", "0"]  # this script judges the run, from the CSVs
    if args.tags:
        command += ["--tags", *args.tags]
    if args.bare_host:
        command += ["--bare-host", args.bare_host]
    return command + extra


def run(args: argparse.Namespace, extra: list[str]) -> tuple[report.Summary, int]:
    """Run locust once; answers the summary and locust's exit status."""
    results = args.results or ROOT / "loadtest" / "results" / time.strftime("%Y%m%dT%H%M%SZ")
    results.mkdir(parents=True, exist_ok=True)
    sampler = rss.Sampler(args.sample_rss, every_s=30.0) if args.sample_rss else None
    if sampler:
        sampler.start()
    with open(results / "locust.log", "wb") as log:
        status = subprocess.call(
            locust_command(args, results, extra), stdout=log, stderr=subprocess.STDOUT, cwd=ROOT
        )
    if sampler:
        sampler.stop()
        sampler.write_csv(results / "rss.csv")
        print(sampler.render())
    stats = results / "locust_stats.csv"
    if not stats.exists():
        tail = (results / "locust.log").read_text(errors="replace")[-3000:]
        raise SystemExit(f"locust wrote no statistics (exit {status}):\n{tail}")
    summary = report.read(results / "locust")
    (results / "summary.json").write_text(json.dumps(summary.to_json(), indent=2))
    print(f"results in {results}")
    return summary, status


def verdict(summary: report.Summary, required_flows: list[str]) -> list[str]:
    """What makes this run a failure: every failure, and required flows that never completed."""
    problems = []
    if summary.failure_count():
        problems.append(f"{summary.failure_count()} failures")
    for flow in required_flows:
        row = summary.row(report.FLOW_TYPE, flow)
        if row is None or row.count - row.failures < 1:
            problems.append(f"the {flow} flow never completed")
    return problems


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", required=True, help="the API's base URL")
    p.add_argument("--users", type=int, default=6, help="simulated users (default 6)")
    p.add_argument("--spawn-rate", type=float, default=1.0, help="users started per second")
    p.add_argument("--duration", default="2m", help="run time: 90s, 5m, 1h (default 2m)")
    p.add_argument("--results", type=Path, help="folder for the CSVs, HTML report and summary")
    p.add_argument("--locustfile", type=Path, default=ROOT / "loadtest" / "locustfile.py")
    p.add_argument("--tags", nargs="*", help="only tasks with these tags (loadtest/hotpath.py)")
    p.add_argument("--bare-host", help="base URL of scripts/bare_app.py (loadtest/hotpath.py)")
    p.add_argument(
        "--sample-rss",
        type=Path,
        metavar="DEVSTACK_JSON",
        help="record the RSS of the embedded stack's processes (its data dir's devstack.json)",
    )
    p.add_argument(
        "--require-flow",
        action="append",
        default=[],
        metavar="NAME",
        help="fail unless this FLOW (artist, batch) completed at least once; repeatable",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    args = parser().parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    summary, status = run(args, extra)
    print(report.render(summary))
    problems = verdict(summary, args.require_flow)
    if status != 0:
        problems.append(f"locust exited with {status}")
    print("FAILED: " + "; ".join(problems) if problems else "OK: no failures")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
