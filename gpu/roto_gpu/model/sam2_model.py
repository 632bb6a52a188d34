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
from sam2.utils.misc import fill_holes_in_mask_scores

from roto_gpu.model.backends import (
    BackendContext,
    BackendReport,
    apply_attention,
    device_precision,
    select_backend,
)
from roto_gpu.model.backends.cache import engine_cache
from roto_gpu.model.backends.transfer import to_device, to_host_many
from roto_gpu.model.building import build_video_predictor, pick_device
from roto_gpu.model.checkpoints import Checkpoint, resolve_checkpoint
from roto_gpu.model.device_cache import ResidentEmbeddings
from roto_gpu.model.driver import check_this_host
from roto_gpu.model.embedding import Embedding
from roto_gpu.model.options import (
    BACKBONE_STRIDE,
    CONFIGS,
    ModelLoadError,
    ModelOptions,
)
from roto_gpu.model.prompts import (
    KeyframeRequest,
    KeyframeResult,
    KeyframeState,
    check_request,
)
from roto_gpu.model.sam2_inputs import (
    PREV_LOGITS_CLAMP,
    Normalizer,
    as_sam2_lays_it_out,
    check_image,
    flat,
    matte_inputs,
    point_inputs,
)

if TYPE_CHECKING:
    from roto.settings import Settings

log = structlog.get_logger(__name__)

MASK_THRESHOLD = 0.0
# Device copies of this many recent embeddings are kept (8 MiB each at 1024 px, float16).
RESIDENT_EMBEDDINGS = 64

__all__ = ["KeyframeRequest", "KeyframeResult", "ModelLoadError", "ModelOptions", "Sam2Model"]


def load_model(settings: Settings) -> Sam2Model:
    """Check the NVIDIA driver, resolve and verify the checkpoint named by ``settings``, then
    build and warm the model."""
    driver = check_this_host(settings.model_device)
    model = Sam2Model(ModelOptions.from_settings(settings), resolve_checkpoint(settings))
    model.extra_info.update(driver.info())
    return model


