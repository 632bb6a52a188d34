"""The NVIDIA driver must be new enough for the CUDA that torch was built with, checked before
the model is built so that an old driver fails the start with a message that names the fix
(torch alone would only warn and fall back to the CPU, or fail deep inside the first kernel).

torch 2.14's default wheel is built for CUDA 13.0, which needs an R580 driver or newer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from roto_gpu.model.options import ModelLoadError

#: Where the loaded kernel module says its version (mounted into containers by the NVIDIA
#: container toolkit).
DRIVER_VERSION_FILE = Path("/proc/driver/nvidia/version")
#: The oldest driver branch each CUDA major runs on (CUDA's release notes, table 3; minor
#: version compatibility makes any driver of the branch enough for every minor of the major).
MIN_DRIVER_BY_CUDA_MAJOR = {11: 450, 12: 525, 13: 580}

_VERSION = re.compile(r"Kernel Module(?: for \S+)?\s+(\d+)\.(\d+)(?:\.(\d+))?")


@dataclass(frozen=True)
class DriverCheck:
    driver: str | None  # "580.65.06", None without a driver
    cuda: str | None  # torch.version.cuda
    required_branch: int | None

    def info(self) -> dict[str, object]:
        return {"nvidia_driver": self.driver, "torch_cuda": self.cuda}


def parse_driver_version(text: str) -> tuple[int, ...] | None:
    """(580, 65, 6) from the first line of /proc/driver/nvidia/version, None if absent."""
    match = _VERSION.search(text)
    if match is None:
        return None
    return tuple(int(part) for part in match.groups() if part is not None)


def required_branch(cuda: str) -> int:
    major = int(cuda.split(".")[0])
    if major not in MIN_DRIVER_BY_CUDA_MAJOR:
        return max(MIN_DRIVER_BY_CUDA_MAJOR.values()) if major > 13 else 0
    return MIN_DRIVER_BY_CUDA_MAJOR[major]


def check_driver(
    torch_cuda: str | None, version_text: str | None, *, wants_cuda: bool
) -> DriverCheck:
    """Raise ModelLoadError when CUDA is wanted and the driver is missing or too old for
    ``torch_cuda``; ``version_text`` is the driver's version file (None: no driver)."""
    if torch_cuda is None:
        if wants_cuda:
            raise ModelLoadError(
                "ROTO_MODEL_DEVICE asks for CUDA but this torch is a CPU-only build"
            )
        return DriverCheck(None, None, None)
    needed = required_branch(torch_cuda)
    if version_text is None:
        if wants_cuda:
            raise ModelLoadError(
                f"ROTO_MODEL_DEVICE asks for CUDA but no NVIDIA driver is loaded "
                f"({DRIVER_VERSION_FILE} is missing): torch is built for CUDA {torch_cuda}, "
                f"which needs driver R{needed} or newer; run the container with the NVIDIA "
                "runtime (--gpus all) on a host with that driver"
            )
        return DriverCheck(None, torch_cuda, needed)
    version = parse_driver_version(version_text)
    if version is None:
        raise ModelLoadError(
            f"cannot read the NVIDIA driver version from {DRIVER_VERSION_FILE}: "
            f"{version_text.strip()[:120]!r}"
        )
    shown = ".".join(f"{part:02d}" if i else str(part) for i, part in enumerate(version))
    if version[0] < needed:
        raise ModelLoadError(
            f"the NVIDIA driver is {shown}, but torch is built for CUDA {torch_cuda}, which "
            f"needs driver R{needed} or newer: update the host's driver (for the GPU AMI, "
            f"one with R{needed}+), or use an image whose torch is built for an older CUDA"
        )
    return DriverCheck(shown, torch_cuda, needed)


def check_this_host(device: str) -> DriverCheck:
    """``check_driver`` for this process: torch's CUDA and the loaded driver. ``device`` is
    ROTO_MODEL_DEVICE; ``auto`` checks only when a driver is loaded."""
    import torch

    if device == "cpu":
        return DriverCheck(None, torch.version.cuda, None)
    try:
        text: str | None = DRIVER_VERSION_FILE.read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = None
    # auto picks CUDA only where torch has it and a driver is loaded.
    wants_cuda = device.startswith("cuda") or (
        device == "auto" and text is not None and torch.version.cuda is not None
    )
    return check_driver(torch.version.cuda, text, wants_cuda=wants_cuda)
