"""The two graphs that the compiled backends build, and the seams where they go back into SAM2.

- ``image_encoder``: ``sam.image_encoder`` (Hiera trunk + FPN neck) from normalised pixels to the
  backbone's feature levels and their position encodings, as flat outputs.
- ``mask_decoder``: ``sam.sam_mask_decoder.predict_masks`` (two-way transformer, upscaling, mask,
  IoU and object-score heads) from image embeddings, prompt embeddings and the high-resolution
  features to all candidate masks.

A compiled graph is installed by replacing that *method on the instance* (``forward`` of the
encoder, ``predict_masks`` of the decoder) with a function of the same signature. Module tree,
weights, state dict and every other attribute stay as SAM2 built them, so code that calls
``sam.forward_image``, ``sam.sam_mask_decoder(...)`` or ``sam._forward_sam_heads`` (the click
decoder, the video tracker) runs the compiled graph without knowing it, and SAM2's own
post-processing (multimask selection, dynamic stability fallback) runs on its outputs.

The prompt encoder stays eager: a few embedding lookups over at most 64 points (or three small
convolutions for a mask input), well under 1 % of a decode, and its inputs take four forms
(points, box, mask, none) that would need as many engines.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

#: Bump when a graph's inputs, outputs or export changes: it is part of every cache key.
GRAPH_VERSION = 1
ONNX_OPSET = 18
#: Longest prompt the decoder graph takes: 64 points, two box corners and SAM2's padding point.
MAX_PROMPT_TOKENS = 80
#: Largest decoder batch in a graph (the tracker decodes one row per (video, object) pair).
MAX_DECODER_BATCH = 64

Run = Callable[..., Sequence[torch.Tensor]]


class EncoderGraph(nn.Module):
    """``image_encoder(pixels)`` with flat outputs: the FPN levels, then their positions."""

    def __init__(self, encoder: nn.Module, autocast: torch.dtype | None = None) -> None:
        super().__init__()
        self.encoder = encoder
        self.autocast = autocast

    def forward(self, pixels: torch.Tensor) -> tuple[torch.Tensor, ...]:
        with autocast(pixels.device.type, self.autocast):
            out = type(self.encoder).forward(self.encoder, pixels)
        return (*out["backbone_fpn"], *out["vision_pos_enc"])


class DecoderGraph(nn.Module):
    """``predict_masks`` with the image not repeated and high-resolution features on."""

    def __init__(self, decoder: Any, autocast: torch.dtype | None = None) -> None:
        super().__init__()
        self.decoder = decoder
        self.autocast = autocast

    def forward(
        self,
        image_embeddings: torch.Tensor,
        image_pe: torch.Tensor,
        sparse: torch.Tensor,
        dense: torch.Tensor,
        feat_s0: torch.Tensor,
        feat_s1: torch.Tensor,
    ) -> tuple[torch.Tensor, ...]:
        with autocast(image_embeddings.device.type, self.autocast):
            out = type(self.decoder).predict_masks(
                self.decoder, image_embeddings, image_pe, sparse, dense, False, [feat_s0, feat_s1]
            )
        return tuple(out)


def autocast(device_type: str, dtype: torch.dtype | None) -> contextlib.AbstractContextManager[Any]:
    if dtype is None or dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device_type, dtype=dtype)


@dataclass(frozen=True)
class GraphSpec:
    """One graph to build: its module, example inputs and the batch/token ranges it takes."""

    name: str
    module: nn.Module
    inputs: tuple[torch.Tensor, ...]
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    # input name -> {dim: (name, min, opt, max)} for the dimensions that vary
    dynamic: dict[str, dict[int, tuple[str, int, int, int]]] = field(default_factory=dict)
    identity: dict[str, Any] = field(default_factory=dict)

    def key(self, **extra: Any) -> str:
        """A hash of what the graph is: its definition, the weights and shapes it is built
        for, the torch that exports it and ``extra`` (backend, precision, GPU...). It names the
        graph without exporting it (exporting Hiera-L takes minutes)."""
        described = {
            "graph": self.name,
            "graph_version": GRAPH_VERSION,
            "source": _source_digest(),
            "torch": torch.__version__,
            "opset": ONNX_OPSET,
            "inputs": [list(t.shape) for t in self.inputs],
            "dynamic": {
                k: {str(d): v for d, v in dims.items()} for k, dims in self.dynamic.items()
            },
            **self.identity,
            **extra,
        }
        text = json.dumps(described, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def export_shapes(self) -> tuple[dict[int, Any] | None, ...]:
        """``dynamic_shapes`` for torch.export, in input order."""
        dims: dict[str, Any] = {}
        shapes: list[dict[int, Any] | None] = []
        for name in self.input_names:
            spec = self.dynamic.get(name)
            if not spec:
                shapes.append(None)
                continue
            entry = {}
            for dim, (dim_name, low, _, high) in spec.items():
                if dim_name not in dims:
                    dims[dim_name] = torch.export.Dim(dim_name, min=low, max=high)
                entry[dim] = dims[dim_name]
            shapes.append(entry)
        return tuple(shapes)

    def profile(self) -> dict[str, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]]:
        """Min, opt and max shape of each varying input (a TensorRT optimization profile)."""
        out = {}
        for name, tensor in zip(self.input_names, self.inputs, strict=True):
            spec = self.dynamic.get(name)
            if not spec:
                continue
            shapes = [list(tensor.shape) for _ in range(3)]
            for dim, (_, low, opt, high) in spec.items():
                shapes[0][dim], shapes[1][dim], shapes[2][dim] = low, opt, high
            out[name] = (tuple(shapes[0]), tuple(shapes[1]), tuple(shapes[2]))
        return out

    def accepts(self, tensors: Sequence[torch.Tensor]) -> bool:
        """Whether ``tensors`` fit the graph's shapes (else the caller runs eager)."""
        if len(tensors) != len(self.inputs):
            return False
        for name, got, example in zip(self.input_names, tensors, self.inputs, strict=True):
            if got.dim() != example.dim():
                return False
            spec = self.dynamic.get(name, {})
            for dim, (size, want) in enumerate(zip(got.shape, example.shape, strict=True)):
                if dim in spec:
                    _, low, _, high = spec[dim]
                    if not low <= size <= high:
                        return False
                elif size != want:
                    return False
        return True


