"""Video tracking with SAM2's own modules, as batched functions for the dynamic batcher's model
thread: ``seed`` turns keyframe prompts into conditioning outputs, ``step`` tracks every object of
one frame per video. A batch holds frames of several videos: their image-encoder pass is one, and
the memory attention is shared by the (object, video) pairs whose memories have the same length.

Each function computes everything first and changes the states last, so a batch the batcher
retries one request at a time has changed nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from sam2.utils.misc import fill_holes_in_mask_scores

from roto_gpu.tracking.memory import Memory, gather_memory
from roto_gpu.tracking.requests import (
    KeyframePrompt,
    ObjectMask,
    ObjectMasks,
    SeedRequest,
    StepRequest,
    point_inputs,
    require_image,
    score,
)
from roto_gpu.tracking.state import MemoryWindow, Output, VideoState

if TYPE_CHECKING:
    from roto_gpu.model.sam2_model import Sam2Model

MASK_THRESHOLD = 0.0


class _Features(NamedTuple):
    """One image's backbone features in SAM2's flattened (HW, 1, C) form."""

    vision: list[torch.Tensor]
    positions: list[torch.Tensor]
    sizes: list[tuple[int, int]]
    high_res: list[torch.Tensor]  # the two finer levels as (1, C, H, W), for the mask decoder


class VideoTracker:
    """The tracking half of SAM2's video predictor, over bounded states."""

    def __init__(self, model: Sam2Model) -> None:
        self._model = model
        self._sam: Any = model.video_predictor
        self.device = model.device
        if self._sam.non_overlap_masks_for_mem_enc:
            # It would mix objects and videos that share a memory-encoder pass here.
            raise ValueError("non_overlap_masks_for_mem_enc is not supported by batched tracking")

    def functions(self) -> dict[str, Any]:
        """The batcher kinds this tracker serves."""
        return {"track_seed": self.seed, "track_step": self.step}

    def new_state(
        self, num_frames: int, orig_hw: tuple[int, int], object_ids: Sequence[int]
    ) -> VideoState:
        window = MemoryWindow.of(self._sam, num_frames)
        return VideoState(num_frames, orig_hw, list(object_ids), window)

    @torch.inference_mode()
    def seed(self, requests: Sequence[SeedRequest]) -> list[ObjectMasks]:
        """Each keyframe's conditioning output per prompted object, as SAM2's
        ``add_new_points_or_box`` and ``propagate_in_video_preflight`` make it."""
        done: list[tuple[SeedRequest, int, Output, float]] = []
        results: list[ObjectMasks] = []
        with self._model.autocast():
            features = self._features([r.image for r in requests])
            for request, feats in zip(requests, features, strict=True):
                masks: ObjectMasks = {}
                for object_id, prompt in request.prompts.items():
                    output, score = self._seed_one(request, feats, prompt)
                    done.append((request, object_id, output, score))
                    masks[object_id] = ObjectMask(
                        self._to_source(output["pred_masks"], request.state.orig_hw)[0], score
                    )
                results.append(masks)
        for request, object_id, output, score in done:
            request.state.add_keyframe(object_id, request.frame_index, output, score)
        return results

    @torch.inference_mode()
    def step(self, requests: Sequence[StepRequest]) -> list[ObjectMasks]:
        """Every object's mask on each request's frame: keyframes from their seed, the rest
        tracked from memory."""
        pairs = [
            (i, object_id)
            for i, r in enumerate(requests)
            for object_id in r.state.object_ids
            if not r.state.is_keyframe(object_id, r.frame_index)
        ]
        needing = sorted({i for i, _ in pairs})
        tracked: dict[tuple[int, int], tuple[Output, torch.Tensor, float]] = {}
        with self._model.autocast():
            if pairs:
                images = [require_image(requests[i]) for i in needing]
                features = dict(zip(needing, self._features(images), strict=True))
                tracked = self._track(requests, features, pairs)
            results = [self._frame_masks(i, r, tracked) for i, r in enumerate(requests)]
        for (i, object_id), (output, _, _) in tracked.items():
            requests[i].state.add_tracked(object_id, requests[i].frame_index, output)
        return results

    def _features(self, images: Sequence[np.ndarray]) -> list[_Features]:
        if not images:
            return []
        out = self._model.backbone(images)
        features = []
        for i in range(len(images)):
            one = {key: [t[i : i + 1] for t in out[key]] for key in out}
            _, vision, positions, sizes = self._sam._prepare_backbone_features(one)
            high_res = [
                x.permute(1, 2, 0).view(x.size(1), x.size(2), *size)
                for x, size in zip(vision[:-1], sizes[:-1], strict=True)
            ]
            features.append(_Features(vision, positions, sizes, high_res))
        return features

    def _seed_one(
        self, request: SeedRequest, feats: _Features, prompt: KeyframePrompt
    ) -> tuple[Output, float]:
        sam = self._sam
        state = request.state
        empty: dict[str, dict[int, Output]] = {
            "cond_frame_outputs": {},
            "non_cond_frame_outputs": {},
        }
        _, outputs, _, _ = sam._track_step(
            request.frame_index,
            True,
            feats.vision,
            feats.positions,
            feats.sizes,
            point_inputs(prompt, state.orig_hw, sam.image_size, self.device),
            None,
            empty,
            state.num_frames,
            False,
            None,
        )
        _, _, ious, low_res, _, obj_ptr, object_score_logits = outputs
        pred_masks = self._fill_holes(low_res)
        # As propagate_in_video_preflight: a prompted frame's memory comes from its kept
        # low-resolution mask, binarised because it came from points.
        high_res = F.interpolate(
            pred_masks,
            size=(sam.image_size, sam.image_size),
            mode="bilinear",
            align_corners=False,
        )
        features, pos_enc = sam._encode_new_memory(
            current_vision_feats=feats.vision,
            feat_sizes=feats.sizes,
            pred_masks_high_res=high_res,
            object_score_logits=object_score_logits,
            is_mask_from_pts=True,
        )
        if state.maskmem_pos_enc is None:
            state.maskmem_pos_enc = [x[0:1].clone() for x in pos_enc]
        output = {
            "maskmem_features": features.to(torch.bfloat16),
            "pred_masks": pred_masks,
            "obj_ptr": obj_ptr,
            "object_score_logits": object_score_logits,
        }
        return output, score(ious, object_score_logits)[0]

    def _track(
        self,
        requests: Sequence[StepRequest],
        features: Mapping[int, _Features],
        pairs: list[tuple[int, int]],
    ) -> dict[tuple[int, int], tuple[Output, torch.Tensor, float]]:
        """Track each (request, object) pair: memory attention shared by pairs with the same
        memory length, then one mask-decoder and one memory-encoder pass for all of them."""
        sam = self._sam
        memories: dict[tuple[int, int], Memory] = {}
        for i, object_id in pairs:
            state = requests[i].state
            assert state.maskmem_pos_enc is not None, "tracking starts after the seeds"
            memories[(i, object_id)] = gather_memory(
                sam,
                state.objects[object_id],
                state.maskmem_pos_enc[-1],
                requests[i].frame_index,
                state.num_frames,
                requests[i].reverse,
                self.device,
            )
        conditioned = self._attend(features, pairs, memories)
        pix_feat = torch.cat([conditioned[pair] for pair in pairs])
        high_res = [torch.cat([features[i].high_res[k] for i, _ in pairs]) for k in range(2)]
        _, _, ious, low_res, high_res_masks, obj_ptr, object_scores = sam._forward_sam_heads(
            backbone_features=pix_feat,
            point_inputs=None,
            mask_inputs=None,
            high_res_features=high_res,
            multimask_output=sam._use_multimask(False, None),
        )
        top = torch.cat([features[i].vision[-1] for i, _ in pairs], dim=1)
        maskmem, _ = sam._encode_new_memory(
            current_vision_feats=[top],
            feat_sizes=[features[pairs[0][0]].sizes[-1]],
            pred_masks_high_res=high_res_masks,
            object_score_logits=object_scores,
            is_mask_from_pts=False,
        )
        pred_masks = self._fill_holes(low_res)
        scores = score(ious, object_scores)
        maskmem = maskmem.to(torch.bfloat16)
        return {
            pair: (
                {
                    # A copy, so a dropped entry frees its memory rather than pinning the batch.
                    "maskmem_features": maskmem[j : j + 1].clone(),
                    "obj_ptr": obj_ptr[j : j + 1],
                    "object_score_logits": object_scores[j : j + 1],
                },
                pred_masks[j : j + 1],
                scores[j],
            )
            for j, pair in enumerate(pairs)
        }

    def _attend(
        self,
        features: Mapping[int, _Features],
        pairs: list[tuple[int, int]],
        memories: Mapping[tuple[int, int], Memory],
    ) -> dict[tuple[int, int], torch.Tensor]:
        """Each pair's frame features conditioned on its memory, as (1, C, H, W)."""
        groups: dict[tuple[int, int], list[tuple[int, int]]] = {}
        for pair in pairs:
            groups.setdefault(memories[pair].shape_key, []).append(pair)
        conditioned: dict[tuple[int, int], torch.Tensor] = {}
        channels = self._sam.hidden_dim
        for (_, pointer_tokens), members in groups.items():
            height, width = features[members[0][0]].sizes[-1]
            attended = self._sam.memory_attention(
                curr=[torch.cat([features[i].vision[-1] for i, _ in members], dim=1)],
                curr_pos=[torch.cat([features[i].positions[-1] for i, _ in members], dim=1)],
                memory=torch.cat([memories[p].tokens for p in members], dim=1),
                memory_pos=torch.cat([memories[p].positions for p in members], dim=1),
                num_obj_ptr_tokens=pointer_tokens,
            )
            maps = attended.permute(1, 2, 0).view(len(members), channels, height, width)
            for j, pair in enumerate(members):
                conditioned[pair] = maps[j : j + 1]
        return conditioned

    def _frame_masks(
        self,
        index: int,
        request: StepRequest,
        tracked: Mapping[tuple[int, int], tuple[Output, torch.Tensor, float]],
    ) -> ObjectMasks:
        state = request.state
        logits: list[torch.Tensor] = []
        scores: list[float] = []
        for object_id in state.object_ids:
            if state.is_keyframe(object_id, request.frame_index):
                memory = state.objects[object_id]
                logits.append(memory.cond[request.frame_index]["pred_masks"])
                scores.append(memory.scores[request.frame_index])
            else:
                _, low_res, score = tracked[(index, object_id)]
                logits.append(low_res)
                scores.append(score)
        masks = self._to_source(torch.cat(logits), state.orig_hw)
        return {
            object_id: ObjectMask(mask, score)
            for object_id, mask, score in zip(state.object_ids, masks, scores, strict=True)
        }

    def _to_source(self, low_res: torch.Tensor, orig_hw: tuple[int, int]) -> list[np.ndarray]:
        """Boolean masks at the source resolution, as SAM2's _get_orig_video_res_output."""
        logits = low_res.to(self.device, non_blocking=True)
        if logits.shape[-2:] != orig_hw:
            logits = F.interpolate(logits, size=orig_hw, mode="bilinear", align_corners=False)
        if self._sam.non_overlap_masks:
            logits = self._sam._apply_non_overlapping_constraints(logits)
        masks = (logits[:, 0] > MASK_THRESHOLD).cpu().numpy()
        return list(masks)

    def _fill_holes(self, low_res: torch.Tensor) -> torch.Tensor:
        if self._sam.fill_hole_area <= 0:
            return low_res
        # Without SAM2's CUDA extension (on the CPU) this warns once and keeps the mask.
        filled: torch.Tensor = fill_holes_in_mask_scores(low_res, self._sam.fill_hole_area)
        return filled
