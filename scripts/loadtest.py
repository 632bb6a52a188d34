"""Run the load test headless against a deployment and print what it sustained.

    python scripts/loadtest.py --host http://127.0.0.1:8000 --users 6 --spawn-rate 1 --duration 5m

Writes locust's CSV statistics (``locust_stats.csv``, ``locust_failures.csv``, ...), its HTML
report (``report.html``), its log and ``summary.json`` into ``--results`` (default
``loadtest/results/<UTC time>``), then prints requests/s, p50/p95/p99 per endpoint, failures by
kind, job latency and token renewals. Exits 1 on any failure, or when a ``--require-flow`` never
completed. Arguments after ``--`` go to locust (for instance user class names).

Against an embedded stack (``make run``) it also samples each process's resident memory
(``rss.csv``), and reports start, after the warm-up, end, peak and the slope over the last half
(``memory.csv``, ``summary.json``'s ``memory``), flagging a process that still climbs. The stack
is found by its ``devstack.json`` (``$ROTO_DATA_DIR`` or ``.roto``) serving ``--host``, or named
with ``--sample-rss``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "loadtest"))

import report  # noqa: E402  (loadtest/ is a folder of locust modules, not a package)
import rss  # noqa: E402

STOP_TIMEOUT_S = 20  # users finish or drop their current step within this at the end
_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s?)?")


def seconds(text: str) -> float:
    """Seconds in a duration as locust writes them: ``90``, ``90s``, ``5m``, ``1h30m``."""
    match = _DURATION.fullmatch(text.strip())
    if not text.strip() or match is None:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 90s, 5m, 1h30m)")
    hours, minutes, secs = (int(g or 0) for g in match.groups())
    return float(hours * 3600 + minutes * 60 + secs)


def runtime_file(args: argparse.Namespace) -> Path | None:
    """The ``devstack.json`` of the stack under test: named, or found serving ``--host``."""
    if args.sample_rss:
        return Path(args.sample_rss)
    candidates = [ROOT / ".roto" / "devstack.json"]
    if os.environ.get("ROTO_DATA_DIR"):
        candidates.insert(0, Path(os.environ["ROTO_DATA_DIR"]) / "devstack.json")
    return rss.find_runtime_file(args.host, candidates)


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
    if args.until_flow:
        command += ["--quit-after-flows", ",".join(args.until_flow)]
    return command + extra


def run(
    args: argparse.Namespace, extra: list[str]
) -> tuple[report.Summary, int, list[rss.Trend] | None]:
    """Run locust once; answers the summary, locust's exit status and, when sampled, the
    memory trends."""
    results = args.results or ROOT / "loadtest" / "results" / time.strftime("%Y%m%dT%H%M%SZ")
    results.mkdir(parents=True, exist_ok=True)
    stack = runtime_file(args)
    sampler = rss.Sampler(stack, every_s=args.rss_every) if stack else None
    if sampler:
        print(f"sampling resident memory every {args.rss_every:g} s: {', '.join(sampler.pids)}")
        sampler.start()
    with open(results / "locust.log", "wb") as log:
        status = subprocess.call(
            locust_command(args, results, extra), stdout=log, stderr=subprocess.STDOUT, cwd=ROOT
        )
    trends = None
    if sampler:
        sampler.stop()
        sampler.write_csv(results / "rss.csv")
        trends = rss.trends(sampler.samples, warmup_s=args.warmup, limit_mib_per_h=args.climb_limit)
        (results / "memory.csv").write_text(rss.trends_csv(trends))
    stats = results / "locust_stats.csv"
    if not stats.exists():
        tail = (results / "locust.log").read_text(errors="replace")[-3000:]
        raise SystemExit(f"locust wrote no statistics (exit {status}):\n{tail}")
    summary = report.read(results / "locust")
    data = summary.to_json()
    if trends is not None:
        data["memory"] = rss.to_json(trends, warmup_s=args.warmup, limit_mib_per_h=args.climb_limit)
    (results / "summary.json").write_text(json.dumps(data, indent=2))
    print(f"results in {results}")
    return summary, status, trends


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
        help="record the RSS of the embedded stack's processes (its data dir's devstack.json); "
        "by default the devstack.json under $ROTO_DATA_DIR or .roto whose stack serves --host",
    )
    p.add_argument(
        "--rss-every", type=float, default=30.0, help="seconds between memory samples (30)"
    )
    p.add_argument(
        "--warmup",
        type=seconds,
        default=300.0,
        help="the memory table's 'after warm-up' is the first sample from then (default 5m)",
    )
    p.add_argument(
        "--climb-limit",
        type=float,
        default=rss.CLIMB_LIMIT_MIB_PER_H,
        metavar="MIB_PER_H",
        help="flag a process whose memory rises faster over the last half of the run "
        f"(default {rss.CLIMB_LIMIT_MIB_PER_H:g} MiB/h; judged once the last half is "
        f"{rss.MIN_LAST_HALF_S / 60:.0f} min or more)",
    )
    p.add_argument(
        "--require-flow",
        action="append",
        default=[],
        metavar="NAME",
        help="fail unless this FLOW (artist, batch) completed at least once; repeatable",
    )
    p.add_argument(
        "--until-flow",
        action="append",
        default=[],
        metavar="NAME",
        help="end the run early once this FLOW has completed (--duration is then a ceiling); "
        "repeatable",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    args = parser().parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    summary, status, trends = run(args, extra)
    print(report.render(summary))
    if trends is None:
        print("Resident memory: not sampled (no devstack.json of a stack serving --host)")
    else:
        print(rss.render(trends, warmup_s=args.warmup, limit_mib_per_h=args.climb_limit))
    problems = verdict(summary, args.require_flow)
    if status != 0:
        problems.append(f"locust exited with {status}")
    print("FAILED: " + "; ".join(problems) if problems else "OK: no failures")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
