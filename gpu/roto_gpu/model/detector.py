"""The concept detector: SAM 3's image model (``transformers``' ``Sam3Model`` and
``Sam3Processor``) behind a batched, synchronous API, run on the batcher's model thread beside
SAM2, on SAM2's device and in SAM2's precision. A text and/or exemplar boxes go in; every
instance scoring above the threshold comes out, best first, with its mask at the source
resolution."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, cast

import numpy as np
import structlog
import torch
import torch.nn.functional as F
from transformers import PreTrainedTokenizerBase, Sam3ImageProcessor, Sam3Model, Sam3Processor

from roto_gpu.model.checkpoints import Checkpoint, resolve_detector_checkpoint
from roto_gpu.model.detector_config import (
    REDUCED_IMAGE_SIZE,
    TEXT_TOKENS,
    full_config,
    local_tokenizer,
    reduced_config,
)
from roto_gpu.model.options import ModelLoadError

if TYPE_CHECKING:
    from roto.settings import Settings

log = structlog.get_logger(__name__)

Box = tuple[float, float, float, float]
#: The text SAM 3's processor gives a prompt of exemplar boxes alone.
EXEMPLAR_TEXT = "visual"
#: ``Sam3ImageProcessor.post_process_instance_segmentation``'s cut of a mask's probability.
MASK_THRESHOLD = 0.5


class DetectRequest(NamedTuple):
    """One frame (H x W x 3 uint8 RGB) and what to find on it: ``text`` and/or exemplar
    ``boxes`` ([x0, y0, x1, y1] source pixels)."""

    image: np.ndarray
    text: str | None
    boxes: tuple[Box, ...]
    threshold: float
    max_objects: int


class Instance(NamedTuple):
    mask: np.ndarray  # bool, the source frame's height x width; never empty
    score: float  # the detector's confidence, 0..1
    box: Box  # [x0, y0, x1, y1] in source pixels


class ConceptDetector:
    """Batched concept detection with SAM 3's own modules and pre- and post-processing."""

    def __init__(
        self,
        model: Sam3Model,
        processor: Sam3Processor,
        *,
        device: torch.device,
        dtype: torch.dtype,
        checkpoint: Checkpoint | None,
        seed: int = 0,
    ) -> None:
        self.device, self.dtype = device, dtype
        self.checkpoint = checkpoint
        self.seed = seed
        # transformers' typing of Module.to is its own; the model is used untyped here.
        self._model: Any = cast(Any, model).to(device).eval()
        self._processor = processor
        self._tokenizer: PreTrainedTokenizerBase = processor.tokenizer
        self.image_size = int(processor.image_processor.size["height"])
        self.queries = int(self._model.config.detr_decoder_config.num_queries)

    @property
    def model_id(self) -> str:
        weights = self.checkpoint.sha256[:16] if self.checkpoint else f"random{self.seed}"
        return f"sam3-{self.image_size}-{weights}"

    def info(self) -> dict[str, Any]:
        """What the daemon publishes beside SAM2's description (read by the API's /readyz)."""
        return {
            "model_id": self.model_id,
            "image_size": self.image_size,
            "queries": self.queries,
            "device": str(self.device),
            "dtype": str(self.dtype).removeprefix("torch."),
            "weights": "checkpoint" if self.checkpoint else "random",
            "checkpoint_sha256": self.checkpoint.sha256 if self.checkpoint else None,
        }

    def detect(self, requests: Sequence[DetectRequest]) -> list[list[Instance]]:
        """Each request's instances, best first. Requests share a forward pass when they have
        the same number of exemplar boxes: padding boxes would change the answer compared with
        a request run alone."""
        for request in requests:
            _check_request(request)
        groups: dict[int, list[int]] = {}
        for index, request in enumerate(requests):
            groups.setdefault(len(request.boxes), []).append(index)
        results: list[list[Instance]] = [[] for _ in requests]
        for indices in groups.values():
            chosen = [requests[i] for i in indices]
            for index, found in zip(indices, self._detect(chosen), strict=True):
                results[index] = found
        return results

    @torch.inference_mode()
    def _detect(self, requests: list[DetectRequest]) -> list[list[Instance]]:
        has_boxes = bool(requests[0].boxes)
        encoded = self._processor(
            images=[r.image for r in requests],
            input_boxes=[[list(b) for b in r.boxes] for r in requests] if has_boxes else None,
            return_tensors="pt",
        )
        # Tokenised here, not by the processor, so that a long text is cut to SAM 3's context.
        text = self._tokenizer(
            [r.text or EXEMPLAR_TEXT for r in requests],
            padding="max_length",
            max_length=TEXT_TOKENS,
            truncation=True,
            return_tensors="pt",
        )
        inputs = {
            "pixel_values": encoded["pixel_values"],
            "input_ids": text["input_ids"],
            "attention_mask": text["attention_mask"],
        }
        if has_boxes:
            inputs["input_boxes"] = encoded["input_boxes"]
            inputs["input_boxes_labels"] = encoded["input_boxes_labels"]
        with self._autocast():
            out = self._model(**{k: v.to(self.device) for k, v in inputs.items()})
        return [self._instances(out, i, r) for i, r in enumerate(requests)]

    def _instances(self, out: Any, i: int, request: DetectRequest) -> list[Instance]:
        """As ``post_process_instance_segmentation``: scores are the query's probability times
        the concept's presence, masks the sigmoid resized bilinearly to the source and cut at
        0.5; but only the best ``max_objects`` are resized, and an empty mask is no instance."""
        height, width = request.image.shape[:2]
        scores = out.pred_logits[i].float().sigmoid() * out.presence_logits[i].float().sigmoid()
        kept = torch.nonzero(scores > request.threshold).flatten()
        order = kept[torch.argsort(scores[kept], descending=True, stable=True)]
        scale = torch.tensor([width, height, width, height], device=scores.device)
        instances = []
        for query in order[: request.max_objects].tolist():
            probabilities = out.pred_masks[i, query].float().sigmoid()[None, None]
            resized = F.interpolate(
                probabilities, size=(height, width), mode="bilinear", align_corners=False
            )
            mask = (resized[0, 0] > MASK_THRESHOLD).cpu().numpy()
            if not mask.any():
                continue
            x0, y0, x1, y1 = (out.pred_boxes[i, query].float() * scale).tolist()
            instances.append(Instance(mask, float(scores[query]), (x0, y0, x1, y1)))
        return instances

    def warm_up(self) -> None:
        """One pass on a grey frame, with text and with an exemplar: the first call of each
        costs several times a later one (on CUDA, library setup)."""
        side = self.image_size
        image = np.full((side, side, 3), 128, dtype=np.uint8)
        box = (side / 4, side / 4, side / 2, side / 2)
        self.detect([DetectRequest(image, EXEMPLAR_TEXT, (), 1.0, 1)])
        self.detect([DetectRequest(image, None, (box,), 1.0, 1)])

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.device.type == "cuda":
            return torch.autocast("cuda", dtype=self.dtype)
        return contextlib.nullcontext()


