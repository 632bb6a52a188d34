"""The backend chosen at start: TensorRT engines, else AOTInductor packages, else
``torch.compile``, else eager. Each step that cannot run (no GPU, no tensorrt module, no cached
package and no compiler, a build that fails, outputs that do not match eager) is logged as a
warning with its reason and listed in ``/readyz`` (``model.backend_fallbacks``); the next one is
tried. ``ROTO_MODEL_BACKEND`` names where the chain starts (``auto``: at TensorRT on a GPU; on
the CPU straight to eager, since every compiled form here is built for a GPU).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
import torch

from roto_gpu.model.backends import aot, onnx, tensorrt
from roto_gpu.model.backends.cache import ArtifactCache
from roto_gpu.model.backends.graphs import (
    GraphSpec,
    Run,
    autocast,
    decoder_spec,
    encoder_spec,
    install_decoder,
    install_encoder,
    similar,
    uninstall,
)
from roto_gpu.model.backends.precision import Precision
from roto_gpu.model.backends.track_step import (
    compile_track_step,
    example_step,
    uninstall_track_step,
    warm_buckets,
)
from roto_gpu.model.options import ModelLoadError

log = structlog.get_logger(__name__)

BACKENDS = ("tensorrt", "aot", "compile", "eager")
CHOICES = ("auto", *BACKENDS)
#: A compiled graph must point where eager does: the lowest cosine similarity of its outputs
#: to eager's on the example inputs (half-precision engines give about 0.9999).
MIN_SIMILARITY = 0.99
CPU_REASON = (
    "CPU: TensorRT needs CUDA, and AOT packages and torch.compile here are built for a GPU; "
    "eager is what runs (ROTO_MODEL_BACKEND=aot or compile tries them on the CPU)"
)


class BackendUnavailable(RuntimeError):
    """This backend cannot run here; the message says why."""


@dataclass
class BackendReport:
    """What runs and why: published in ``model.info()`` and so in ``/readyz``."""

    backend: str
    requested: str
    graphs: list[str] = field(default_factory=list)
    fallbacks: list[dict[str, str]] = field(default_factory=list)
    note: str = ""

    def info(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "backend_requested": self.requested,
            "backend_graphs": list(self.graphs),
            "backend_fallbacks": list(self.fallbacks),
            "backend_note": self.note,
        }


@dataclass(frozen=True)
class BackendContext:
    sam: Any
    device: torch.device
    precision: Precision
    image_size: int
    max_batch_size: int
    identity: dict[str, Any]
    cache: ArtifactCache

    @property
    def autocast(self) -> torch.dtype | None:
        return self.precision.dtype if self.device.type == "cuda" else None

    @property
    def gpu(self) -> str:
        if self.device.type != "cuda":
            return "cpu"
        return str(torch.cuda.get_device_name(self.device))

    def specs(self) -> list[GraphSpec]:
        device, autocast, identity = self.device, self.autocast, self.identity
        return [
            encoder_spec(
                self.sam,
                image_size=self.image_size,
                max_batch=self.max_batch_size,
                device=device,
                autocast=autocast,
                identity=identity,
            ),
            decoder_spec(
                self.sam,
                image_size=self.image_size,
                device=device,
                autocast=autocast,
                identity=identity,
            ),
        ]


def select_backend(requested: str, context: BackendContext) -> BackendReport:
    """Install the first backend of the chain that builds and matches eager."""
    if requested not in CHOICES:
        raise ModelLoadError(
            f"ROTO_MODEL_BACKEND must be one of {', '.join(CHOICES)}, got {requested!r}"
        )
    if requested == "auto" and context.device.type != "cuda":
        log.info("model_backend", backend="eager", reason=CPU_REASON)
        return BackendReport("eager", requested, note=CPU_REASON)
    chain = BACKENDS if requested == "auto" else BACKENDS[BACKENDS.index(requested) :]
    fallbacks: list[dict[str, str]] = []
    for position, name in enumerate(chain):
        if name == "eager":
            break
        try:
            graphs = BUILDERS[name](context)
        except Exception as exc:
            uninstall_all(context.sam)
            reason = _reason(exc)
            fallbacks.append({"backend": name, "reason": reason})
            log.warning(
                "model_backend_fallback", backend=name, next=chain[position + 1], reason=reason
            )
            continue
        log.info("model_backend", backend=name, graphs=graphs, fallbacks=fallbacks)
        return BackendReport(name, requested, graphs, fallbacks)
    note = "every compiled backend fell back" if fallbacks else "asked for"
    log.info("model_backend", backend="eager", fallbacks=fallbacks)
    return BackendReport("eager", requested, [], fallbacks, note)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, BackendUnavailable):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"[:500]


def uninstall_all(sam: Any) -> None:
    """Back to SAM2's own modules, whatever a backend put in their place."""
    uninstall(sam.image_encoder, "forward")
    uninstall(sam.sam_mask_decoder, "predict_masks")
    uninstall_track_step(sam)


def _install(context: BackendContext, spec: GraphSpec, run: Run) -> None:
    """Check ``run`` against eager on the example inputs, then put it in SAM2's place. In
    inference mode, as the model calls it: ``torch.compile`` keeps the graph it compiles here
    for the model's warm-up and requests only if the tensors' dispatch keys match."""
    with torch.inference_mode():
        inputs = [value.clone() for value in spec.inputs]  # inference tensors, as the model's
        expected = spec.module(*inputs)
        got = run(*inputs)
    score = similar(expected, got)
    if score < MIN_SIMILARITY:
        raise BackendUnavailable(
            f"{spec.name} differs from eager (cosine similarity {score:.4f} < {MIN_SIMILARITY})"
        )
    if spec.name == "image_encoder":
        install_encoder(context.sam.image_encoder, spec, run)
    else:
        install_decoder(context.sam.sam_mask_decoder, spec, run)


