"""AOTInductor packages: a graph compiled ahead of time into a ``.pt2`` (kernels and a C++
wrapper in one shared library) by ``torch._inductor.aoti_compile_and_package``, and loaded with
``aoti_load_package``. Loading needs no compiler, so the gpu image (which has none) runs packages
built elsewhere: by ``python -m roto_gpu.model.backends build`` on a GPU machine with a C++
compiler, which puts them in the engine cache (disk and S3) where every instance finds them.
Building at start is done only where a compiler exists."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import structlog
import torch

from roto_gpu.model.backends.graphs import GraphSpec

log = structlog.get_logger(__name__)


def compiler() -> str | None:
    """The C++ compiler inductor would use, if any."""
    for name in ("c++", "g++", "clang++"):
        found = shutil.which(name)
        if found:
            return found
    return None


def build_package(spec: GraphSpec, path: Path) -> Path:
    """Export ``spec`` and compile it into an AOTInductor package at ``path``."""
    if compiler() is None:
        raise RuntimeError("building an AOTInductor package needs a C++ compiler; none here")
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.inference_mode(False), torch.no_grad():
        program = torch.export.export(
            spec.module, spec.inputs, dynamic_shapes=spec.export_shapes(), strict=False
        )
        built = torch._inductor.aoti_compile_and_package(program, package_path=str(path))
    log.info("aot_package_built", graph=spec.name, path=built)
    return Path(built)


class AotRunner:
    """A loaded package with SAM2's call shape: tensors in, tensors out."""

    def __init__(self, path: Path, device: torch.device) -> None:
        index = device.index if device.index is not None else -1
        self.package: Any = torch._inductor.aoti_load_package(str(path), device_index=index)

    def __call__(self, *tensors: torch.Tensor) -> Sequence[torch.Tensor]:
        outputs = self.package(*(t.contiguous() for t in tensors))
        return list(outputs)