def _source_digest() -> str:
    source = inspect.getsource(EncoderGraph) + inspect.getsource(DecoderGraph)
    try:
        import sam2

        source += getattr(sam2, "__version__", "")
    except ImportError:  # pragma: no cover - sam2 is a dependency of this package
        pass
    return hashlib.sha256(source.encode()).hexdigest()[:16]


def encoder_spec(
    sam: Any,
    *,
    image_size: int,
    max_batch: int,
    device: torch.device,
    autocast: torch.dtype | None,
    identity: dict[str, Any],
) -> GraphSpec:
    """The image encoder graph for batches of 1 to ``max_batch`` images."""
    # Example batch 2: torch.export specialises a dimension whose example is 1.
    pixels = _example(2, 3, image_size, image_size, device=device)
    encoder = sam.image_encoder
    levels = len(encoder.neck.convs) - encoder.scalp
    batch = ("batch", 1, min(4, max_batch), max(2, max_batch))
    return GraphSpec(
        name="image_encoder",
        module=EncoderGraph(encoder, autocast).eval(),
        inputs=(pixels,),
        input_names=("pixels",),
        output_names=tuple(
            [f"backbone_fpn_{i}" for i in range(levels)]
            + [f"vision_pos_enc_{i}" for i in range(levels)]
        ),
        dynamic={"pixels": {0: batch}},
        identity={**identity, "image_size": image_size, "levels": levels},
    )


def _example(*shape: int, device: torch.device) -> torch.Tensor:
    """Example inputs, the same on every run (so are the checks against eager made on them)."""
    generator = torch.Generator().manual_seed(sum(shape))
    return torch.randn(*shape, generator=generator).to(device)


