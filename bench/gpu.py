"""GPU benchmark, model and batcher level (no API stack): what issue 15 asks the GPU path to show,
measured in one run, for SAM2.1 tiny and large, within a time budget (8 minutes by default on
one H100/H200).

Per model size:
- propagation frames/s, 1 video and 4 at once through our engine (Propagator + dynamic batcher,
  the backend chosen at start), against SAM2's own ``SAM2VideoPredictor`` (eager) and its
  ``vos_optimized`` predictor, the references on the same videos one after another; frames are
  decoded before the clock starts for everyone (SAM2's ``init_state`` loading is timed apart);
- mask IoU of our propagation against eager ``SAM2VideoPredictor`` on the same video;
- click latency p50/p99, cached (decode) and uncached (encode + decode), idle and while four
  propagations run;
- GPU peak memory of one propagation at 60 and at 600 frames;
- image encoder ms at batch 1 and 8 for each backend (eager, compile, aot, tensorrt) that builds.

A section that the remaining budget cannot hold is skipped and says so. Writes JSON and prints a
Markdown table.

    python bench/gpu.py                                   # on a GPU machine
    python bench/gpu.py --smoke                           # tiny, 256 px, a few frames, any CPU
    python bench/gpu.py --checkpoints .roto/models        # real weights (make weights MODEL=...)

The propagation engine is used through ``run_ours`` only: if its API changes, adapt that one
function (in ``bench/gpu_engines.py``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog
import torch
from gpu_engines import Ours, build_ours  # bench/, beside this script
from gpu_plan import REPO, Budget, Plan, plan_for  # it puts the repository on sys.path
from gpu_report import table
from gpu_sections import clicks, encoder, memory, propagation

BUDGET_S = 480.0
SIZE_SHARE = {"tiny": 0.35, "large": 0.65}


# ---- the run ------------------------------------------------------------------------------------


def run_size(size: str, plan: Plan, args: argparse.Namespace, budget: Budget) -> dict[str, Any]:
    out: dict[str, Any] = {}
    started = time.monotonic()
    ours = Ours(lambda: build_ours(size, plan, args))
    model = ours.model
    out["model"] = {k: v for k, v in model.info().items() if k != "backend_graphs"}
    out["model"]["build_s"] = time.monotonic() - started
    sections: list[tuple[str, float, Callable[[], None]]] = []
    with tempfile.TemporaryDirectory(prefix="roto-bench-") as folder:
        tmp = Path(folder)
        sections = [
            ("propagation", 30, lambda: propagation(model, ours, plan, budget, tmp, out)),
            ("clicks", 10, lambda: clicks(model, ours, plan, out)),
            ("memory", 20, lambda: memory(ours, plan, out)),
            # On the model's own thread, as the daemon runs the encoder.
            (
                "encoder",
                20,
                lambda: ours.on_model_thread(lambda: encoder(model, plan, budget, out)),
            ),
        ]
        for name, needs, section in sections:
            if budget.left() < needs:
                out[name] = f"skipped: budget ({budget.left():.0f} s left)"
                continue
            began = time.monotonic()
            section()
            print(f"  {size} {name}: {time.monotonic() - began:.1f} s", flush=True)
    ours.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny, 256 px, a few frames (CPU)")
    parser.add_argument("--sizes", default="tiny,large")
    parser.add_argument("--image-size", type=int, default=1024)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--backend", default="auto", help="our engine's ROTO_MODEL_BACKEND")
    parser.add_argument("--backends", default="eager,compile,aot,tensorrt")
    parser.add_argument("--frames", type=int, default=60, help="frames per video (throughput)")
    parser.add_argument("--clicks", type=int, default=30)
    parser.add_argument("--budget-s", type=float, default=BUDGET_S)
    parser.add_argument("--checkpoints", help="folder of `make weights` files (else random)")
    parser.add_argument("--engine-dir", default=str(REPO / "bench-out" / "engines"))
    parser.add_argument("--out", default=str(REPO / "bench-out" / "gpu.json"))
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    cuda = torch.cuda.is_available() and args.device != "cpu"
    if not cuda:
        torch.set_num_threads(min(2, os.cpu_count() or 1))
    plan = plan_for(args, cuda)
    budget = Budget(args.budget_s)
    started = time.monotonic()
    results: dict[str, Any] = {}
    device = torch.cuda.get_device_name(0) if cuda else "cpu"
    print(f"SAM2.1 {', '.join(plan.sizes)} at {plan.image_size} px on {device}", flush=True)
    for number, size in enumerate(plan.sizes):
        # Each size gets its share of what is left, so time one did not use goes to the next.
        shares = [SIZE_SHARE.get(s, 0.5) for s in plan.sizes[number:]]
        results[size] = run_size(size, plan, args, Budget(budget.left() * shares[0] / sum(shares)))
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    report = {
        "device": device,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "smoke": args.smoke,
        "image_size": plan.image_size,
        "sizes": plan.sizes,
        "elapsed_s": time.monotonic() - started,
        "results": results,
    }
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(table(report))
    print(f"\n{report['elapsed_s']:.0f} s; JSON in {path}")


if __name__ == "__main__":
    main()
