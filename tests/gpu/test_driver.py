"""The start-up check of the NVIDIA driver against torch's CUDA, with fake driver strings."""

from __future__ import annotations

import pytest

from roto_gpu.model.driver import check_driver, parse_driver_version, required_branch
from roto_gpu.model.options import ModelLoadError

PROPRIETARY = (
    "NVRM version: NVIDIA UNIX x86_64 Kernel Module  {v}  Wed Jul  2 22:12:35 UTC 2025\n"
    "GCC version:  gcc version 11.4.0 (Ubuntu 11.4.0-1ubuntu1~22.04)\n"
)
OPEN = (
    "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  {v}  Release Build  (dvs-builder)\n"
)


def test_versions_are_read_from_both_kinds_of_kernel_module() -> None:
    assert parse_driver_version(PROPRIETARY.format(v="580.65.06")) == (580, 65, 6)
    assert parse_driver_version(OPEN.format(v="570.133.20")) == (570, 133, 20)
    assert parse_driver_version(PROPRIETARY.format(v="535.54")) == (535, 54)
    assert parse_driver_version("no driver here") is None


def test_cuda_13_needs_r580() -> None:
    assert required_branch("13.0") == 580
    assert required_branch("12.8") == 525
    ok = check_driver("13.0", OPEN.format(v="580.95.05"), wants_cuda=True)
    assert ok.driver == "580.95.05"
    assert ok.info() == {"nvidia_driver": "580.95.05", "torch_cuda": "13.0"}


def test_an_r570_driver_is_refused_for_cuda_13_with_the_fix_in_the_message() -> None:
    with pytest.raises(ModelLoadError) as caught:
        check_driver("13.0", PROPRIETARY.format(v="570.172.08"), wants_cuda=True)
    message = str(caught.value)
    assert "570.172.08" in message and "CUDA 13.0" in message and "R580" in message


def test_the_same_old_driver_is_refused_even_when_the_device_is_auto() -> None:
    # A driver is loaded, so auto would pick CUDA and fail later, less clearly.
    with pytest.raises(ModelLoadError, match="R580"):
        check_driver("13.0", PROPRIETARY.format(v="550.90.07"), wants_cuda=False)


def test_no_driver_is_fine_on_the_cpu_and_an_error_when_cuda_is_asked_for() -> None:
    assert check_driver("13.0", None, wants_cuda=False).driver is None
    with pytest.raises(ModelLoadError, match="no NVIDIA driver is loaded"):
        check_driver("13.0", None, wants_cuda=True)


def test_a_cpu_only_torch_cannot_serve_cuda() -> None:
    assert check_driver(None, None, wants_cuda=False).cuda is None
    with pytest.raises(ModelLoadError, match="CPU-only build"):
        check_driver(None, PROPRIETARY.format(v="580.65.06"), wants_cuda=True)


def test_an_unreadable_version_file_is_an_error_that_quotes_it() -> None:
    with pytest.raises(ModelLoadError, match="garbled"):
        check_driver("13.0", "garbled", wants_cuda=True)
