"""The SAM2 wrapper with real SAM2.1 tiny (random weights, 256 px, CPU float32) on frames
decoded from a generated video. A keyframe is decoded as SAM2's video predictor decodes a prompt;
tolerances: batched against one-at-a-time and the float16 cache round trip must keep mask IoU
>= 0.99 and the score within 1e-3; against SAM2's own predictor, not a pixel apart."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch", reason="the gpu extra is not installed: no torch")
pytest.importorskip("sam2", reason="the gpu extra is not installed: no sam2")

from roto_gpu.batcher import Batcher, Priority
from roto_gpu.model.embedding import Embedding
from roto_gpu.model.options import ModelLoadError, hydra_overrides
from roto_gpu.model.prompts import KeyframeRequest, KeyframeState
from tests.gpu.conftest import IMAGE_SIZE, SOURCE_HEIGHT, SOURCE_WIDTH, iou

pytestmark = pytest.mark.slow

MIN_IOU = 0.99
MAX_SCORE_DIFF = 1e-3


@pytest.fixture(scope="module")
def embeddings(model: Any, frames: list[np.ndarray]) -> list[Embedding]:
    return model.encode_images(frames[:2])


def click(embedding: Embedding, x: float, y: float) -> KeyframeRequest:
    return KeyframeRequest(embedding, points=np.array([[x, y]]), labels=np.array([1]))


def box(embedding: Embedding, x0: float, y0: float, x1: float, y1: float) -> KeyframeRequest:
    """A box is two points, its corners, labelled 2 and 3 (as SAM2 takes it)."""
    return KeyframeRequest(
        embedding, points=np.array([[x0, y0], [x1, y1]]), labels=np.array([2, 3])
    )


def mixed_requests(embeddings: list[Embedding]) -> list[KeyframeRequest]:
    """One click, two clicks, a box, and a click on the second frame: three decoder groups."""
    first, second = embeddings
    return [
        click(first, 100, 96),
        KeyframeRequest(first, points=np.array([[100, 96], [20, 20]]), labels=np.array([1, 0])),
        box(second, 40, 40, 220, 160),
        click(second, 250, 60),
    ]


def decode(model: Any, request: KeyframeRequest) -> Any:
    (result,) = model.decode_keyframes([request])
    return result


def test_mask_has_source_resolution_and_survives_coco_rle(
    model: Any, embeddings: list[Embedding]
) -> None:
    mask_utils = pytest.importorskip("pycocotools.mask", reason="pycocotools is not installed")
    prediction = decode(model, click(embeddings[0], 100, 96))
    assert prediction.mask.shape == (SOURCE_HEIGHT, SOURCE_WIDTH)
    assert prediction.mask.dtype == np.bool_
    # Neither empty nor full, or the comparisons in the other tests would prove nothing.
    assert 0.0 < prediction.mask.mean() < 1.0
    assert 0.0 <= prediction.state.score <= 1.0
    rle = mask_utils.encode(np.asfortranarray(prediction.mask.astype(np.uint8)))
    assert rle["size"] == [SOURCE_HEIGHT, SOURCE_WIDTH]
    decoded = mask_utils.decode(rle).astype(bool)
    assert np.array_equal(decoded, prediction.mask)


def test_same_prompt_twice_gives_identical_mask(model: Any, frames: list[np.ndarray]) -> None:
    first, again = model.encode_images([frames[0]]), model.encode_images([frames[0]])
    assert np.array_equal(first[0].image_embed, again[0].image_embed)
    a = decode(model, click(first[0], 150, 90))
    b = decode(model, click(again[0], 150, 90))
    assert np.array_equal(a.mask, b.mask)
    assert a.state.score == b.state.score
    assert np.array_equal(a.state.pred_masks, b.state.pred_masks)


def test_batched_encoding_equals_one_at_a_time(
    model: Any, frames: list[np.ndarray], embeddings: list[Embedding]
) -> None:
    alone = model.encode_images([frames[1]])[0]
    for batched, single in zip(embeddings[1].arrays, alone.arrays, strict=True):
        np.testing.assert_allclose(batched, single, rtol=0, atol=1e-4)


def test_batched_masks_equal_one_at_a_time(model: Any, embeddings: list[Embedding]) -> None:
    requests = mixed_requests(embeddings)
    batched = model.decode_keyframes(requests)
    assert len(batched) == len(requests)
    for request, together in zip(requests, batched, strict=True):
        alone = decode(model, request)
        assert together.mask.shape == alone.mask.shape == (SOURCE_HEIGHT, SOURCE_WIDTH)
        assert iou(together.mask, alone.mask) >= MIN_IOU
        assert abs(together.state.score - alone.state.score) < MAX_SCORE_DIFF


def sam2_first_prompt(model: Any, frames: list[np.ndarray], frame: int, **prompt: Any) -> Any:
    """SAM2's own video predictor on a fresh state over the same input tensors: its mask for a
    first prompt on ``frame``, and the output it keeps for the frame."""
    import tempfile
    from pathlib import Path

    import torch
    from PIL import Image

    sam = model.video_predictor
    with tempfile.TemporaryDirectory() as folder:
        for index, image in enumerate(frames):
            Image.fromarray(image).save(Path(folder) / f"{index:05d}.jpg")
        state = sam.init_state(folder)
    state["images"] = torch.stack([model._preprocess(image) for image in frames])
    state["cached_features"] = {}
    _, _, logits = sam.add_new_points_or_box(state, frame, 1, **prompt)
    kept = state["temp_output_dict_per_obj"][0]["cond_frame_outputs"][frame]
    return (logits[0, 0] > 0).numpy(), kept


def test_a_first_prompt_matches_sam2_video_predictor_exactly(
    model: Any, frames: list[np.ndarray], embeddings: list[Embedding]
) -> None:
    """The same arithmetic as SAM2's ``add_new_points_or_box`` on a frame never tracked: the
    same mask to the pixel and the same state (logits, object pointer, object score)."""
    cases = [
        ({"points": [[100, 96]], "labels": [1]}, click(embeddings[0], 100, 96)),
        (
            {"points": [[100, 96], [20, 20]], "labels": [1, 0]},
            KeyframeRequest(
                embeddings[0], points=np.array([[100, 96], [20, 20]]), labels=np.array([1, 0])
            ),
        ),
        ({"box": [40, 40, 220, 160]}, box(embeddings[0], 40, 40, 220, 160)),
    ]
    for prompt, request in cases:
        reference, kept = sam2_first_prompt(model, frames[:1], 0, **prompt)
        ours = decode(model, request)
        assert np.array_equal(ours.mask, reference), prompt
        assert np.array_equal(ours.state.pred_masks, kept["pred_masks"][0, 0].numpy())
        assert np.array_equal(ours.state.obj_ptr, kept["obj_ptr"][0].numpy())
        assert ours.state.object_score_logits == float(kept["object_score_logits"])


def test_a_stored_state_renders_the_mask_it_was_decoded_with(
    model: Any, embeddings: list[Embedding]
) -> None:
    result = decode(model, click(embeddings[0], 100, 96))
    restored = KeyframeState.from_bytes(result.state.to_bytes())
    (mask,) = model.render_masks([(restored, embeddings[0].orig_hw)])
    assert np.array_equal(mask, result.mask)
    assert restored.score == result.state.score


def test_an_imported_matte_becomes_the_mask_as_sam2_add_new_mask_makes_it(
    model: Any, frames: list[np.ndarray], embeddings: list[Embedding]
) -> None:
    import torch

    matte = np.zeros((SOURCE_HEIGHT, SOURCE_WIDTH), dtype=bool)
    matte[40:150, 60:200] = True
    ours = decode(model, KeyframeRequest(embeddings[0], matte=matte))
    sam = model.video_predictor
    import tempfile
    from pathlib import Path

    from PIL import Image

    with tempfile.TemporaryDirectory() as folder:
        Image.fromarray(frames[0]).save(Path(folder) / "00000.jpg")
        state = sam.init_state(folder)
    state["images"] = torch.stack([model._preprocess(frames[0])])
    state["cached_features"] = {}
    _, _, logits = sam.add_new_mask(state, 0, 1, matte)
    kept = state["temp_output_dict_per_obj"][0]["cond_frame_outputs"][0]
    assert np.array_equal(ours.mask, (logits[0, 0] > 0).numpy())
    assert np.array_equal(ours.state.pred_masks, kept["pred_masks"][0, 0].numpy())
    assert np.array_equal(ours.state.obj_ptr, kept["obj_ptr"][0].numpy())
    assert iou(ours.mask, matte) > 0.9


def test_cached_embedding_gives_same_mask(model: Any, embeddings: list[Embedding]) -> None:
    data = embeddings[0].to_bytes()
    assert len(data) < embeddings[0].nbytes // 2 + 1024
    restored = Embedding.from_bytes(data)
    for request in mixed_requests([embeddings[0], embeddings[0]]):
        fresh = decode(model, request)
        cached = decode(model, request._replace(embedding=restored))
        assert iou(fresh.mask, cached.mask) >= MIN_IOU
        assert abs(fresh.state.score - cached.state.score) < MAX_SCORE_DIFF


def test_previous_mask_logits_change_the_answer(model: Any, embeddings: list[Embedding]) -> None:
    side = model.low_res_size
    logits = np.full((side, side), -5.0, dtype=np.float32)
    logits[side // 4 : side // 2, side // 4 : side // 2] = 5.0
    request = click(embeddings[0], 100, 96)
    refined = decode(model, request._replace(prev_logits=logits))
    assert refined.mask.shape == (SOURCE_HEIGHT, SOURCE_WIDTH)
    assert not np.array_equal(refined.state.pred_masks, decode(model, request).state.pred_masks)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"labels": np.array([1, 1])}, "points must be finite"),
        ({"points": np.array([[np.nan, 3.0]])}, "points must be finite"),
        ({"labels": np.array([7])}, "labels must be"),
        ({"points": None, "labels": None}, "needs points"),
        ({"prev_logits": np.zeros((8, 8))}, "prev_logits must be"),
        ({"context": np.zeros((8, 8, 8))}, "context must be"),
        ({"points": None, "labels": None, "matte": np.zeros((4, 4), bool)}, "matte must be"),
    ],
)
def test_bad_request_raises_value_error_naming_the_field(
    model: Any, embeddings: list[Embedding], change: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        model.decode_keyframes([click(embeddings[0], 10, 10)._replace(**change)])


def test_embedding_of_another_size_is_refused(model: Any, embeddings: list[Embedding]) -> None:
    small = Embedding(
        image_embed=embeddings[0].image_embed[:, :8, :8],
        high_res_feats=embeddings[0].high_res_feats,
        orig_hw=embeddings[0].orig_hw,
    )
    with pytest.raises(ValueError, match="do not match"):
        model.decode_keyframes([click(small, 10, 10)])


def test_image_that_is_not_rgb_uint8_is_refused(model: Any) -> None:
    with pytest.raises(ValueError, match="uint8"):
        model.encode_images([np.zeros((64, 64, 3), dtype=np.float32)])
    with pytest.raises(ValueError, match="H x W x 3"):
        model.encode_images([np.zeros((64, 64), dtype=np.uint8)])


def test_image_size_sets_the_memory_attention_feature_sizes(model: Any) -> None:
    assert "++model.memory_attention.layer.self_attention.feat_sizes=[16,16]" in hydra_overrides(
        256
    )
    attention = model.video_predictor.memory_attention.layers[0]
    for rope in (attention.self_attn, attention.cross_attn_image):
        assert rope.freqs_cis.shape[0] == (IMAGE_SIZE // 16) ** 2
    with pytest.raises(ModelLoadError, match="multiple of 32"):
        hydra_overrides(250)


def test_info_says_random_weights(model: Any) -> None:
    info = model.info()
    assert info["weights"] == "random"
    assert info["checkpoint_sha256"] is None
    assert info["size"] == "tiny"
    assert info["image_size"] == IMAGE_SIZE
    assert (info["device"], info["dtype"], info["compiled"]) == ("cpu", "float32", False)
    assert info["model_id"] == "sam2.1-tiny-256-random0"


async def test_batcher_runs_encode_and_decode_on_the_model(
    model: Any, frames: list[np.ndarray], embeddings: list[Embedding]
) -> None:
    import asyncio

    batcher = Batcher(
        {"encode": model.encode_images, "keyframe": model.decode_keyframes},
        max_batch_size=4,
        max_wait_ms=50,
    )
    try:
        encoded = await asyncio.gather(
            *(batcher.submit("encode", f, priority=Priority.INTERACTIVE) for f in frames[:2])
        )
        for got, want in zip(encoded, embeddings, strict=True):
            np.testing.assert_allclose(got.image_embed, want.image_embed, rtol=0, atol=1e-4)
        broken = click(encoded[0], 10, 10)._replace(labels=np.array([7]))
        requests = [*mixed_requests(encoded), broken]
        answers = await asyncio.gather(
            *(batcher.submit("keyframe", r, timeout=60) for r in requests), return_exceptions=True
        )
        assert isinstance(answers[-1], ValueError)
        for request, answer in zip(requests[:-1], answers[:-1], strict=True):
            assert not isinstance(answer, BaseException)
            direct = decode(model, request)
            assert iou(answer.mask, direct.mask) >= MIN_IOU
    finally:
        await batcher.close()
    assert batcher.metrics.registry.get_sample_value("roto_batch_size_sum", {"kind": "encode"}) == 2
