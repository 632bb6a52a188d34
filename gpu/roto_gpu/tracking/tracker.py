"""Video tracking with SAM2's own modules, as batched functions for the dynamic batcher's model
thread: ``seed`` turns keyframe states into conditioning outputs, ``step`` tracks every object of
one frame per video, ``context`` rebuilds the memory a tracked frame was tracked with (for a
correction there). A batch holds frames of several videos: their image-encoder pass is one, and
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

from roto_gpu.model.prompts import KeyframeState
from roto_gpu.tracking.memory import Memory, gather_memory
from roto_gpu.tracking.requests import (
    ContextRequest,
    ObjectMask,
    ObjectMasks,
    SeedRequest,
    StepRequest,
    TrackRecord,
    require_image,
    score,
)
from roto_gpu.tracking.state import MemoryWindow, ObjectMemory, Output, VideoState

if TYPE_CHECKING:
    from roto_gpu.model.sam2_model import Sam2Model


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

    @property
    def model(self) -> Sam2Model:
        return self._model

    def functions(self) -> dict[str, Any]:
        """The batcher kinds this tracker serves."""
        return {"track_seed": self.seed, "track_step": self.step, "track_context": self.context}

    def new_state(
        self, num_frames: int, orig_hw: tuple[int, int], object_ids: Sequence[int]
    ) -> VideoState:
        window = MemoryWindow.of(self._sam, num_frames)
        return VideoState(num_frames, orig_hw, list(object_ids), window)

    @torch.inference_mode()
    def seed(self, requests: Sequence[SeedRequest]) -> list[ObjectMasks]:
        """Each keyframe's conditioning output per object, from its stored state as SAM2's
        ``propagate_in_video_preflight`` makes it (the memory of an interacted frame)."""
        done: list[tuple[SeedRequest, int, Output, float]] = []
        results: list[ObjectMasks] = []
        with self._model.autocast():
            features = self._features([r.image for r in requests])
            for request, feats in zip(requests, features, strict=True):
                masks: ObjectMasks = {}
                for object_id, keyframe in request.keyframes.items():
                    output = self._seed_one(request, feats, keyframe)
                    done.append((request, object_id, output, keyframe.score))
                    (mask,) = self._model.to_source(output["pred_masks"], request.state.orig_hw)
                    masks[object_id] = ObjectMask(mask, keyframe.score)
                results.append(masks)
        for request, object_id, output, keyframe_score in done:
            request.state.add_keyframe(object_id, request.frame_index, output, keyframe_score)
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
        tracked: dict[tuple[int, int], tuple[Output, torch.Tensor, float, TrackRecord]] = {}
        with self._model.autocast():
            if pairs:
                images = [require_image(requests[i]) for i in needing]
                features = dict(zip(needing, self._features(images), strict=True))
                tracked = self._track(requests, features, pairs)
            results = [self._frame_masks(i, r, tracked) for i, r in enumerate(requests)]
        for (i, object_id), (output, *_) in tracked.items():
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

    def _seed_one(self, request: SeedRequest, feats: _Features, keyframe: KeyframeState) -> Output:
        state = request.state
        pred_masks = torch.from_numpy(keyframe.pred_masks)[None, None].to(self.device)
        object_score_logits = torch.tensor([[keyframe.object_score_logits]], device=self.device)
        features, pos_enc = self._encode_memory(
            feats.vision[-1], feats.sizes[-1], pred_masks, object_score_logits, from_points=True
        )
        if state.maskmem_pos_enc is None:
            state.maskmem_pos_enc = [x[0:1].clone() for x in pos_enc]
        return {
            "maskmem_features": features.to(torch.bfloat16),
            "pred_masks": pred_masks,
            "obj_ptr": torch.from_numpy(keyframe.obj_ptr)[None].to(self.device),
            "object_score_logits": object_score_logits,
        }

    def _encode_memory(
        self,
        top: torch.Tensor,
        size: tuple[int, int],
        logits: torch.Tensor,
        object_score_logits: torch.Tensor,
        *,
        from_points: bool,
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """SAM2's memory of one frame from its top features (HW, B, C) and low-resolution mask
        logits: upsampled to the model's square as its preflight and tracking steps do (an
        interacted frame's mask binarised: ``from_points``)."""
        sam = self._sam
        high_res = F.interpolate(
            logits.float(),
            size=(sam.image_size, sam.image_size),
            mode="bilinear",
            align_corners=False,
        )
        features: torch.Tensor
        features, pos_enc = sam._encode_new_memory(
            current_vision_feats=[top],
            feat_sizes=[size],
            pred_masks_high_res=high_res,
            object_score_logits=object_score_logits,
            is_mask_from_pts=from_points,
        )
        return features, pos_enc

    @torch.inference_mode()
    def context(self, requests: Sequence[ContextRequest]) -> list[np.ndarray]:
        """Each frame's memory-conditioned features (C, E, E), from the memory bank its run had:
        the keyframes' memories, and the memories and object pointers of the frames tracked
        before it (SAM2's ``_prepare_memory_conditioned_features`` on a non-initial frame)."""
        return [self._context_one(request) for request in requests]

    def _context_one(self, request: ContextRequest) -> np.ndarray:
        sam = self._sam
        model = self._model
        side = sam.image_size // 16
        memory = ObjectMemory()
        pos_enc: list[torch.Tensor] | None = None
        with model.autocast():
            for frame, (embedding, keyframe) in request.keyframes.items():
                top = self._top(embedding)
                logits = torch.from_numpy(keyframe.pred_masks)[None, None].to(self.device)
                logit = torch.tensor([[keyframe.object_score_logits]], device=self.device)
                features, pos_enc = self._encode_memory(
                    top, (side, side), logits, logit, from_points=True
                )
                memory.cond[frame] = {
                    "maskmem_features": features.to(torch.bfloat16),
                    "obj_ptr": torch.from_numpy(keyframe.obj_ptr)[None].to(self.device),
                }
            for frame, (neighbour, record) in request.tracked.items():
                output: Output = {"obj_ptr": torch.from_numpy(record.obj_ptr)[None].to(self.device)}
                if neighbour is not None:
                    logits = torch.from_numpy(record.logits)[None, None].to(self.device)
                    logit = torch.tensor([[record.object_score_logits]], device=self.device)
                    features, pos_enc = self._encode_memory(
                        self._top(neighbour), (side, side), logits, logit, from_points=False
                    )
                    output["maskmem_features"] = features.to(torch.bfloat16)
                memory.recent[frame] = output
            if pos_enc is None:
                raise ValueError(f"frame {request.frame_index} has no memory to attend to")
            gathered = gather_memory(
                sam,
                memory,
                pos_enc[-1][0:1],
                request.frame_index,
                request.num_frames,
                request.reverse,
                self.device,
            )
            attended = sam.memory_attention(
                curr=[self._top(request.current)],
                curr_pos=[model.top_position],
                memory=gathered.tokens,
                memory_pos=gathered.positions,
                num_obj_ptr_tokens=gathered.pointer_tokens,
            )
        pix_feat = attended.permute(1, 2, 0).reshape(sam.hidden_dim, side, side)
        result: np.ndarray = pix_feat.float().cpu().numpy()
        return result

    def _top(self, embedding: Any) -> torch.Tensor:
        """An embedding's top features in SAM2's flattened (HW, 1, C) form, on the device."""
        top = self._model.device_features(embedding)[0]
        # Contiguous in that layout, as SAM2 holds its features: kernels add up in its order.
        return top.flatten(2).permute(2, 0, 1).contiguous()

    def _track(
        self,
        requests: Sequence[StepRequest],
        features: Mapping[int, _Features],
        pairs: list[tuple[int, int]],
    ) -> dict[tuple[int, int], tuple[Output, torch.Tensor, float, TrackRecord]]:
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
        pred_masks = self._model.fill_holes(low_res)
        scores = score(ious, object_scores)
        maskmem = maskmem.to(torch.bfloat16)
        raw = low_res.float().cpu().numpy()
        pointers = obj_ptr.float().cpu().numpy()
        logit_values = object_scores.float().reshape(-1).cpu().tolist()
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
                TrackRecord(
                    raw[j, 0], pointers[j], float(logit_values[j]), requests[pair[0]].reverse
                ),
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
        tracked: Mapping[tuple[int, int], tuple[Output, torch.Tensor, float, TrackRecord]],
    ) -> ObjectMasks:
        state = request.state
        logits: list[torch.Tensor] = []
        scores: list[float] = []
        records: list[TrackRecord | None] = []
        for object_id in state.object_ids:
            if state.is_keyframe(object_id, request.frame_index):
                memory = state.objects[object_id]
                logits.append(memory.cond[request.frame_index]["pred_masks"])
                scores.append(memory.scores[request.frame_index])
                records.append(None)
            else:
                _, low_res, score, record = tracked[(index, object_id)]
                logits.append(low_res)
                scores.append(score)
                records.append(record)
        masks = self._model.to_source(torch.cat(logits), state.orig_hw)
        return {
            object_id: ObjectMask(mask, score, record)
            for object_id, mask, score, record in zip(
                state.object_ids, masks, scores, records, strict=True
            )
        }
