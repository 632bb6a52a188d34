"""TensorRT engines built from the ONNX graphs with the ``tensorrt`` Python package (the
``tensorrt-cu13`` wheel, matching torch's CUDA 13), and a runner that executes one on torch's
current CUDA stream with torch tensors as its buffers.

Precision lives in the graph: it is exported under autocast (fp16 on a T4, bf16 from sm_80), so
the network is strongly typed, which TensorRT 11 requires (its FP16/BF16 builder flags are gone)
and TensorRT 10 accepts. One optimization profile covers the batch (and token) ranges of the
graph; shapes outside it run eager.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import structlog
import torch

from roto_gpu.model.backends.graphs import GraphSpec

log = structlog.get_logger(__name__)

#: Scratch memory the builder may use while it times tactics.
WORKSPACE_BYTES = 4 << 30


def unavailable_reason(device: torch.device) -> str | None:
    """Why TensorRT cannot run here (every reason that applies), or None if it can."""
    reasons = []
    if device.type != "cuda" or not torch.cuda.is_available():
        reasons.append("no CUDA device")
    if importlib.util.find_spec("tensorrt") is None:
        reasons.append("no tensorrt module (the tensorrt-cu13 wheel is not installed)")
    if reasons:
        return "; ".join(reasons)
    import tensorrt as trt

    major = int(str(trt.__version__).split(".")[0])
    if major < 10:
        return f"TensorRT {trt.__version__} is older than 10 (no I/O tensor API)"
    cuda = torch.version.cuda or ""
    built_for = _tensorrt_cuda_major()
    if built_for is not None and cuda and int(cuda.split(".")[0]) != built_for:
        return f"tensorrt is built for CUDA {built_for}, torch for CUDA {cuda}"
    return None


def _tensorrt_cuda_major() -> int | None:
    """The CUDA major of the installed TensorRT wheel (tensorrt-cu12 / tensorrt-cu13)."""
    from importlib import metadata

    for major in (13, 12, 11):
        try:
            metadata.version(f"tensorrt-cu{major}")
        except metadata.PackageNotFoundError:
            continue
        return major
    return None


def version() -> str:
    import tensorrt as trt

    return str(trt.__version__)


def _logger() -> Any:
    import tensorrt as trt

    return trt.Logger(trt.Logger.WARNING)


def build_engine(onnx_path: Path, spec: GraphSpec, engine_path: Path) -> Path:
    """Parse ``onnx_path`` into a strongly typed network, build it for ``spec``'s profile and
    write the serialized engine to ``engine_path``."""
    import tensorrt as trt

    logger = _logger()
    builder = trt.Builder(logger)
    flags = 0
    strongly_typed = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
    if strongly_typed is not None:  # the default (and the only mode) from TensorRT 11
        flags |= 1 << int(strongly_typed)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT cannot parse {onnx_path.name}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
    profile = builder.create_optimization_profile()
    shapes = spec.profile()
    for i in range(network.num_inputs):
        tensor = network.get_input(i)
        if any(d < 0 for d in tensor.shape):
            low, opt, high = shapes[tensor.name]
            profile.set_shape(tensor.name, low, opt, high)
    config.add_optimization_profile(profile)
    log.info("tensorrt_building", graph=spec.name, profile={k: list(v) for k, v in shapes.items()})
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(f"TensorRT could not build {spec.name} (see its log above)")
    engine_path.parent.mkdir(parents=True, exist_ok=True)
    engine_path.write_bytes(bytes(serialized))
    return engine_path


class TrtRunner:
    """One deserialized engine and its execution context; called on the model thread only."""

    def __init__(self, engine_path: Path, spec: GraphSpec, device: torch.device) -> None:
        import tensorrt as trt

        self.device = device
        self.runtime = trt.Runtime(_logger())
        with torch.cuda.device(device):
            self.engine = self.runtime.deserialize_cuda_engine(engine_path.read_bytes())
            if self.engine is None:
                raise RuntimeError(f"TensorRT cannot load {engine_path} (another version?)")
            self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        mode = trt.TensorIOMode.INPUT
        self.inputs = [n for n in names if self.engine.get_tensor_mode(n) == mode]
        self.outputs = [n for n in names if self.engine.get_tensor_mode(n) != mode]
        self.dtypes = {n: _torch_dtype(self.engine.get_tensor_dtype(n)) for n in names}
        # Inputs the exporter folded away are absent from the engine; ours are all used.
        self.positions = [spec.input_names.index(n) for n in self.inputs]
        order = {name: i for i, name in enumerate(spec.output_names)}
        self.outputs.sort(key=lambda n: order.get(n, len(order)))

    def __call__(self, *tensors: torch.Tensor) -> Sequence[torch.Tensor]:
        stream = torch.cuda.current_stream(self.device)
        keep = []
        for name, position in zip(self.inputs, self.positions, strict=True):
            tensor = tensors[position].to(self.device, self.dtypes[name]).contiguous()
            keep.append(tensor)
            self.context.set_input_shape(name, tuple(tensor.shape))
            self.context.set_tensor_address(name, tensor.data_ptr())
        outputs = []
        for name in self.outputs:
            shape = tuple(self.context.get_tensor_shape(name))
            out = torch.empty(shape, dtype=self.dtypes[name], device=self.device)
            self.context.set_tensor_address(name, out.data_ptr())
            outputs.append(out)
        if not self.context.execute_async_v3(stream.cuda_stream):
            raise RuntimeError("TensorRT failed to enqueue the engine")
        # The inputs must outlive the enqueued work: tie them to the stream.
        for tensor in keep:
            tensor.record_stream(stream)
        return outputs


def _torch_dtype(trt_dtype: Any) -> torch.dtype:
    import tensorrt as trt

    table = {
        trt.float32: torch.float32,
        trt.float16: torch.float16,
        trt.int32: torch.int32,
        trt.int64: torch.int64,
        trt.bool: torch.bool,
        trt.int8: torch.int8,
    }
    if hasattr(trt, "bfloat16"):
        table[trt.bfloat16] = torch.bfloat16
    return table[trt_dtype]
