"""The compute dtype and the attention kernels for a device, from its compute capability.

bf16 only from compute capability 8.0 (Ampere): ``torch.cuda.is_bf16_supported()`` answers True
on a T4 (sm_75), where bf16 is emulated without tensor cores and no fused attention kernel takes
it, so SAM2's attention would fall back to the math kernel (slow, and it materialises every
attention matrix). Below 8.0 it is fp16. The kernels are those of PyTorch's scaled-dot-product
attention that exist for the (capability, dtype) pair; the others are switched off so that a
kernel we report is one that can run.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

#: FlashAttention-2 in PyTorch needs sm_80+ and fp16/bf16.
FLASH_MIN_CAPABILITY = (8, 0)
#: The memory-efficient (CUTLASS) kernel runs from sm_50 (bf16 through it from sm_80).
EFFICIENT_MIN_CAPABILITY = (5, 0)
BF16_MIN_CAPABILITY = (8, 0)

KERNELS = ("flash", "efficient", "math")


@dataclass(frozen=True)
class Precision:
    """What the model computes in on a device, and why."""

    dtype: torch.dtype
    attention: tuple[str, ...]  # scaled-dot-product kernels enabled, preferred first
    capability: tuple[int, int] | None
    reason: str

    @property
    def dtype_name(self) -> str:
        return str(self.dtype).removeprefix("torch.")

    def info(self) -> dict[str, object]:
        return {
            "dtype": self.dtype_name,
            "attention": list(self.attention),
            "compute_capability": (
                f"{self.capability[0]}.{self.capability[1]}" if self.capability else None
            ),
            "precision_reason": self.reason,
        }


def choose_precision(device_type: str, capability: tuple[int, int] | None) -> Precision:
    """The dtype and attention kernels for a device (``capability`` for CUDA only)."""
    if device_type != "cuda":
        # PyTorch's CPU attention has its own flash-style kernel and the math one; fp32.
        return Precision(torch.float32, ("flash", "math"), None, "CPU: float32")
    if capability is None:
        raise ValueError("a CUDA device needs its compute capability")
    if capability >= BF16_MIN_CAPABILITY:
        dtype = torch.bfloat16
        reason = f"sm_{capability[0]}{capability[1]} has bf16 tensor cores"
    else:
        dtype = torch.float16
        reason = (
            f"sm_{capability[0]}{capability[1]} is below 8.0: no bf16 tensor cores "
            "(bf16 would be emulated), so fp16"
        )
    kernels: list[str] = []
    if capability >= FLASH_MIN_CAPABILITY:
        kernels.append("flash")
    if capability >= EFFICIENT_MIN_CAPABILITY:  # bf16 is only chosen where it takes bf16
        kernels.append("efficient")
    kernels.append("math")
    return Precision(dtype, tuple(kernels), capability, reason)


def device_precision(device: torch.device) -> Precision:
    """``choose_precision`` for a real device."""
    if device.type != "cuda":
        return choose_precision(device.type, None)
    major, minor = torch.cuda.get_device_capability(device)
    return choose_precision("cuda", (major, minor))


def apply_attention(precision: Precision) -> None:
    """Enable exactly the chosen scaled-dot-product kernels (process-wide flags; CUDA only,
    the CPU kernels have no switches)."""
    if precision.capability is None:
        return
    torch.backends.cuda.enable_flash_sdp("flash" in precision.attention)
    torch.backends.cuda.enable_mem_efficient_sdp("efficient" in precision.attention)
    torch.backends.cuda.enable_math_sdp(True)  # the last resort stays: odd shapes need it
    # cuDNN attention off: the kernels reported are then the ones that can run.
    if hasattr(torch.backends.cuda, "enable_cudnn_sdp"):
        torch.backends.cuda.enable_cudnn_sdp(False)
