#!/usr/bin/env bash
# The GPU checks of issue 15 in one run, for a machine with an NVIDIA GPU (R580+ driver) and the
# project's virtualenv plus the TensorRT and ONNX packages:
#   .venv/bin/pip install -c constraints.txt tensorrt-cu13==11.4.0.106 onnx onnxscript onnxruntime
#   bash scripts/gpu_check.sh [OUT_DIR]          # about 10 minutes; figures in OUT_DIR/gpu.json
# 1. the backend tests that only a GPU runs (TensorRT engines built, cached, loaded; masks
#    against eager), with the precision and pinned-copy tests; 2. bench/gpu.py (8-minute budget).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
OUT=${1:-bench-out}
mkdir -p "$OUT"
"$PY" - <<'PY'
import torch
assert torch.cuda.is_available(), "no CUDA device"
print(torch.cuda.get_device_name(0), "sm", torch.cuda.get_device_capability(0), "CUDA", torch.version.cuda)
PY
"$PY" -m pytest -q -p no:cacheprovider -rs tests/gpu/test_precision.py tests/gpu/test_driver.py \
    tests/gpu/test_transfer.py tests/gpu/test_backends.py -k "not through_s3" 2>&1 | tee "$OUT/gpu-tests.txt"
timeout 560 "$PY" bench/gpu.py --out "$OUT/gpu.json" ${CHECKPOINTS:+--checkpoints "$CHECKPOINTS"} \
    2>&1 | tee "$OUT/gpu-bench.txt"
