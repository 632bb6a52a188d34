"""The memory one object attends to on one frame, gathered from our bounded state by SAM2's own
rules (``SAM2Base._prepare_memory_conditioned_features``, non-initial frames), so that several
objects and videos can share one memory-attention pass when their memories have the same length.

Kept step for step with SAM2 1.1.0: the equality test against ``propagate_in_video`` guards it.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from sam2.modeling.sam2_utils import get_1d_sine_pe, select_closest_cond_frames

from roto_gpu.tracking.state import ObjectMemory, Output


class Memory(NamedTuple):
    """Memory tokens (L, 1, C), their positional encodings, and how many of the last tokens
    are object pointers (these get no rotary encoding)."""

    tokens: torch.Tensor
    positions: torch.Tensor
    pointer_tokens: int

    @property
    def shape_key(self) -> tuple[int, int]:
        return (int(self.tokens.shape[0]), self.pointer_tokens)


def gather_memory(
    sam: Any,
    memory: ObjectMemory,
    maskmem_pos_enc: torch.Tensor,
    frame_index: int,
    num_frames: int,
    reverse: bool,
    device: torch.device,
) -> Memory:
    """The memory of one object for tracking ``frame_index``; ``maskmem_pos_enc`` is the
    lowest-resolution spatial encoding of the memory features (1, C, H, W)."""
    selected, unselected = select_closest_cond_frames(
        frame_index, memory.cond, sam.max_cond_frames_in_attn
    )
    assert selected, "an object is tracked only after one of its keyframes is seeded"
    tokens: list[torch.Tensor] = []
    positions: list[torch.Tensor] = []
    for t_pos, previous in [(0, out) for out in selected.values()] + _recent_memories(
        sam, memory, unselected, frame_index, reverse
    ):
        if previous is None:
            continue
        # Stored as bfloat16. SAM2 relies on concatenation with float32 object pointers to
        # widen them, which fails on an fp32 CPU model when there are no pointers yet (an
        # object tracked before its first keyframe); widening here gives the same values.
        features = previous["maskmem_features"].to(device, non_blocking=True).float()
        tokens.append(features.flatten(2).permute(2, 0, 1))
        encoding = maskmem_pos_enc.to(device).flatten(2).permute(2, 0, 1)
        positions.append(encoding + sam.maskmem_tpos_enc[sam.num_maskmem - t_pos - 1])
    pointer_tokens = 0
    if sam.use_obj_ptrs_in_encoder:
        pointers = _pointers(sam, memory, selected, unselected, frame_index, num_frames, reverse)
        if pointers is not None:
            tokens.append(pointers[0])
            positions.append(pointers[1])
            pointer_tokens = int(pointers[0].shape[0])
    return Memory(torch.cat(tokens, dim=0), torch.cat(positions, dim=0), pointer_tokens)


def _recent_memories(
    sam: Any,
    memory: ObjectMemory,
    unselected: dict[int, Output],
    frame_index: int,
    reverse: bool,
) -> list[tuple[int, Output | None]]:
    """The (num_maskmem - 1) previous frames' outputs (None where there is none), farthest first."""
    stride = sam.memory_temporal_stride_for_eval
    found: list[tuple[int, Output | None]] = []
    for t_pos in range(1, sam.num_maskmem):
        t_rel = sam.num_maskmem - t_pos
        if t_rel == 1:
            previous = frame_index + 1 if reverse else frame_index - 1
        elif not reverse:
            previous = ((frame_index - 2) // stride) * stride - (t_rel - 2) * stride
        else:
            previous = -(-(frame_index + 2) // stride) * stride + (t_rel - 2) * stride
        out = memory.recent.get(previous)
        if out is None:
            out = unselected.get(previous)
        found.append((t_pos, out))
    return found


def _pointers(
    sam: Any,
    memory: ObjectMemory,
    selected: dict[int, Output],
    unselected: dict[int, Output],
    frame_index: int,
    num_frames: int,
    reverse: bool,
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Object-pointer tokens and their temporal encodings, or None when there are none."""
    max_pointers = min(num_frames, sam.max_obj_ptrs_in_encoder)
    sign = -1 if reverse else 1
    if sam.only_obj_ptrs_in_the_past_for_eval:
        cond = {
            t: out
            for t, out in selected.items()
            if (t >= frame_index if reverse else t <= frame_index)
        }
    else:
        cond = selected
    found: list[tuple[int, torch.Tensor]] = [
        (
            (frame_index - t) * sign
            if sam.use_signed_tpos_enc_to_obj_ptrs
            else abs(frame_index - t),
            out["obj_ptr"],
        )
        for t, out in cond.items()
    ]
    for t_diff in range(1, max_pointers):
        t = frame_index + t_diff if reverse else frame_index - t_diff
        if t < 0 or t >= num_frames:
            break
        out = memory.recent.get(t, unselected.get(t))
        if out is not None:
            found.append((t_diff, out["obj_ptr"]))
    if not found:
        return None
    distances, pointers = zip(*found, strict=True)
    stacked = torch.stack(pointers, dim=0)
    batch, channels, mem_dim = 1, sam.hidden_dim, sam.mem_dim
    device = stacked.device
    if sam.add_tpos_enc_to_obj_ptrs:
        t_diff_max = max_pointers - 1
        tpos_dim = channels if sam.proj_tpos_enc_in_obj_ptrs else mem_dim
        encoded = torch.tensor(distances).to(device=device, non_blocking=True)
        encoded = get_1d_sine_pe(encoded / t_diff_max, dim=tpos_dim)
        encoded = sam.obj_ptr_tpos_proj(encoded)
        encoded = encoded.unsqueeze(1).expand(-1, batch, mem_dim)
    else:
        encoded = stacked.new_zeros(len(distances), batch, mem_dim)
    if mem_dim < channels:
        # A pointer of C channels becomes C // mem_dim tokens.
        stacked = stacked.reshape(-1, batch, channels // mem_dim, mem_dim)
        stacked = stacked.permute(0, 2, 1, 3).flatten(0, 1)
        encoded = encoded.repeat_interleave(channels // mem_dim, dim=0)
    return stacked, encoded