class Sam2Model:
    """Batched image encoding and keyframe decoding with SAM2's own modules and transforms, as
    SAM2's video predictor runs them (one path for what the user sees and what the tracker
    conditions on)."""

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
        self.device = pick_device(options.device)
        # --- backends hook (roto_gpu.model.backends): precision and attention by hardware ---
        self.precision = device_precision(self.device)
        apply_attention(self.precision)
        self.dtype = self.precision.dtype
        self.extra_info: dict[str, Any] = {}
        # --- end of hook ---
        # CPU keeps float32 end to end; on CUDA the features come out of autocast in 16 bits.
        self._feature_dtype = torch.float32 if self.device.type == "cpu" else torch.float16
        # SAM2VideoPredictor, so the same weights can serve video propagation.
        self._sam: Any = build_video_predictor(options, checkpoint, self.device)
        self._normalize = Normalizer(options.image_size, self.device)
        side = self.image_size // BACKBONE_STRIDE
        dim = self._sam.hidden_dim
        self.embedding_shapes: tuple[tuple[int, ...], ...] = (
            (dim, side, side),
            (dim // 8, side * 4, side * 4),
            (dim // 4, side * 2, side * 2),
        )
        # The top level's positional encoding depends only on the feature map's size: read once.
        self.top_position = self._top_position()
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

    def device_usage(self) -> tuple[int, float | None] | None:
        """The GPU's reserved memory (bytes) and utilisation (percent, None without NVML);
        None on a CPU."""
        if self.device.type != "cuda":
            return None
        reserved = torch.cuda.memory_reserved(self.device)
        try:
            utilization: float | None = float(torch.cuda.utilization(self.device))
        except Exception:  # NVML missing or refused: memory alone still reports
            utilization = None
        return reserved, utilization

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The SAM2 weights, as a checkpoint's ``{"model": ...}`` holds them."""
        return {name: t.detach().cpu() for name, t in self._sam.state_dict().items()}

    def encode_images(self, images: Sequence[np.ndarray]) -> list[Embedding]:
        """One image-encoder pass per ``max_batch_size`` images (H x W x 3 uint8 RGB)."""
        for image in images:
            check_image(image)
        step = self.options.max_batch_size
        embeddings: list[Embedding] = []
        for start in range(0, len(images), step):
            embeddings.extend(self._encode(images[start : start + step]))
        return embeddings

    def decode_keyframes(self, requests: Sequence[KeyframeRequest]) -> list[KeyframeResult]:
        """Each request's keyframe state and its mask at the source resolution; requests of one
        kind (``KeyframeRequest.pass_kind``) share a decoder pass."""
        for request in requests:
            check_request(request, embedding_shapes=self.embedding_shapes)
        groups: dict[tuple[Any, ...], list[int]] = {}
        for index, r in enumerate(requests):
            groups.setdefault(r.pass_kind, []).append(index)
        results: list[KeyframeResult | None] = [None] * len(requests)
        for key, indices in groups.items():
            chosen = [requests[i] for i in indices]
            decoded = self._decode_mattes(chosen) if key[0] == "matte" else self._decode(chosen)
            for index, result in zip(indices, decoded, strict=True):
                results[index] = result
        return [r for r in results if r is not None]

    def render_masks(
        self, items: Sequence[tuple[KeyframeState, tuple[int, int]]]
    ) -> list[np.ndarray]:
        """The masks of stored keyframe states at their source resolution, exactly as
        ``decode_keyframes`` rendered them (undo shows the mask the frame had)."""
        masks = []
        for state, orig_hw in items:
            logits = torch.from_numpy(state.pred_masks).to(self.device)[None, None]
            masks.extend(self.to_source(logits, orig_hw))
        return masks

    @torch.inference_mode()
    def to_source(self, low_res: torch.Tensor, orig_hw: tuple[int, int]) -> list[np.ndarray]:
        """Boolean masks (B, 1, L, L logits in) at the source resolution, as SAM2's
        ``_get_orig_video_res_output``: the one rendering of every mask a user sees."""
        logits = low_res.to(self.device, non_blocking=True).float()
        if logits.shape[-2:] != orig_hw:
            logits = F.interpolate(logits, size=orig_hw, mode="bilinear", align_corners=False)
        if self._sam.non_overlap_masks:
            logits = self._sam._apply_non_overlapping_constraints(logits)
        return list((logits[:, 0] > MASK_THRESHOLD).cpu().numpy())

    def fill_holes(self, low_res: torch.Tensor) -> torch.Tensor:
        """SAM2's hole filling of low-resolution logits (``fill_hole_area``), as its video
        predictor applies it to every stored mask."""
        if self._sam.fill_hole_area <= 0:
            return low_res
        # Without SAM2's CUDA extension (on the CPU) this warns once and keeps the mask.
        filled: torch.Tensor = fill_holes_in_mask_scores(low_res, self._sam.fill_hole_area)
        return filled

    def device_features(self, embedding: Embedding) -> tuple[torch.Tensor, ...]:
        """(top (1, C, E, E), high-res 0, high-res 1) of an embedding on the device, in the
        dtype the decoder and memory run in."""
        dtype = self._compute_dtype()
        return tuple(t.unsqueeze(0).to(dtype) for t in self._on_device(embedding))

    @torch.inference_mode()
    def backbone(self, images: Sequence[np.ndarray]) -> dict[str, list[torch.Tensor]]:
        """SAM2's backbone output for images (H x W x 3 uint8 RGB) as video tracking reads it:
        on the device, without the no-memory embedding, one row per image."""
        for image in images:
            check_image(image)
        batch = self._batch(images)
        with self._autocast():
            out = self._sam.forward_image(batch)
        count = len(images)
        return {key: [t[:count] for t in out[key]] for key in ("backbone_fpn", "vision_pos_enc")}

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """The autocast context of the model's passes (none on the CPU), for video tracking."""
        return self._autocast()

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
            self.decode_keyframes(
                [KeyframeRequest(e, points=center, labels=np.array([1])) for e in embeddings]
            )
        self._resident.clear()

    @torch.inference_mode()
    def _top_position(self) -> torch.Tensor:
        """The positional encoding of the lowest-resolution features, (E*E, 1, C)."""
        side = self.image_size
        dummy = torch.zeros((1, 3, side, side), device=self.device)
        with self._autocast():
            out = self._sam.forward_image(dummy)
            _, _, positions, _ = self._sam._prepare_backbone_features(out)
        top: torch.Tensor = positions[-1].clone()
        return top

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.device.type == "cuda":
            return torch.autocast("cuda", dtype=self.dtype)
        return contextlib.nullcontext()

    @torch.inference_mode()
    def _encode(self, images: Sequence[np.ndarray]) -> list[Embedding]:
        batch = self._batch(images)
        with self._autocast():
            backbone_out = self._sam.forward_image(batch)
            _, feats, _, sizes = self._sam._prepare_backbone_features(backbone_out)
        maps = [
            f.permute(1, 2, 0).reshape(f.shape[1], f.shape[2], h, w).to(self._feature_dtype)
            for f, (h, w) in zip(feats, sizes, strict=True)
        ]
        on_device = [
            (maps[2][i].clone(), maps[0][i].clone(), maps[1][i].clone()) for i in range(len(images))
        ]
        # Every image's three maps leave the device together: one wait, through pinned memory.
        host = to_host_many([t for tensors in on_device for t in tensors])
        embeddings = []
        for i, image in enumerate(images):
            embedding = Embedding(
                image_embed=host[3 * i],
                high_res_feats=(host[3 * i + 1], host[3 * i + 2]),
                orig_hw=(int(image.shape[0]), int(image.shape[1])),
            )
            self._resident.put(embedding, on_device[i])
            embeddings.append(embedding)
        return embeddings

    def _batch(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        """The images preprocessed and stacked, zero-padded to a compiled batch size."""
        batch = torch.stack([self._preprocess(image) for image in images])
        padding = self._padded_size(len(images)) - len(images)
        if padding:
            batch = torch.cat([batch, batch.new_zeros((padding, *batch.shape[1:]))])
        return batch

    def _preprocess(self, image: np.ndarray) -> torch.Tensor:
        # SAM2Transforms' steps (ToTensor, Resize, Normalize), but on the device so a large
        # frame crosses the bus as uint8, and without TorchScript (deprecated, and its first
        # calls spent about 80 ms profiling on an H200).
        return self._normalize(to_device(image, self.device))

    @torch.inference_mode()
    def _decode(self, requests: list[KeyframeRequest]) -> list[KeyframeResult]:
        """Points (and a previous mask) on features with or without memory, as SAM2's
        ``_track_step`` decodes a prompt: ``_forward_sam_heads`` with its multimask rule."""
        sam = self._sam
        image_embed, high_res = self._stack_embeddings([r.embedding for r in requests])
        dtype = image_embed.dtype
        if requests[0].context is None:
            # A frame never tracked: SAM2 adds the no-memory embedding (``directly_add_no_mem``).
            pix_feat = as_sam2_lays_it_out(flat(image_embed) + sam.no_mem_embed.to(dtype))
        else:
            contexts = torch.stack(
                [torch.from_numpy(r.context) for r in requests if r.context is not None]
            ).to(self.device, dtype)
            pix_feat = as_sam2_lays_it_out(flat(contexts))
        points = point_inputs(requests, self.image_size, self.device)
        mask_inputs = None
        if requests[0].prev_logits is not None:
            previous = np.stack([r.prev_logits for r in requests if r.prev_logits is not None])
            mask_inputs = torch.from_numpy(previous)[:, None].to(self.device, torch.float32)
            if requests[0].prev_is_raw:
                mask_inputs = self.fill_holes(mask_inputs)
            mask_inputs = torch.clamp(mask_inputs, -PREV_LOGITS_CLAMP, PREV_LOGITS_CLAMP)
        multimask = sam._use_multimask(requests[0].context is None, points)
        with self._autocast():
            outputs = sam._forward_sam_heads(
                backbone_features=pix_feat,
                point_inputs=points,
                mask_inputs=mask_inputs,
                high_res_features=high_res,
                multimask_output=multimask,
            )
        _, _, ious, low_res, _, obj_ptr, object_score_logits = outputs
        return self._results(requests, low_res, obj_ptr, object_score_logits, ious)

    @torch.inference_mode()
    def _decode_mattes(self, requests: list[KeyframeRequest]) -> list[KeyframeResult]:
        """Imported mattes, as SAM2's ``add_new_mask``: resized to the model's square and turned
        into the output without the decoder (``_use_mask_as_output``), which still gives the
        object pointer from the raw features."""
        sam = self._sam
        image_embed, high_res = self._stack_embeddings([r.embedding for r in requests])
        mattes = matte_inputs(requests, self.image_size, self.device)
        with self._autocast():
            # The raw features (no memory, no no-memory embedding), laid out as SAM2 has them.
            pix_feat = as_sam2_lays_it_out(flat(image_embed))
            outputs = sam._use_mask_as_output(pix_feat, high_res, mattes)
        _, _, ious, low_res, _, obj_ptr, object_score_logits = outputs
        return self._results(requests, low_res, obj_ptr, object_score_logits, ious)

    def _results(
        self,
        requests: list[KeyframeRequest],
        low_res: torch.Tensor,
        obj_ptr: torch.Tensor,
        object_score_logits: torch.Tensor,
        ious: torch.Tensor,
    ) -> list[KeyframeResult]:
        pred_masks = self.fill_holes(low_res).float()
        best = ious.float().max(dim=-1).values.clamp(0.0, 1.0)
        present = torch.sigmoid(object_score_logits.float()).reshape(-1)
        scores = (best * present).cpu().tolist()
        results = []
        for i, request in enumerate(requests):
            state = KeyframeState(
                pred_masks=pred_masks[i, 0].cpu().numpy(),
                obj_ptr=obj_ptr[i].float().cpu().numpy(),
                object_score_logits=float(object_score_logits[i].float().reshape(-1)[0]),
                score=float(scores[i]),
            )
            (mask,) = self.to_source(pred_masks[i : i + 1], request.embedding.orig_hw)
            results.append(KeyframeResult(state, mask))
        return results

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
            tensors = tuple(to_device(a, self.device) for a in embedding.arrays)
            self._resident.put(embedding, tensors)
        return tensors

    def _compute_dtype(self) -> torch.dtype:
        return torch.float32 if self.device.type == "cpu" else self.dtype
