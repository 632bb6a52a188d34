"""Build the compiled backend ahead of time into the engine cache (disk and S3), so that the
daemon's instances only load it: ``python -m roto_gpu.model.backends build --backend aot``.

Run it with the daemon's settings (ROTO_MODEL_SIZE, ROTO_MODEL_CHECKPOINT..., ROTO_S3_BUCKET,
ROTO_MODEL_ENGINE_S3_PREFIX) on a machine with the same GPU model; AOTInductor packages need a
C++ compiler there (the gpu image has none: use the gpu-deps stage plus build-essential, or any
CUDA machine with the same torch). Prints the model's description; exits 1 if the backend asked
for fell back.
"""

from __future__ import annotations

import argparse
import json
import sys

from roto.settings import load_settings
from roto_gpu.model.backends.selection import BACKENDS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m roto_gpu.model.backends")
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="build (or find) the backend's engines and cache them")
    build.add_argument("--backend", choices=BACKENDS[:-1], default="aot")
    args = parser.parse_args(argv)
    from roto_gpu.model.sam2_model import load_model

    settings = load_settings(model_backend=args.backend)
    model = load_model(settings)
    info = model.info()
    print(json.dumps(info, indent=2, default=str))
    return 0 if info["backend"] == args.backend else 1


if __name__ == "__main__":
    sys.exit(main())
