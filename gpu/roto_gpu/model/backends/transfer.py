"""Host <-> device copies through pinned (page-locked) memory, non-blocking on CUDA: a copy from
ordinary memory is staged by the driver and blocks the host until it is done, while one from
pinned memory is a DMA that overlaps the GPU's work queued before it. On the CPU these are the
plain conversions.

Where the model wrapper should call them (roto_gpu.model.sam2_model): ``to_device`` for the
pixels in ``_preprocess`` and the embeddings in ``_on_device``; ``to_host_many`` for the
embedding maps in ``_encode`` and the masks in ``_decode`` (one synchronisation for all of them
instead of one per ``.cpu()``). PyTorch's pinned-memory allocator keeps a staging block from
being reused until the copy that reads it has finished, so the blocks need no care here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def to_device(array: np.ndarray, device: torch.device) -> torch.Tensor:
    """``array`` as a tensor on ``device``; on CUDA the copy is queued, not waited for."""
    tensor = torch.from_numpy(np.ascontiguousarray(array))
    if device.type != "cuda":
        return tensor.to(device)
    staging = torch.empty(tensor.shape, dtype=tensor.dtype, pin_memory=True)
    staging.copy_(tensor)
    return staging.to(device, non_blocking=True)


def to_host_many(tensors: Sequence[torch.Tensor]) -> list[np.ndarray]:
    """The tensors as numpy arrays: every device copy queued into pinned memory, then one wait."""
    if not tensors:
        return []
    if all(t.device.type != "cuda" for t in tensors):
        return [t.detach().numpy() for t in tensors]
    pinned = []
    for tensor in tensors:
        out = torch.empty(tensor.shape, dtype=tensor.dtype, pin_memory=True)
        out.copy_(tensor.detach(), non_blocking=True)
        pinned.append(out)
    devices = {t.device for t in tensors if t.device.type == "cuda"}
    for device in devices:
        torch.cuda.current_stream(device).synchronize()
    return [p.numpy() for p in pinned]


def to_host(tensor: torch.Tensor) -> np.ndarray:
    return to_host_many([tensor])[0]
