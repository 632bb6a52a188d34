"""Building SAM2 for this process: the device it runs on, SAM2's video predictor from its Hydra
config, and a checkpoint's weights loaded into it (or random weights, drawn the same way in every
process)."""

from __future__ import annotations

from typing import Any

import torch
from sam2.build_sam import build_sam2_video_predictor

from roto_gpu.model.checkpoints import Checkpoint
from roto_gpu.model.options import CONFIGS, ModelLoadError, ModelOptions, hydra_overrides


def pick_device(name: str) -> torch.device:
    """The device ``ROTO_MODEL_DEVICE`` names (``auto``: CUDA when there is one), or a
    ``ModelLoadError`` saying why it cannot be used."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ModelLoadError(f"ROTO_MODEL_DEVICE {name!r} is not a device") from exc
    if device.type not in ("cpu", "cuda"):
        raise ModelLoadError(f"ROTO_MODEL_DEVICE must be auto, cpu or cuda[:N], got {name!r}")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError("ROTO_MODEL_DEVICE asks for CUDA but no CUDA device is available")
    return device


def build_video_predictor(
    options: ModelOptions, checkpoint: Checkpoint | None, device: torch.device
) -> Any:
    """SAM2's ``SAM2VideoPredictor`` at ``options``' size and input size, with the checkpoint's
    weights (random ones without), on ``device`` in eval mode."""
    # A private RNG seeded the same everywhere, so two processes with random weights agree.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(options.random_seed)
        sam = build_sam2_video_predictor(
            CONFIGS[options.size],
            ckpt_path=None,
            device="cpu",
            hydra_overrides_extra=hydra_overrides(options.image_size),
        )
    if checkpoint is not None:
        load_weights(sam, checkpoint)
    return sam.to(device).eval()


def load_weights(sam: torch.nn.Module, checkpoint: Checkpoint) -> None:
    """Load a checkpoint's ``{"model": state dict}``; every tensor must fit (a checkpoint of
    another size is refused, naming what is missing or unexpected)."""
    try:
        loaded = torch.load(checkpoint.path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelLoadError(f"cannot read checkpoint {checkpoint.path}: {exc}") from exc
    if not isinstance(loaded, dict) or not isinstance(loaded.get("model"), dict):
        raise ModelLoadError(f"checkpoint {checkpoint.path} has no 'model' state dict")
    try:
        missing, unexpected = sam.load_state_dict(loaded["model"], strict=False)
    except RuntimeError as exc:  # tensors of other shapes: weights of another size
        raise ModelLoadError(
            f"checkpoint {checkpoint.path} does not fit this model (ROTO_MODEL_SIZE?): {exc}"
        ) from exc
    if missing or unexpected:
        raise ModelLoadError(
            f"checkpoint {checkpoint.path} does not fit this model (ROTO_MODEL_SIZE?): "
            f"missing {_few(missing)}, unexpected {_few(unexpected)}"
        )


def _few(names: list[str]) -> str:
    if not names:
        return "none"
    more = f" and {len(names) - 5} more" if len(names) > 5 else ""
    return ", ".join(names[:5]) + more
