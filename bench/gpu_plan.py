"""The plan of a ``bench/gpu.py`` run (sizes, frame counts, backends, references) and its time
budget, with the small helpers every section shares: synthetic frames, the click point, a CUDA
sync and percentiles.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.media, also when this module is imported alone

import torch  # noqa: E402

from tests.media import frame_image  # noqa: E402


@dataclass
class Plan:
    sizes: list[str]
    image_size: int
    width: int
    height: int
    frames: int  # per video, throughput
    short: int  # memory: short and long video
    long: int
    clicks: int
    backends: list[str]
    references: list[str]  # eager, vos


def plan_for(args: argparse.Namespace, cuda: bool) -> Plan:
    if args.smoke:
        return Plan(["tiny"], 256, 320, 192, 6, 6, 24, 5, ["eager"], ["eager"])
    refs = ["eager", "vos"] if cuda else ["eager"]
    return Plan(
        args.sizes.split(","),
        args.image_size,
        1024,
        576,
        args.frames,
        60,
        600,
        args.clicks,
        args.backends.split(","),
        refs,
    )


class Budget:
    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic()


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def frames_of(video: int, count: int, plan: Plan) -> list[np.ndarray]:
    return [frame_image(i + 7 * video, plan.width, plan.height) for i in range(count)]


class LazyVideo:
    """Frames made when asked for: long videos without holding them all in memory."""

    def __init__(self, video: int, count: int, plan: Plan) -> None:
        self.video, self.count, self.plan = video, count, plan

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> np.ndarray:
        return frame_image(index + 7 * self.video, self.plan.width, self.plan.height)


def click_point(plan: Plan) -> list[list[float]]:
    # The disc of frame_image starts at 20 % of the width, mid-height.
    return [[plan.width * 0.2, plan.height / 2]]
