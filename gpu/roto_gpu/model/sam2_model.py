"""SAM2.1 behind a batched, synchronous API. The only module that knows about devices, dtypes,
autocast and compilation; its methods are called from the batcher's one model thread."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import structlog
import torch
import torch.nn.functional as F
from sam2.build_sam import build_sam2_video_predictor
from torchvision.transforms import functional as TF

from roto_gpu.model.backends import (
    BackendContext,
    BackendReport,
    apply_attention,
    device_precision,
    select_backend,
)
from roto_gpu.model.backends.cache import engine_cache
from roto_gpu.model.checkpoints import Checkpoint, resolve_checkpoint
from roto_gpu.model.device_cache import ResidentEmbeddings
from roto_gpu.model.driver import check_this_host
from roto_gpu.model.embedding import Embedding
from roto_gpu.model.options import (
    BACKBONE_STRIDE,
    CONFIGS,
    ModelLoadError,
    ModelOptions,
    hydra_overrides,
)
from roto_gpu.model.prompts import MaskPrediction, MaskRequest, Prompt, prepare_prompt

if TYPE_CHECKING:
    from roto.settings import Settings

log = structlog.get_logger(__name__)

MASK_THRESHOLD = 0.0
# SAM2Transforms' normalisation (ImageNet statistics).
IMAGE_MEAN = (0.485, 0.456, 0.406)
IMAGE_STD = (0.229, 0.224, 0.225)
# Device copies of this many recent embeddings are kept (8 MiB each at 1024 px, float16).
RESIDENT_EMBEDDINGS = 64

__all__ = ["MaskPrediction", "MaskRequest", "ModelLoadError", "ModelOptions", "Sam2Model"]


def load_model(settings: Settings) -> Sam2Model:
    """Check the NVIDIA driver, resolve and verify the checkpoint named by ``settings``, then
    build and warm the model."""
    driver = check_this_host(settings.model_device)
    model = Sam2Model(ModelOptions.from_settings(settings), resolve_checkpoint(settings))
    model.extra_info.update(driver.info())
    return model


class Sam2Model:
    """Batched image encoding and mask decoding with SAM2's own modules and transforms."""

    def __init__(self, options: ModelOptions, checkpoint: Checkpoint | None) -> None:
        if options.size not in CONFIGS:
            raise ModelLoadError(
                f"ROTO_MODEL_SIZE must be one of {', '.join(CONFIGS)}, got {options.size!r}"
            )
        if checkpoint is None and not options.allow_random_weights:
            raise ModelLoadError(
                "no model weights: set ROTO_MODEL_CHECKPOINT and ROTO_MODEL_CHECKPOINT_SHA256, "
                "or ROTO_MODEL_ALLOW_RANDOM_WEIGHTS=true for development"
            )
        self.options = options
        self.checkpoint = checkpoint
        self.image_size = options.image_size
        self.device = _pick_device(options.device)
        # --- backends hook (roto_gpu.model.backends): precision and attention by hardware ---
        self.precision = device_precision(self.device)
        apply_attention(self.precision)
        self.dtype = self.precision.dtype
        self.extra_info: dict[str, Any] = {}
        # --- end of hook ---
        # CPU keeps float32 end to end; on CUDA the features come out of autocast in 16 bits.
        self._feature_dtype = torch.float32 if self.device.type == "cpu" else torch.float16
        # SAM2VideoPredictor, so the same weights can serve video propagation.
        self._sam: Any = self._build(hydra_overrides(options.image_size))
        self._mean = torch.tensor(IMAGE_MEAN, device=self.device).view(3, 1, 1)
        self._std = torch.tensor(IMAGE_STD, device=self.device).view(3, 1, 1)
        side = self.image_size // BACKBONE_STRIDE
        dim = self._sam.hidden_dim
        self.embedding_shapes: tuple[tuple[int, ...], ...] = (
            (dim, side, side),
            (dim // 8, side * 4, side * 4),
            (dim // 4, side * 2, side * 2),
        )
        # --- backends hook: TensorRT > AOTInductor > torch.compile > eager, in place of
        # sam.image_encoder.forward and sam.sam_mask_decoder.predict_masks ---
        self.backend: BackendReport = select_backend(options.backend, self._backend_context())
        self.compiler = None if self.backend.backend == "eager" else self.backend.backend
        # --- end of hook ---
        # Measured on an H200: decoding 8 clicks on 8 frames took 40-60 ms when their
        # embeddings crossed from the host, about 7 ms when they were already there. On the
        # CPU the arrays already are the tensors.
        self._resident = ResidentEmbeddings(
            RESIDENT_EMBEDDINGS if self.device.type == "cuda" else 0
        )
        if checkpoint is None:
            log.warning(
                "model_random_weights",
                message="SAM2 RUNS WITH RANDOM WEIGHTS: its masks mean nothing. Set "
                "ROTO_MODEL_CHECKPOINT for real ones.",
                seed=options.random_seed,
            )
        if options.warmup:
            self.warm_up()
        log.info("model_ready", **self.info())

    @property
    def model_id(self) -> str:
        """Names these weights at this input size, e.g. for embedding cache keys."""
        weights = (
            self.checkpoint.sha256[:16] if self.checkpoint else f"random{self.options.random_seed}"
        )
        return f"sam2.1-{self.options.size}-{self.image_size}-{weights}"

    @property
    def video_predictor(self) -> Any:
        """The SAM2VideoPredictor behind this wrapper, for propagation with the same weights."""
        return self._sam

    @property
    def low_res_size(self) -> int:
        """Side of the low-resolution mask logits that ``mask_input`` takes."""
        return self.image_size // 4

    def info(self) -> dict[str, Any]:
        """What the daemon publishes to ``roto:model:info`` (read by the API's /readyz)."""
        return {
            "model_id": self.model_id,
            "size": self.options.size,
            "config": CONFIGS[self.options.size],
            "image_size": self.image_size,
            "device": str(self.device),
            "dtype": str(self.dtype).removeprefix("torch."),
            "weights": "checkpoint" if self.checkpoint else "random",
            "checkpoint_sha256": self.checkpoint.sha256 if self.checkpoint else None,
            "compiled": self.compiler is not None,
            "compiler": self.compiler,
            **self.precision.info(),  # dtype, attention kernels, compute capability
            **self.backend.info(),  # backend, its fallbacks and why
            **self.extra_info,
        }

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The SAM2 weights, as a checkpoint's ``{"model": ...}`` holds them."""
        return {name: t.detach().cpu() for name, t in self._sam.state_dict().items()}

    def encode_images(self, images: Sequence[np.ndarray]) -> list[Embedding]:
        """One image-encoder pass per ``max_batch_size`` images (H x W x 3 uint8 RGB)."""
        for image in images:
            _check_image(image)
        step = self.options.max_batch_size
        embeddings: list[Embedding] = []
        for start in range(0, len(images), step):
            embeddings.extend(self._encode(images[start : start + step]))
        return embeddings

    def predict_masks(self, requests: Sequence[tuple[Any, ...]]) -> list[MaskPrediction]:
        """One prompt-encoder and mask-decoder pass per group of requests with the same number
        of prompt points; masks come back at each image's original resolution."""
        prompts = [
            prepare_prompt(r, image_size=self.image_size, embedding_shapes=self.embedding_shapes)
            for r in requests
        ]
        # Requests with different point counts cannot share a pass without padding points,
        # and padding would change the answer compared with a request decoded alone.
        groups: dict[tuple[int, bool], list[int]] = {}
        for index, prompt in enumerate(prompts):
            key = (len(prompt.labels), prompt.mask_input is not None)
            groups.setdefault(key, []).append(index)
        results: list[MaskPrediction | None] = [None] * len(prompts)
        for indices in groups.values():
            decoded = self._decode([prompts[i] for i in indices])
            for index, prediction in zip(indices, decoded, strict=True):
                results[index] = prediction
        return [r for r in results if r is not None]

    @torch.inference_mode()
    def backbone(self, images: Sequence[np.ndarray]) -> dict[str, list[torch.Tensor]]:
        """SAM2's backbone output for images (H x W x 3 uint8 RGB) as video tracking reads it:
        on the device, without the no-memory embedding, one row per image."""
        for image in images:
            _check_image(image)
        batch = torch.stack([self._preprocess(image) for image in images])
        padding = self._padded_size(len(images)) - len(images)
        if padding:
            batch = torch.cat([batch, batch.new_zeros((padding, *batch.shape[1:]))])
        with self._autocast():
            out = self._sam.forward_image(batch)
        count = len(images)
        return {key: [t[:count] for t in out[key]] for key in ("backbone_fpn", "vision_pos_enc")}

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """The autocast context of the model's passes (none on the CPU), for video tracking."""
        return self._autocast()

    def _build(self, overrides: list[str]) -> Any:
        config = CONFIGS[self.options.size]
        # A private RNG seeded the same everywhere, so two processes with random weights agree.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.options.random_seed)
            sam = build_sam2_video_predictor(
                config, ckpt_path=None, device="cpu", hydra_overrides_extra=overrides
            )
        if self.checkpoint is not None:
            _load_weights(sam, self.checkpoint)
        return sam.to(self.device).eval()

    def _backend_context(self) -> BackendContext:
        options = self.options
        cache = engine_cache(
            options.engine_dir,
            bucket=options.engine_s3_bucket,
            prefix=options.engine_s3_prefix,
            region=options.aws_region,
            endpoint_url=options.aws_endpoint_url,
        )
        return BackendContext(
            sam=self._sam,
            device=self.device,
            precision=self.precision,
            image_size=self.image_size,
            max_batch_size=options.max_batch_size,
            identity={"model_id": self.model_id, "config": CONFIGS[options.size]},
            cache=cache,
        )

    def _batch_sizes(self) -> list[int]:
        sizes = [1]
        while sizes[-1] * 2 < self.options.max_batch_size:
            sizes.append(sizes[-1] * 2)
        return sorted({*sizes, self.options.max_batch_size})

    def _padded_size(self, count: int) -> int:
        if self.compiler is None:
            return count
        return next(size for size in self._batch_sizes() if size >= count)

    def warm_up(self) -> None:
        """Run the batch shapes once: compilation happens here, and on CUDA the first call of
        each batch size costs a few hundred milliseconds of library setup."""
        if self.compiler is not None:
            sizes = self._batch_sizes()
        elif self.device.type == "cuda":
            sizes = list(range(1, self.options.max_batch_size + 1))
        else:
            sizes = [1]
        image = np.full((self.image_size, self.image_size, 3), 128, dtype=np.uint8)
        center = np.array([[self.image_size / 2, self.image_size / 2]])
        for size in sizes:
            embeddings = self.encode_images([image] * size)
            self.predict_masks([MaskRequest(e, center, np.array([1])) for e in embeddings])
        self._resident.clear()

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.device.type == "cuda":
            return torch.autocast("cuda", dtype=self.dtype)
        return contextlib.nullcontext()

    @torch.inference_mode()
    def _encode(self, images: Sequence[np.ndarray]) -> list[Embedding]:
        batch = torch.stack([self._preprocess(image) for image in images])
        padding = self._padded_size(len(images)) - len(images)
        if padding:
            batch = torch.cat([batch, batch.new_zeros((padding, *batch.shape[1:]))])
        with self._autocast():
            backbone_out = self._sam.forward_image(batch)
            _, feats, _, sizes = self._sam._prepare_backbone_features(backbone_out)
            # As SAM2ImagePredictor: the no-memory embedding marks a frame seen without memory.
            if self._sam.directly_add_no_mem_embed:
                feats[-1] = feats[-1] + self._sam.no_mem_embed
        maps = [
            f.permute(1, 2, 0).reshape(f.shape[1], f.shape[2], h, w).to(self._feature_dtype)
            for f, (h, w) in zip(feats, sizes, strict=True)
        ]
        embeddings = []
        for i, image in enumerate(images):
            on_device = (maps[2][i].clone(), maps[0][i].clone(), maps[1][i].clone())
            embedding = Embedding(
                image_embed=on_device[0].cpu().numpy(),
                high_res_feats=(on_device[1].cpu().numpy(), on_device[2].cpu().numpy()),
                orig_hw=(int(image.shape[0]), int(image.shape[1])),
            )
            self._resident.put(embedding, on_device)
            embeddings.append(embedding)
        return embeddings

    def _preprocess(self, image: np.ndarray) -> torch.Tensor:
        # SAM2Transforms' steps (ToTensor, Resize, Normalize), but on the device so a large
        # frame crosses the bus as uint8, and without TorchScript (deprecated, and its first
        # calls spent about 80 ms profiling on an H200).
        pixels = torch.from_numpy(np.ascontiguousarray(image)).to(self.device)
        tensor = pixels.permute(2, 0, 1).float().div(255.0)
        resized = TF.resize(tensor, [self.image_size, self.image_size])
        return (resized - self._mean) / self._std

    @torch.inference_mode()
    def _decode(self, prompts: list[Prompt]) -> list[MaskPrediction]:
        image_embed, high_res = self._stack_embeddings([p.embedding for p in prompts])
        n_points = len(prompts[0].labels)
        points = None
        if n_points:
            coords = torch.from_numpy(np.stack([p.coords for p in prompts])).to(self.device)
            labels = torch.from_numpy(np.stack([p.labels for p in prompts])).to(self.device)
            points = (coords, labels)
        masks = None
        if prompts[0].mask_input is not None:
            stacked = np.stack([p.mask_input for p in prompts if p.mask_input is not None])
            masks = torch.from_numpy(stacked).to(self.device)
        sam = self._sam
        # SAM2's rule: several candidate masks for an ambiguous prompt (one click), else one.
        multimask = bool(
            sam.multimask_output_in_sam
            and sam.multimask_min_pt_num <= n_points <= sam.multimask_max_pt_num
        )
        with self._autocast():
            sparse, dense = sam.sam_prompt_encoder(points=points, boxes=None, masks=masks)
            low_res, iou, _, _ = sam.sam_mask_decoder(
                image_embeddings=image_embed,
                image_pe=sam.sam_prompt_encoder.get_dense_pe(),
                sparse_prompt_embeddings=sparse,
                dense_prompt_embeddings=dense,
                multimask_output=multimask,
                repeat_image=False,
                high_res_features=high_res,
            )
        rows = torch.arange(len(prompts), device=self.device)
        best = iou.float().argmax(dim=1)
        chosen = low_res.float()[rows, best]
        scores = iou.float()[rows, best].clamp(0.0, 1.0).cpu().tolist()
        predictions = []
        for i, prompt in enumerate(prompts):
            logits = F.interpolate(
                chosen[i][None, None],
                prompt.embedding.orig_hw,
                mode="bilinear",
                align_corners=False,
            )
            mask = (logits[0, 0] > MASK_THRESHOLD).cpu().numpy()
            predictions.append(MaskPrediction(mask=mask, score=float(scores[i])))
        return predictions

    def _stack_embeddings(
        self, embeddings: list[Embedding]
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Device tensors for a batch; an embedding shared by several requests (several objects
        on one frame) crosses to the device once, a resident one not at all."""
        slots: dict[int, int] = {}
        unique: list[tuple[torch.Tensor, ...]] = []
        for embedding in embeddings:
            if id(embedding) not in slots:
                slots[id(embedding)] = len(unique)
                unique.append(self._on_device(embedding))
        index = torch.tensor([slots[id(e)] for e in embeddings], device=self.device)
        dtype = self._compute_dtype()
        image_embed, feat_s0, feat_s1 = (
            torch.stack([tensors[pick] for tensors in unique]).index_select(0, index).to(dtype)
            for pick in range(3)
        )
        return image_embed, [feat_s0, feat_s1]

    def _on_device(self, embedding: Embedding) -> tuple[torch.Tensor, ...]:
        tensors = self._resident.get(embedding)
        if tensors is None:
            tensors = tuple(torch.from_numpy(a).to(self.device) for a in embedding.arrays)
            self._resident.put(embedding, tensors)
        return tensors

    def _compute_dtype(self) -> torch.dtype:
        return torch.float32 if self.device.type == "cpu" else self.dtype


def _pick_device(name: str) -> torch.device:
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


def _load_weights(sam: torch.nn.Module, checkpoint: Checkpoint) -> None:
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


def _check_image(image: object) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise ValueError("an image must be a numpy uint8 array")
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"an image must be H x W x 3 RGB, got shape {image.shape}")
