"""What one video's propagation remembers between frames: each object's keyframe (conditioning)
outputs, kept for the whole run, and the outputs of recently tracked frames, kept only while the
model can still reach them.

SAM2's own inference state keeps every frame's output. Its memory reads, for frame ``f``, the
spatial memories of at most ``num_maskmem - 1`` earlier frames (every ``stride``-th one) and the
object pointers of at most ``max_obj_ptrs_in_encoder - 1`` of them, so anything farther from the
next frame than that is never read again and is dropped here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

# One frame's output for one object, in SAM2's compact form: "maskmem_features" (bfloat16),
# "obj_ptr", "object_score_logits", and for keyframes "pred_masks" (low-resolution logits).
Output = dict[str, Any]


@dataclass(frozen=True)
class MemoryWindow:
    """How far (in frames from the next frame) the model reads back."""

    spatial: int  # frames whose spatial memory (maskmem_features) can be read
    pointers: int  # frames whose object pointer can be read

    @classmethod
    def of(cls, sam: Any, num_frames: int) -> MemoryWindow:
        """The window of a SAM2 model (eval settings) on a video of ``num_frames`` frames."""
        stride = int(sam.memory_temporal_stride_for_eval)
        # The farthest spatial memory is ((f - 2) // r) * r - (num_maskmem - 3) * r frames back.
        spatial = (int(sam.num_maskmem) - 2) * stride + 1 if sam.num_maskmem > 1 else 0
        pointers = 0
        if sam.use_obj_ptrs_in_encoder:
            pointers = min(num_frames, int(sam.max_obj_ptrs_in_encoder)) - 1
        return cls(spatial=max(spatial, 0), pointers=max(pointers, spatial, 0))


@dataclass
class ObjectMemory:
    """One object's memory bank: keyframes forever, tracked frames while in the window."""

    cond: dict[int, Output] = field(default_factory=dict)
    recent: dict[int, Output] = field(default_factory=dict)
    scores: dict[int, float] = field(default_factory=dict)  # keyframe scores


@dataclass
class VideoState:
    """The propagation state of one video; only the batcher's model thread changes it."""

    num_frames: int
    orig_hw: tuple[int, int]
    object_ids: list[int]
    window: MemoryWindow
    objects: dict[int, ObjectMemory] = field(default_factory=dict)
    # SAM2's maskmem_pos_enc is the same for every frame and object: one copy, batch size 1.
    maskmem_pos_enc: list[torch.Tensor] | None = None
    # Frames near a both-ways anchor, kept for the second leg (see ``pin``).
    pinned: range = range(0)

    def __post_init__(self) -> None:
        for object_id in self.object_ids:
            self.objects.setdefault(object_id, ObjectMemory())

    def is_keyframe(self, object_id: int, frame_index: int) -> bool:
        return frame_index in self.objects[object_id].cond

    def keyframes(self) -> set[int]:
        return {frame for memory in self.objects.values() for frame in memory.cond}

    def add_keyframe(self, object_id: int, frame_index: int, output: Output, score: float) -> None:
        memory = self.objects[object_id]
        memory.cond[frame_index] = output
        memory.scores[frame_index] = score
        memory.recent.pop(frame_index, None)

    def add_tracked(self, object_id: int, frame_index: int, output: Output) -> None:
        self.objects[object_id].recent[frame_index] = output

    def pin(self, anchor: int) -> None:
        """Keep the tracked frames within the pointer window of ``anchor`` until ``unpin``:
        SAM2 tracking back from an anchor reads what tracking forward from it left behind."""
        reach = self.window.pointers
        self.pinned = range(anchor - reach, anchor + reach + 1)

    def unpin(self) -> None:
        self.pinned = range(0)

    def evict(self, next_frame: int | None) -> None:
        """Drop what the model cannot read when it processes ``next_frame`` (None: the run is
        over, drop every tracked frame). Keyframe outputs stay."""
        for memory in self.objects.values():
            for frame in list(memory.recent):
                if frame in self.pinned:
                    continue
                distance = None if next_frame is None else abs(next_frame - frame)
                if distance is None or distance > self.window.pointers:
                    del memory.recent[frame]
                elif distance > self.window.spatial and "maskmem_features" in memory.recent[frame]:
                    # Past the spatial window only the object pointer is still read.
                    output = memory.recent[frame]
                    memory.recent[frame] = {"obj_ptr": output["obj_ptr"]}

    def held(self) -> dict[str, int]:
        """Counts of what the memory bank holds, for checks and logs."""
        recent = [out for memory in self.objects.values() for out in memory.recent.values()]
        return {
            "keyframe_outputs": sum(len(memory.cond) for memory in self.objects.values()),
            "spatial_memories": sum(1 for out in recent if "maskmem_features" in out),
            "object_pointers": len(recent),
        }
