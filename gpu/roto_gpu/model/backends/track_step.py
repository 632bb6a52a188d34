"""The track step compiled as SAM2's ``vos_optimized`` predictor compiles it
(``SAM2VideoPredictorVOS._compile_all_components``): the memory encoder with fixed shapes, the
memory attention with the memory's length left dynamic (it grows with the frames tracked and
the object pointers kept). One difference: the batch, one row per (video, object) pair tracked
together, is padded to a fixed bucket (1, 2, 4, ... pairs) before it reaches the compiled
function, so a fixed-shape graph is compiled once per bucket rather than once per number of
pairs, and padded rows (copies of the last) are cut off the outputs.

Both are installed as SAM2's other compiled graphs are (``roto_gpu.model.backends.graphs``): the
module's ``forward`` replaced on the instance, so every caller of ``sam.memory_attention`` and
``sam._encode_new_memory`` (the tracker, the seeds, a correction's rebuilt context) runs them.
Compiling needs a C compiler at the first call of each shape (``torch.compile``), so this is part
of the ``compile`` backend only, and on a GPU only (on the CPU it gained nothing over eager);
with TensorRT or AOT packages the track step stays eager. The backend compiles every bucket up to
the batch limit at start (``warm_buckets``), so a propagation does not stop to compile.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog
import torch
from torch import nn

log = structlog.get_logger(__name__)

#: Numbers of (video, object) pairs a compiled track step takes; a batch is padded up to the
#: next one (past the last, to the next multiple of it).
PAIR_BUCKETS = (1, 2, 4, 8, 16, 32, 64)

Compiler = Callable[..., Callable[..., Any]]


def bucket(pairs: int) -> int:
    """The padded batch for ``pairs`` rows."""
    for size in PAIR_BUCKETS:
        if pairs <= size:
            return size
    last = PAIR_BUCKETS[-1]
    return -(-pairs // last) * last


def warm_buckets(max_pairs: int) -> list[int]:
    """The buckets compiled at start: every one up to the bucket of ``max_pairs``."""
    return [size for size in PAIR_BUCKETS if size <= bucket(max(1, max_pairs))]


def pad_rows(tensor: torch.Tensor, rows: int, dim: int) -> torch.Tensor:
    """``tensor`` with copies of its last row along ``dim`` up to ``rows`` rows."""
    missing = rows - tensor.shape[dim]
    if missing <= 0:
        return tensor
    last = tensor.narrow(dim, tensor.shape[dim] - 1, 1)
    return torch.cat([tensor, *([last] * missing)], dim=dim)


def compile_track_step(sam: Any, *, compiler: Compiler = torch.compile) -> list[str]:
    """Put the compiled memory encoder and memory attention in SAM2's place; returns their
    names. ``compiler`` is ``torch.compile`` (a test may pass another with its signature)."""
    install_memory_encoder(sam.memory_encoder, compiler)
    install_memory_attention(sam.memory_attention, compiler)
    return ["memory_encoder", "memory_attention"]


def example_step(
    sam: Any, image_size: int, device: torch.device, pairs: int = 1, remembered: int = 1
) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """Inputs of the memory encoder and of the memory attention for ``pairs`` pairs, as one
    track step passes them: a frame's top features and its high-resolution mask; its features
    attending to ``remembered`` frames and four object-pointer tokens. (The attention's rotary
    encoding repeats its table once per remembered frame, and a compiled graph treats one
    frame apart from several: a warm-up needs both.)"""
    side = image_size // sam.backbone_stride
    tokens, pointer_tokens = side * side, sam.hidden_dim // sam.mem_dim
    generator = torch.Generator().manual_seed(0)

    def noise(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=generator).to(device)

    encoder_inputs = (
        noise(pairs, sam.hidden_dim, side, side),
        noise(pairs, 1, image_size, image_size),
        True,
    )
    memory = remembered * tokens + pointer_tokens
    attention_inputs = (
        [noise(tokens, pairs, sam.hidden_dim)],
        noise(memory, pairs, sam.mem_dim),
        [noise(tokens, pairs, sam.hidden_dim)],
        noise(memory, pairs, sam.mem_dim),
        pointer_tokens,
    )
    return encoder_inputs, attention_inputs


def install_memory_encoder(encoder: nn.Module, compiler: Compiler) -> None:
    """``encoder(pix_feat, masks)`` runs a fixed-shape compiled graph per pair bucket. The
    first call of a bucket compiles its graph (seconds on a GPU) and is logged, so a stall in
    the middle of a propagation can be told from a slow model."""
    eager = type(encoder).forward.__get__(encoder)
    compiled = compiler(eager, dynamic=False, fullgraph=True)
    seen: set[int] = set()

    def forward(
        pix_feat: torch.Tensor, masks: torch.Tensor, skip_mask_sigmoid: bool = False
    ) -> dict[str, Any]:
        pairs = pix_feat.shape[0]
        size = bucket(pairs)
        if size not in seen:
            seen.add(size)
            log.info("track_step_bucket_compile", pairs=pairs, bucket=size)
        # Contiguous: a fixed-shape graph is also fixed to its inputs' strides, and the
        # tracker's features are a permuted view (a padded batch is a fresh, contiguous one).
        out = compiled(
            pad_rows(pix_feat, size, 0).contiguous(),
            pad_rows(masks, size, 0).contiguous(),
            skip_mask_sigmoid,
        )
        return {
            "vision_features": out["vision_features"][:pairs],
            "vision_pos_enc": [pos[:pairs] for pos in out["vision_pos_enc"]],
        }

    encoder.__dict__["forward"] = forward


def install_memory_attention(attention: nn.Module, compiler: Compiler) -> None:
    """``attention(curr, memory, ...)`` runs a compiled graph whose memory length is dynamic,
    its batch (dimension 1 of SAM2's sequence-first tensors) padded to a pair bucket."""
    eager = type(attention).forward.__get__(attention)
    compiled = compiler(eager, dynamic=True)

    def forward(
        curr: torch.Tensor | list[torch.Tensor],
        memory: torch.Tensor,
        curr_pos: torch.Tensor | list[torch.Tensor] | None = None,
        memory_pos: torch.Tensor | None = None,
        num_obj_ptr_tokens: int = 0,
    ) -> torch.Tensor:
        pairs = memory.shape[1]
        size = bucket(pairs)

        def padded(value: Any) -> Any:
            if isinstance(value, list):
                return [padded(item) for item in value]
            return None if value is None else pad_rows(value, size, 1)

        out: torch.Tensor = compiled(
            padded(curr),
            padded(memory),
            padded(curr_pos),
            padded(memory_pos),
            num_obj_ptr_tokens,
        )
        return out[:, :pairs]

    attention.__dict__["forward"] = forward


def uninstall_track_step(sam: Any) -> None:
    """Back to SAM2's own memory encoder and attention."""
    sam.memory_encoder.__dict__.pop("forward", None)
    sam.memory_attention.__dict__.pop("forward", None)