def load_detector(
    settings: Settings, device: torch.device, dtype: torch.dtype
) -> ConceptDetector | None:
    """The detector of ``settings`` on ``device`` in ``dtype`` (SAM2's): from the pinned
    checkpoint, or with random weights where SAM2 may have them; None (text and exemplar
    prompts are refused) when neither is allowed."""
    checkpoint = resolve_detector_checkpoint(settings)
    if checkpoint is not None:
        detector = detector_from_checkpoint(checkpoint, device, dtype)
    elif settings.model_allow_random_weights:
        detector = random_detector(device, dtype, seed=settings.model_random_seed)
    else:
        log.warning(
            "detector_off",
            message="no ROTO_DETECTOR_CHECKPOINT: text and exemplar prompts fail until one is set",
        )
        return None
    detector.warm_up()
    return detector


def detector_from_checkpoint(
    checkpoint: Checkpoint, device: torch.device, dtype: torch.dtype
) -> ConceptDetector:
    """SAM 3's image model, processor and tokenizer from a verified local directory."""
    try:
        model = Sam3Model.from_pretrained(checkpoint.path, local_files_only=True)
        processor = Sam3Processor.from_pretrained(checkpoint.path, local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelLoadError(
            f"detector checkpoint {checkpoint.path} is not SAM 3's image model with its "
            f"processor and tokenizer (ROTO_DETECTOR_CHECKPOINT): {exc}"
        ) from exc
    detector = ConceptDetector(model, processor, device=device, dtype=dtype, checkpoint=checkpoint)
    log.info("detector_ready", **detector.info())
    return detector


def random_detector(device: torch.device, dtype: torch.dtype, *, seed: int = 0) -> ConceptDetector:
    """SAM 3 with random weights, seeded, reduced in size on a CPU, and the local tokenizer."""
    tokenizer = local_tokenizer()
    reduced = device.type == "cpu"
    config = reduced_config(tokenizer) if reduced else full_config(tokenizer)
    # A private RNG seeded the same everywhere, so two processes with random weights agree.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Sam3Model(config)
    size = REDUCED_IMAGE_SIZE if reduced else int(config.image_size)
    processor = Sam3Processor(
        image_processor=Sam3ImageProcessor(size={"height": size, "width": size}),
        tokenizer=tokenizer,
    )
    detector = ConceptDetector(
        model, processor, device=device, dtype=dtype, checkpoint=None, seed=seed
    )
    log.warning(
        "detector_random_weights",
        message="THE CONCEPT DETECTOR RUNS WITH RANDOM WEIGHTS AND A MADE-UP TOKENIZER: its "
        "instances mean nothing and text means nothing to it. Set ROTO_DETECTOR_CHECKPOINT "
        "for real ones.",
        reduced=reduced,
        **detector.info(),
    )
    return detector


def _check_request(request: DetectRequest) -> None:
    image = request.image
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3:
        raise ValueError("an image must be an H x W x 3 numpy uint8 array")
    if image.shape[2] != 3 or image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"an image must be H x W x 3 RGB, got shape {image.shape}")
    if request.text is None and not request.boxes:
        raise ValueError("a detection needs a text or exemplar boxes")
    if request.max_objects < 1:
        raise ValueError("max_objects must be at least 1")
