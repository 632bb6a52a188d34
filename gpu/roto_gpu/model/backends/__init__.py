"""How SAM2's image encoder and mask decoder run: the precision and attention kernels for the
device, and the backend (TensorRT, AOTInductor, torch.compile or eager) chosen at start."""

from roto_gpu.model.backends.precision import Precision, apply_attention, device_precision
from roto_gpu.model.backends.selection import (
    BACKENDS,
    CHOICES,
    BackendContext,
    BackendReport,
    select_backend,
)

__all__ = [
    "BACKENDS",
    "CHOICES",
    "BackendContext",
    "BackendReport",
    "Precision",
    "apply_attention",
    "device_precision",
    "select_backend",
]
