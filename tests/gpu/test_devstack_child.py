"""The GPU daemon as a child of the dev stack (no I/O): its command, the environment the stack adds
for it (random weights without a checkpoint, 512 px on a CPU unless set) and the banner line."""

from __future__ import annotations

from typing import Any

import pytest

from roto.devstack.children import (
    CPU_IMAGE_SIZE,
    CPU_OMP_SPINCOUNT,
    app_processes,
    gpu_banner,
    gpu_env,
)
from roto.settings import load_settings

pytest.importorskip("sam2", reason="the gpu extra is not installed: no GPU daemon child")


def gpu_child(**settings: Any) -> Any:
    (child,) = [c for c in app_processes(load_settings({}, **settings)) if c.name == "worker-gpu"]
    return child


def test_the_stack_runs_the_worker_with_the_gpu_role_and_its_drain_time() -> None:
    child = gpu_child(worker_drain_timeout_s=12)
    assert child.argv[-4:] == ["-m", "roto.worker", "--role", "gpu"]
    assert child.stop_timeout_s == 17


def test_without_a_checkpoint_the_daemon_may_run_random_weights_at_512_px_on_a_cpu() -> None:
    env = gpu_child(model_device="cpu").env
    assert env["ROTO_MODEL_ALLOW_RANDOM_WEIGHTS"] == "true"
    assert env["ROTO_MODEL_IMAGE_SIZE"] == str(CPU_IMAGE_SIZE)


def test_a_checkpoint_and_an_image_size_that_are_set_are_left_alone() -> None:
    env = gpu_env(
        load_settings(
            {}, model_device="cpu", model_checkpoint="/models/sam2.pt", model_image_size=768
        )
    )
    assert [name for name in env if name.startswith("ROTO_")] == []


def test_a_gpu_keeps_the_configs_image_size() -> None:
    assert "ROTO_MODEL_IMAGE_SIZE" not in gpu_env(load_settings({}, model_device="cuda"))


def test_on_a_cpu_openmp_threads_spin_less_unless_the_environment_says_how_they_wait(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY"):
        monkeypatch.delenv(name, raising=False)
    assert gpu_env(load_settings({}, model_device="cpu"))["GOMP_SPINCOUNT"] == str(
        CPU_OMP_SPINCOUNT
    )
    assert "GOMP_SPINCOUNT" not in gpu_env(load_settings({}, model_device="cuda"))
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    assert "GOMP_SPINCOUNT" not in gpu_env(load_settings({}, model_device="cpu"))


def test_the_banner_says_random_weights_and_the_reduced_size() -> None:
    line = gpu_banner(load_settings({}, model_device="cpu"))
    assert "RANDOM WEIGHTS" in line
    assert f"{CPU_IMAGE_SIZE} px" in line and "CPU" in line
    assert "concept detector SAM 3 reduced for the CPU, RANDOM WEIGHTS" in line
    checkpoint = gpu_banner(load_settings({}, model_device="cuda", model_checkpoint="/m.pt"))
    assert "RANDOM" not in checkpoint and "1024 px" in checkpoint
    assert "no concept detector" in checkpoint
    both = gpu_banner(
        load_settings(
            {}, model_device="cuda", model_checkpoint="/m.pt", detector_checkpoint="/sam3.tar"
        )
    )
    assert "RANDOM" not in both and "concept detector SAM 3, weights /sam3.tar" in both
