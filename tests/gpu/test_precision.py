"""Precision and attention kernels by compute capability, with fake capabilities (no GPU)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="the gpu extra is not installed: no torch")

from roto_gpu.model.backends.precision import choose_precision  # noqa: E402


def test_a_t4_gets_fp16_and_no_flash_attention_even_though_torch_says_bf16_works() -> None:
    t4 = choose_precision("cuda", (7, 5))
    assert t4.dtype == torch.float16
    assert t4.attention == ("efficient", "math")
    assert "below 8.0" in t4.reason
    assert t4.info()["compute_capability"] == "7.5"


@pytest.mark.parametrize("capability", [(8, 0), (8, 6), (8, 9), (9, 0), (10, 0), (12, 0)])
def test_ampere_and_newer_get_bf16_with_flash_attention(capability: tuple[int, int]) -> None:
    chosen = choose_precision("cuda", capability)
    assert chosen.dtype == torch.bfloat16
    assert chosen.attention == ("flash", "efficient", "math")
    assert chosen.info()["dtype"] == "bfloat16"


def test_a_pre_volta_gpu_still_gets_fp16_and_the_kernels_that_exist_there() -> None:
    assert choose_precision("cuda", (6, 1)).attention == ("efficient", "math")
    assert choose_precision("cuda", (3, 7)).attention == ("math",)
    assert choose_precision("cuda", (3, 7)).dtype == torch.float16


def test_the_cpu_keeps_float32() -> None:
    cpu = choose_precision("cpu", None)
    assert cpu.dtype == torch.float32
    assert cpu.info() == {
        "dtype": "float32",
        "attention": ["flash", "math"],
        "compute_capability": None,
        "precision_reason": "CPU: float32",
    }


def test_cuda_without_a_capability_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="compute capability"):
        choose_precision("cuda", None)
