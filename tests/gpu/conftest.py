"""Frames decoded from a real (generated) video, SAM2 tiny with random weights at 256 px, built
once per test module so the model tests stay quick on a CPU, and the concept detector (SAM 3's
image model) with random weights at its reduced CPU size, built once per process."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from tests.media import make_video

SOURCE_WIDTH, SOURCE_HEIGHT = 320, 192
IMAGE_SIZE = 256


def decode_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


@pytest.fixture(scope="session")
def frames(tmp_path_factory: pytest.TempPathFactory) -> list[np.ndarray]:
    """Non-square RGB frames, so a mask at the wrong resolution cannot pass by accident."""
    path = tmp_path_factory.mktemp("gpu") / "clip.mp4"
    make_video(path, frames=6, width=SOURCE_WIDTH, height=SOURCE_HEIGHT)
    decoded = decode_frames(path)
    assert decoded[0].shape == (SOURCE_HEIGHT, SOURCE_WIDTH, 3)
    return decoded


def build_model(**options: Any) -> Any:
    """A CPU SAM2 tiny at 256 px, random weights unless ``checkpoint`` is given."""
    import torch

    from roto_gpu.model.sam2_model import ModelOptions, Sam2Model

    torch.set_num_threads(2)
    checkpoint = options.pop("checkpoint", None)
    values: dict[str, Any] = {
        "image_size": IMAGE_SIZE,
        "device": "cpu",
        "allow_random_weights": True,
        "max_batch_size": 4,
    }
    values.update(options)
    return Sam2Model(ModelOptions(**values), checkpoint)


@pytest.fixture(scope="module")
def model() -> Any:
    pytest.importorskip("torch", reason="the gpu extra is not installed: no torch")
    pytest.importorskip("sam2", reason="the gpu extra is not installed: no sam2")
    return build_model()


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


@pytest.fixture(scope="session")
def shared_model() -> Any:
    """One model for every daemon test of the session: building it is most of their cost."""
    pytest.importorskip("torch", reason="the gpu extra is not installed: no torch")
    pytest.importorskip("sam2", reason="the gpu extra is not installed: no sam2")
    return build_model()


@functools.cache
def cpu_detector() -> Any:
    """The concept detector as the daemon builds it without a checkpoint on a CPU: SAM 3
    reduced, random weights (seed 0), the local tokenizer; one per process."""
    import torch

    from roto_gpu.model.detector import random_detector

    torch.set_num_threads(2)
    return random_detector(torch.device("cpu"), torch.float32, seed=0)


@pytest.fixture(scope="session")
def shared_detector() -> Any:
    pytest.importorskip("transformers", reason="the gpu extra is not installed: no transformers")
    return cpu_detector()
