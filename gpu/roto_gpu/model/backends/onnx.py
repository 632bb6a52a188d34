"""ONNX graphs of the image encoder and the mask decoder (``torch.onnx.export``, the dynamo
exporter, opset 18), and an onnxruntime runner for them. TensorRT builds its engines from these
files; on the CPU, onnxruntime runs them to prove that the graphs compute what SAM2 computes."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import structlog
import torch

from roto_gpu.model.backends.graphs import ONNX_OPSET, GraphSpec

log = structlog.get_logger(__name__)


def missing_onnx_packages() -> list[str]:
    """The packages that exporting (onnx, onnxscript) needs and that are not installed."""
    return [name for name in ("onnx", "onnxscript") if importlib.util.find_spec(name) is None]


def export_onnx(spec: GraphSpec, path: Path) -> Path:
    """Write ``spec``'s graph to ``path`` (weights inline below 2 GB, else beside it)."""
    missing = missing_onnx_packages()
    if missing:
        raise RuntimeError(f"exporting ONNX needs {', '.join(missing)}, not installed")
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.inference_mode(False), torch.no_grad():
        program = torch.onnx.export(
            spec.module,
            spec.inputs,
            dynamo=True,
            input_names=list(spec.input_names),
            output_names=list(spec.output_names),
            dynamic_shapes=spec.export_shapes(),
            opset_version=ONNX_OPSET,
            optimize=True,
            verbose=False,
        )
    assert program is not None
    program.save(str(path), external_data=_too_big_for_one_file(spec))
    log.info("onnx_exported", graph=spec.name, path=str(path))
    return path


def _too_big_for_one_file(spec: GraphSpec) -> bool:
    size = sum(p.numel() * p.element_size() for p in spec.module.parameters())
    return size > 1_800_000_000  # protobuf's 2 GB limit, with room for the graph


class OrtRunner:
    """An onnxruntime session with SAM2's call shape: tensors in, tensors out (CPU)."""

    def __init__(self, path: Path, spec: GraphSpec, threads: int = 0) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.spec = spec

    def __call__(self, *tensors: torch.Tensor) -> Sequence[torch.Tensor]:
        # The exporter drops inputs that the graph folded into constants (none of ours).
        named = dict(zip(self.spec.input_names, tensors, strict=True))
        feed: dict[str, Any] = {
            name: np.ascontiguousarray(named[name].detach().float().cpu().numpy())
            for name in self.inputs
        }
        outputs = self.session.run(None, feed)
        device = tensors[0].device
        return [torch.from_numpy(np.asarray(o)).to(device) for o in outputs]