def _tensorrt(context: BackendContext) -> list[str]:
    reason = tensorrt.unavailable_reason(context.device)
    if reason:
        raise BackendUnavailable(reason)
    missing = onnx.missing_onnx_packages()
    if missing:
        raise BackendUnavailable(f"exporting the ONNX graphs needs {', '.join(missing)}")
    version = tensorrt.version()
    built = []
    for spec in context.specs():
        key = spec.key(
            backend="tensorrt",
            tensorrt=version,
            gpu=context.gpu,
            precision=context.precision.dtype_name,
            profile=spec.profile(),
        )
        name = f"{spec.name}-{key}.engine"
        path = context.cache.fetch(name)
        if path is None:
            with tempfile.TemporaryDirectory(prefix="roto-trt-") as tmp:
                graph = onnx.export_onnx(spec, Path(tmp) / f"{spec.name}.onnx")
                engine = tensorrt.build_engine(graph, spec, Path(tmp) / name)
                path = context.cache.store(name, engine)
        _install(context, spec, tensorrt.TrtRunner(path, spec, context.device))
        built.append(spec.name)
    return built


def _aot(context: BackendContext) -> list[str]:
    capability = context.precision.info()["compute_capability"]
    built = []
    for spec in context.specs():
        key = spec.key(
            backend="aot",
            gpu=context.gpu,
            capability=capability,
            precision=context.precision.dtype_name,
        )
        name = f"{spec.name}-{key}.pt2"
        path = context.cache.fetch(name)
        if path is None:
            if aot.compiler() is None:
                raise BackendUnavailable(
                    f"no AOTInductor package {name} in the engine cache and no C++ compiler to "
                    "build one: run `python -m roto_gpu.model.backends build --backend aot` on "
                    "a machine with this GPU and a compiler (it fills the cache in S3)"
                )
            with tempfile.TemporaryDirectory(prefix="roto-aot-") as tmp:
                package = aot.build_package(spec, Path(tmp) / name)
                path = context.cache.store(name, package)
        _install(context, spec, aot.AotRunner(path, context.device))
        built.append(spec.name)
    return built


def _compile(context: BackendContext) -> list[str]:
    # Inductor builds C (Triton's launcher on a GPU, the kernels themselves on a CPU) at the
    # first call of each shape: without a compiler it would fail then, in the middle of serving.
    if not any(shutil.which(cc) for cc in ("cc", "gcc", "clang")):
        raise BackendUnavailable(
            "torch.compile needs a C compiler at first use (Triton builds its launcher), and "
            "this image has none"
        )
    spec = context.specs()[0]
    encoder = context.sam.image_encoder
    compiled = torch.compile(type(encoder).forward.__get__(encoder), dynamic=False)

    def run(pixels: torch.Tensor) -> Sequence[torch.Tensor]:
        with autocast(pixels.device.type, context.autocast):
            out = compiled(pixels)
        return [*out["backbone_fpn"], *out["vision_pos_enc"]]

    # Padded to fixed batch sizes by the model (dynamic=False), so each size compiles once.
    _install(context, spec, run)
    if context.device.type != "cuda":
        # On this project's 2-core CPU the compiled track step ran at 0.91-1.03x eager
        # (bench/track_step.py; inductor warns that it makes no code for complex operators,
        # which the attention's rotary encoding uses). SAM2's vos_optimized predictor compiles
        # it for a GPU, and so does this backend.
        return [spec.name]
    return [spec.name, *_compile_track_step(context)]


def _compile_track_step(context: BackendContext) -> list[str]:
    """The memory encoder and attention compiled (``track_step``) and checked against eager on
    example steps: every pair bucket up to the batch limit, with one and with two remembered
    frames. This compiles the graphs a propagation needs here, at start, instead of in the
    middle of a user's job. The examples run in inference mode as the tracker does: a graph
    compiled for ordinary tensors is not reused for inference tensors. A bucket past the limit
    compiles at its first use, logged as ``track_step_bucket_compile``."""
    sam = context.sam
    buckets = warm_buckets(context.max_batch_size)
    with torch.inference_mode(), autocast(context.device.type, context.autocast):
        # Made in inference mode too: dynamo's guards check a tensor's dispatch keys.
        examples = [
            example_step(sam, context.image_size, context.device, pairs, remembered)
            for pairs in buckets
            for remembered in (1, 2)
        ]
        expected = [_step_outputs(sam, *example) for example in examples]
        names = compile_track_step(sam)
        got = [_step_outputs(sam, *example) for example in examples]
    for example, want, have in zip(examples, expected, got, strict=True):
        score = similar(want, have)
        if score < MIN_SIMILARITY:
            pairs = example[0][0].shape[0]
            raise BackendUnavailable(
                f"the compiled track step for {pairs} pair(s) differs from eager (cosine "
                f"similarity {score:.4f} < {MIN_SIMILARITY})"
            )
    log.info("track_step_compiled", buckets=buckets)
    return names


def _step_outputs(
    sam: Any, encoder_inputs: tuple[Any, ...], attention_inputs: tuple[Any, ...]
) -> list[torch.Tensor]:
    encoded = sam.memory_encoder(*encoder_inputs)
    attended = sam.memory_attention(*attention_inputs)
    return [encoded["vision_features"], *encoded["vision_pos_enc"], attended]


BUILDERS: dict[str, Callable[[BackendContext], list[str]]] = {
    "tensorrt": _tensorrt,
    "aot": _aot,
    "compile": _compile,
}
