"""What the model is built from: the SAM2.1 config per size, the input size and its Hydra
overrides, and the options read from the settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from roto.settings import Settings

CONFIGS = {
    "tiny": "configs/sam2.1/sam2.1_hiera_t.yaml",
    "small": "configs/sam2.1/sam2.1_hiera_s.yaml",
    "base_plus": "configs/sam2.1/sam2.1_hiera_b+.yaml",
    "large": "configs/sam2.1/sam2.1_hiera_l.yaml",
}
DEFAULT_IMAGE_SIZE = 1024
# Hiera pools to stride 32 and the FPN upsamples back to 16, so sizes must divide by 32.
IMAGE_SIZE_MULTIPLE = 32
BACKBONE_STRIDE = 16


class ModelLoadError(RuntimeError):
    """The model cannot start as configured; the message says which setting to change."""


@dataclass(frozen=True)
class ModelOptions:
    size: str = "tiny"
    image_size: int = DEFAULT_IMAGE_SIZE
    device: str = "auto"
    # auto | tensorrt | aot | compile | eager (roto_gpu.model.backends.selection)
    backend: str = "auto"
    allow_random_weights: bool = False
    random_seed: int = 0
    max_batch_size: int = 8
    warmup: bool = True
    # Built engines and AOT packages: a folder ("" : a temporary one) and an S3 location shared
    # by every instance ("" : none).
    engine_dir: str = ""
    engine_s3_bucket: str = ""
    engine_s3_prefix: str = ""
    aws_region: str = ""
    aws_endpoint_url: str = ""

    @classmethod
    def from_settings(cls, settings: Settings) -> ModelOptions:
        return cls(
            size=settings.model_size,
            image_size=settings.model_image_size or DEFAULT_IMAGE_SIZE,
            device=settings.model_device,
            backend=settings.model_backend,
            allow_random_weights=settings.model_allow_random_weights,
            random_seed=settings.model_random_seed,
            max_batch_size=settings.batch_max_size,
            engine_dir=str(settings.data_path / "engines"),
            engine_s3_bucket=settings.s3_bucket if settings.model_engine_s3_prefix else "",
            engine_s3_prefix=settings.model_engine_s3_prefix,
            aws_region=settings.aws_region,
            aws_endpoint_url=settings.aws_endpoint_url or "",
        )


def hydra_overrides(image_size: int) -> list[str]:
    """Config overrides for a non-default input size: the memory attention's RoPE tables are
    sized for the stride-16 feature map, so they follow the image size."""
    if image_size <= 0 or image_size % IMAGE_SIZE_MULTIPLE:
        raise ModelLoadError(
            f"ROTO_MODEL_IMAGE_SIZE must be a positive multiple of {IMAGE_SIZE_MULTIPLE}, "
            f"got {image_size}"
        )
    side = image_size // BACKBONE_STRIDE
    return [
        f"++model.image_size={image_size}",
        f"++model.memory_attention.layer.self_attention.feat_sizes=[{side},{side}]",
        f"++model.memory_attention.layer.cross_attention.feat_sizes=[{side},{side}]",
    ]