def decoder_spec(
    sam: Any,
    *,
    image_size: int,
    device: torch.device,
    autocast: torch.dtype | None,
    identity: dict[str, Any],
) -> GraphSpec:
    """The mask decoder graph for 1-64 rows of 1-80 prompt tokens."""
    decoder = sam.sam_mask_decoder
    dim = sam.sam_prompt_encoder.embed_dim
    side = image_size // 16
    rows = 2
    inputs = (
        _example(rows, dim, side, side, device=device),
        sam.sam_prompt_encoder.get_dense_pe().detach().to(device),
        _example(rows, 3, dim, device=device),
        _example(rows, dim, side, side, device=device),
        _example(rows, dim // 8, side * 4, side * 4, device=device),
        _example(rows, dim // 4, side * 2, side * 2, device=device),
    )
    batch = ("rows", 1, 1, MAX_DECODER_BATCH)
    return GraphSpec(
        name="mask_decoder",
        module=DecoderGraph(decoder, autocast).eval(),
        inputs=inputs,
        input_names=(
            "image_embeddings",
            "image_pe",
            "sparse_embeddings",
            "dense_embeddings",
            "feat_s0",
            "feat_s1",
        ),
        output_names=("masks", "iou_pred", "mask_tokens_out", "object_score_logits"),
        dynamic={
            "image_embeddings": {0: batch},
            "sparse_embeddings": {0: batch, 1: ("tokens", 1, 3, MAX_PROMPT_TOKENS)},
            "dense_embeddings": {0: batch},
            "feat_s0": {0: batch},
            "feat_s1": {0: batch},
        },
        identity={**identity, "image_size": image_size},
    )


def install_encoder(encoder: nn.Module, spec: GraphSpec, run: Run) -> None:
    """Make ``encoder(pixels)`` run ``run`` (falling back to eager for other shapes)."""
    levels = len(spec.output_names) // 2
    eager = type(encoder).forward.__get__(encoder)

    def forward(sample: torch.Tensor) -> dict[str, Any]:
        if not spec.accepts([sample]):
            return eager(sample)
        outputs = list(run(sample))
        fpn, pos = outputs[:levels], outputs[levels:]
        return {"vision_features": fpn[-1], "vision_pos_enc": pos, "backbone_fpn": fpn}

    encoder.__dict__["forward"] = forward


def install_decoder(decoder: nn.Module, spec: GraphSpec, run: Run) -> None:
    """Make ``decoder.predict_masks`` run ``run`` (falling back to eager where it cannot)."""
    eager = type(decoder).predict_masks.__get__(decoder)  # type: ignore[attr-defined]

    def predict_masks(
        image_embeddings: torch.Tensor,
        image_pe: torch.Tensor,
        sparse_prompt_embeddings: torch.Tensor,
        dense_prompt_embeddings: torch.Tensor,
        repeat_image: bool,
        high_res_features: list[torch.Tensor] | None = None,
    ) -> Any:
        if high_res_features is None:
            return eager(
                image_embeddings,
                image_pe,
                sparse_prompt_embeddings,
                dense_prompt_embeddings,
                repeat_image,
                high_res_features,
            )
        if repeat_image:
            rows = sparse_prompt_embeddings.shape[0]
            image_embeddings = torch.repeat_interleave(image_embeddings, rows, dim=0)
        inputs = [
            image_embeddings,
            image_pe,
            sparse_prompt_embeddings,
            dense_prompt_embeddings,
            *high_res_features,
        ]
        if not spec.accepts(inputs):
            return eager(
                image_embeddings,
                image_pe,
                sparse_prompt_embeddings,
                dense_prompt_embeddings,
                False,
                high_res_features,
            )
        return tuple(run(*inputs))

    decoder.__dict__["predict_masks"] = predict_masks


def uninstall(module: nn.Module, method: str) -> None:
    """Back to SAM2's own method."""
    module.__dict__.pop(method, None)


def similar(expected: Sequence[torch.Tensor], got: Sequence[torch.Tensor]) -> float:
    """The lowest cosine similarity between matching outputs (1.0: the same direction)."""
    worst = 1.0
    for a, b in zip(expected, got, strict=True):
        x, y = a.detach().float().flatten(), b.detach().float().flatten().to(a.device)
        if x.shape != y.shape:
            return -1.0
        cos = torch.nn.functional.cosine_similarity(x, y, dim=0, eps=1e-12).item()
        worst = min(worst, 1.0 if x.norm() == 0 and y.norm() == 0 else cos)
    return worst
