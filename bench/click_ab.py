"""Before and after a change, a cached click through the whole stack: two checkouts of this
repository, each with its own dev stack, up at the same time and clicked in turn.

    git worktree add ../before <commit>
    .venv/bin/python bench/click_ab.py --before ../before --after . --clicks 150

On a shared 2-core VM the speed of the machine drifts by 20-30 % within minutes, more than most
changes to the click's path are worth, so two runs of ``bench/click_latency.py`` one after the
other compare the machine as much as the code. Here each fresh click on a cached frame of one
stack is followed by one on the other (the order alternating), so both see the same machine.
Each side's code comes from its tree (``PYTHONPATH``); the interpreter and the installed
packages are this checkout's. The other stack sits idle meanwhile, apart from what a click
leaves running behind its answer (a keyframe state's S3 write), which lands on both sides alike.

Prints, per side, the p50 of the click, of the daemon's model function and of the stack's share
(the click less the model function), stage by stage as ``click_latency.py`` reads them; then the
median over pairs of after - before. Asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click_latency as bench  # bench/, beside this script
import httpx

WIDTH, HEIGHT = 640, 360


@contextlib.contextmanager
def stacks(trees: dict[str, Path], args: argparse.Namespace) -> Iterator[dict[str, Any]]:
    """Per side: its data dir, stack process, client and a ready video with one object."""
    with tempfile.TemporaryDirectory(prefix="roto-bench-") as folder:
        sides: dict[str, Any] = {}
        try:
            for name, tree in trees.items():
                data_dir = Path(folder) / name
                data_dir.mkdir()
                bench.make_clip(data_dir / "clip.mp4", 6, WIDTH, HEIGHT)
                proc, api = bench.start_stack(data_dir, args, tree)
                http = httpx.Client(base_url=api, timeout=60)
                sides[name] = {"dir": data_dir, "proc": proc, "http": http}
            for side in sides.values():
                http = side["http"]
                bench.wait_for_daemon(http, side["proc"])
                side["video"] = bench.prepare_video(http, side["dir"] / "clip.mp4")
                http.post(f"/v1/videos/{side['video']}/objects", json={}).raise_for_status()
            yield sides
        finally:
            for side in sides.values():
                side["http"].close()
                side["proc"].send_signal(signal.SIGINT)
            for side in sides.values():
                try:
                    side["proc"].wait(timeout=90)
                except subprocess.TimeoutExpired:
                    os.killpg(side["proc"].pid, signal.SIGKILL)


def run(args: argparse.Namespace) -> None:
    trees = {"before": Path(args.before).resolve(), "after": Path(args.after).resolve()}
    cx, cy, _ = bench.disc(1, WIDTH, HEIGHT)
    clicks: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
    with stacks(trees, args) as sides:
        for side in sides.values():  # the frame's embedding made and cached; not counted
            for index in range(3):
                bench.click(side["http"], side["video"], 1, (cx + index, cy))
        for index in range(args.clicks):
            order = list(sides) if index % 2 == 0 else list(sides)[::-1]
            for name in order:
                side = sides[name]
                point = (cx + index % 30, cy)
                clicks[name].append(bench.click(side["http"], side["video"], 1, point))
        for name, side in sides.items():
            timeline = bench.job_timeline(bench.log_entries(side["dir"]))
            for record in clicks[name]:
                record.update(timeline.get(record["job_id"] or "", {}))

    print(f"\na cached fresh click, {args.clicks} per side, clicked in turn (p50, ms):")
    shares: dict[str, list[float]] = {}
    for name, tree in trees.items():
        done = [c for c in clicks[name] if "decode_model_ms" in c]
        shares[name] = [c["total"] * 1000 - c["decode_model_ms"] for c in done]
        print(f" {name} ({tree}):")
        bench.show("click (HTTP round trip)", [c["total"] for c in clicks[name]])
        bench.show("of which the model function", [c["decode_model_ms"] / 1000 for c in done])
        bench.show("stack's share", [share / 1000 for share in shares[name]])
        broken = [b for b in (bench.stages(c) for c in clicks[name]) if b is not None]
        for stage in broken[0] if broken else {}:
            bench.show(f"  {stage}", [b[stage] for b in broken])
    pairs = list(zip(shares["before"], shares["after"], strict=False))
    if pairs:
        change = statistics.median(after - before for before, after in pairs)
        faster = sum(after < before for before, after in pairs) / len(pairs)
        print(
            f" the stack's share, after - before: median over {len(pairs)} pairs {change:+.1f} "
            f"ms; after was the faster in {faster:.0%} of them"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", required=True, help="a checkout of the code before")
    parser.add_argument("--after", default=str(bench.REPO), help="the code after (this one)")
    parser.add_argument("--clicks", type=int, default=100, help="clicks per side")
    parser.add_argument("--image-size", type=int, default=256, help="ROTO_MODEL_IMAGE_SIZE")
    parser.add_argument("--model-size", default="tiny", help="ROTO_MODEL_SIZE")
    args = parser.parse_args()
    args.no_lane = False
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[attr-defined]
    run(args)


if __name__ == "__main__":
    main()
