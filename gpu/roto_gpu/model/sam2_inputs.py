"""Inputs laid out as SAM2's video predictor lays them out before its heads: frames normalised as
``SAM2Transforms`` does, features as its tokens, clicks normalised by the video's size, previous
mask logits clamped. Pure tensor functions; the model wrapper calls them on its one thread."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.transforms import functional as TF

from roto_gpu.model.prompts import KeyframeRequest

# SAM2Transforms' normalisation (ImageNet statistics).
IMAGE_MEAN = (0.485, 0.456, 0.406)
IMAGE_STD = (0.229, 0.224, 0.225)
#: SAM2 clamps previous mask logits to this before feeding them back (add_new_points_or_box).
PREV_LOGITS_CLAMP = 32.0


class Normalizer:
    """SAM2Transforms' steps (ToTensor, Resize, Normalize) for one frame on the device."""

    def __init__(self, image_size: int, device: torch.device) -> None:
        self.image_size = image_size
        self._mean = torch.tensor(IMAGE_MEAN, device=device).view(3, 1, 1)
        self._std = torch.tensor(IMAGE_STD, device=device).view(3, 1, 1)

    def __call__(self, pixels: torch.Tensor) -> torch.Tensor:
        """(H, W, 3) uint8 pixels already on the device as a normalised (3, S, S) float."""
        tensor = pixels.permute(2, 0, 1).float().div(255.0)
        resized = TF.resize(tensor, [self.image_size, self.image_size])
        return (resized - self._mean) / self._std


def check_image(image: object) -> None:
    """A ``ValueError`` unless ``image`` is an H x W x 3 uint8 RGB array."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise ValueError("an image must be a numpy uint8 array")
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"an image must be H x W x 3 RGB, got shape {image.shape}")


def flat(maps: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) features as SAM2's (HW, B, C) token layout, in memory as SAM2 holds them."""
    return maps.flatten(2).permute(2, 0, 1).contiguous()


def as_sam2_lays_it_out(tokens: torch.Tensor) -> torch.Tensor:
    """(HW, B, C) tokens as the (B, C, H, W) view SAM2 hands its mask decoder: a view, not a copy,
    because the decoder's kernels then add up in SAM2's own order (a copy differs in the last
    bits, enough to move a pixel at the mask's edge)."""
    side = math.isqrt(tokens.shape[0])
    return tokens.permute(1, 2, 0).view(tokens.shape[1], tokens.shape[2], side, side)


def point_inputs(
    requests: Sequence[KeyframeRequest], image_size: int, device: torch.device
) -> dict[str, torch.Tensor]:
    """The requests' clicks as SAM2's ``point_inputs``: as ``add_new_points_or_box`` does,
    normalised by the video's size, then scaled to the model's square."""
    coords, labels = [], []
    for r in requests:
        height, width = r.embedding.orig_hw
        points = torch.tensor(np.asarray(r.points).tolist(), dtype=torch.float32)
        coords.append(points / torch.tensor([width, height]) * image_size)
        labels.append(torch.tensor(np.asarray(r.labels).tolist(), dtype=torch.int32))
    return {
        "point_coords": torch.stack(coords).to(device),
        "point_labels": torch.stack(labels).to(device),
    }


def matte_inputs(
    requests: Sequence[KeyframeRequest], image_size: int, device: torch.device
) -> torch.Tensor:
    """The requests' imported mattes as SAM2's ``add_new_mask`` takes them: (B, 1, S, S) floats
    at the model's square, resized with antialiasing and thresholded at one half."""
    mattes = []
    for r in requests:
        if r.matte is None:
            raise ValueError("a matte request needs a matte")
        mask = torch.from_numpy(np.ascontiguousarray(r.matte)).to(device)
        mask = mask[None, None].float()
        if mask.shape[-2:] != (image_size, image_size):
            mask = F.interpolate(
                mask,
                size=(image_size, image_size),
                align_corners=False,
                mode="bilinear",
                antialias=True,
            )
            mask = (mask >= 0.5).float()
        mattes.append(mask)
    return torch.cat(mattes)
